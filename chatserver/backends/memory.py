"""Moderation, the resume secret and presence kept in this process only (``--store memory``, tests).

Each is the memory implementation of its interface in ``ports.py``; nothing
here outlives the process. ``MemoryPresence`` keeps names, rooms and node
leases as the cluster's Redis presence does, with time read from an
injected clock, so one node's hub and the contract suite can use it alike.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable

from chatserver.backends.ports import Backends
from chatserver.backends.records import (
    MAX_DEVICES,
    Gone,
    Holder,
    Person,
    StoredGrant,
    StoredSanction,
    TooManyDevices,
    same_account,
)
from common.nicks import nick_key
from common.rooms import room_key


class MemoryModeration:
    """``ports.ModerationStore`` in a dict."""

    def __init__(self) -> None:
        self._sanctions: dict[tuple[str, str], StoredSanction] = {}
        self._grants: dict[str, StoredGrant] = {}

    def sanctions(self) -> list[StoredSanction]:
        return list(self._sanctions.values())

    def save_sanction(self, sanction: StoredSanction) -> None:
        self._sanctions[sanction.kind, nick_key(sanction.nick)] = sanction

    def drop_sanction(self, kind: str, nick: str) -> None:
        self._sanctions.pop((kind, nick_key(nick)), None)

    def grants(self) -> list[StoredGrant]:
        return list(self._grants.values())

    def save_grant(self, grant: StoredGrant) -> None:
        self._grants[nick_key(grant.nick)] = grant

    def drop_grant(self, nick: str) -> None:
        self._grants.pop(nick_key(nick), None)


class MemorySecret:
    """``ports.SecretStore``: made once per process (tokens do not outlive a restart)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def secret(self) -> bytes:
        return self._secret


@dataclasses.dataclass
class _Held:
    person: Person
    node: str
    sid: str
    rooms: list[str] = dataclasses.field(default_factory=list)
    #: The account's other sessions holding the name: sid -> (node, resume token).
    devices: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    #: Those devices' rooms (``rooms`` is the named session's): a dead node's are left.
    rooms_of: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def sessions_on(self, node: str) -> dict[str, list[str]]:
        """The sessions holding the name on ``node``, each with its rooms."""
        found = {self.sid: self.rooms} if self.node == node else {}
        return found | {s: self.rooms_of.get(s, []) for s, d in self.devices.items() if d[0] == node}

    def drop_device(self, sid: str) -> None:
        self.devices.pop(sid, None)
        self.rooms_of.pop(sid, None)

    def promote(self, alive: Callable[[str], bool]) -> bool:
        """The session named for the name is gone: a live device is named for it now (False:
        none is; the name is free)."""
        live = [(s, d) for s, d in self.devices.items() if alive(d[0])]
        if not live:
            return False
        (heir, (node, token)), self.devices = live[0], dict(live[1:])  # (another device holds it now)
        self.sid, self.node, self.rooms = heir, node, self.rooms_of.pop(heir, [])
        self.rooms_of = {s: r for s, r in self.rooms_of.items() if s in self.devices}
        self.person = dataclasses.replace(self.person, token=token)
        return True


class Leases:
    """Node leases shared by the ``MemoryPresence`` of each node (one process, several nodes)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.until: dict[str, float] = {}  # node -> when its lease ends
        self.names: dict[str, _Held] = {}  # nick key -> holder
        self.rooms: dict[str, dict[str, list[str]]] = {}  # room key -> nick key -> its sessions' sids there
        self.reaping: set[str] = set()
        self.generation = secrets.token_hex(8)

    def alive(self, node: str) -> bool:
        return self.until.get(node, 0.0) > self.clock()


class MemoryPresence:
    """``ports.Presence`` for node ``node``, over ``leases`` (shared by the nodes of one process)."""

    def __init__(self, leases: Leases, node: str, lease: float) -> None:
        self._at = leases
        self._node = node
        self._lease = lease

    def heartbeat(self) -> str | None:
        with self._at.lock:
            self._at.until[self._node] = self._at.clock() + self._lease
            return self._at.generation

    def retire(self) -> None:
        with self._at.lock:
            self._at.until[self._node] = 0.0

    def claim(
        self, nick: str, sid: str, token: str, *, replacing: str = "", takeover: str = "", p: Person | None = None
    ) -> tuple[str, str] | None:
        p = dataclasses.replace(p or Person(nick), nick=nick, token=token)
        with self._at.lock:
            cur = self._at.names.get(nick_key(nick))
            rooms: list[str] = []
            if cur is not None:
                mine = cur.sid == replacing and bool(replacing)
                taken_over = bool(takeover) and cur.person.token == takeover
                if self._at.alive(cur.node) and not mine and not taken_over:
                    return self._device(cur, p, sid, takeover)
                rooms = cur.rooms if mine else []
            kept = cur.devices if cur is not None and self._at.alive(cur.node) else {}  # (mine or taken over)
            self._at.names[nick_key(nick)] = _Held(p, self._node, sid, rooms, dict(kept))
            return (cur.node, cur.sid) if cur is not None else ("", "")

    def _device(self, cur: _Held, p: Person, sid: str, takeover: str) -> tuple[str, str] | None:
        """A claim of a name a live session holds: one more device of its account (the one
        whose token is ``takeover`` replaced), None if not its account (lock held)."""
        if not same_account(p.account, cur.person.account):
            return None
        cur.devices = {s: d for s, d in cur.devices.items() if self._at.alive(d[0])}
        old = next((s for s, d in cur.devices.items() if takeover and d[1] == takeover), "")
        if old:
            node = cur.devices.pop(old)[0]
        elif 1 + len(cur.devices) >= MAX_DEVICES:
            raise TooManyDevices(p.nick)
        cur.devices[sid] = (self._node, p.token)
        return (node, old) if old else ("", "")

    def release(self, nick: str, sid: str) -> None:
        with self._at.lock:
            cur = self._at.names.get(nick_key(nick))
            if cur is None:
                return
            if cur.sid != sid:
                cur.drop_device(sid)
            elif not cur.promote(self._at.alive):
                del self._at.names[nick_key(nick)]

    def update(self, nick: str, sid: str, **fields: str) -> None:
        changes: dict[str, object] = {k: v for k, v in fields.items() if k in ("away", "token", "room", "account")}
        if "op" in fields:
            changes["op"] = fields["op"] == "1"
        with self._at.lock:
            cur = self._at.names.get(nick_key(nick))
            if cur is not None and cur.sid == sid:
                cur.person = dataclasses.replace(cur.person, **changes)  # type: ignore[arg-type]

    def suggest(self, nick: str) -> str:
        base = nick[:29]
        with self._at.lock:
            return next(
                (c for c in (f"{base}{n}" for n in range(2, 40)) if nick_key(c) not in self._at.names), base + "_"
            )

    def holder(self, nick: str) -> Holder | None:
        with self._at.lock:
            cur = self._at.names.get(nick_key(nick))
            if cur is None or not self._at.alive(cur.node):
                return None
            devices = tuple((d[0], s) for s, d in cur.devices.items() if self._at.alive(d[0]))
            return Holder(cur.person, cur.node, cur.sid, devices)

    def named(self, account: str) -> str | None:
        with self._at.lock:  # (one process's nodes: a look through its names)
            found = (h for h in self._at.names.values() if same_account(account, h.person.account))
            return next((h.person.nick for h in found if self._at.alive(h.node)), None)

    def everyone(self) -> list[Person]:
        with self._at.lock:
            return [h.person for h in self._at.names.values() if self._at.alive(h.node)]

    def joined(self, room: str, nick: str, sid: str, rooms: list[str]) -> bool:
        with self._at.lock:
            sids = self._at.rooms.setdefault(room_key(room), {}).setdefault(nick_key(nick), [])
            others = any(s != sid for s in sids)
            if sid not in sids:
                sids.append(sid)
            self._rooms_of(nick, sid, rooms)
            cur = self._at.names.get(nick_key(nick))
            if cur is not None and cur.sid == sid:
                cur.person = dataclasses.replace(cur.person, room=room)
            return others

    def left(self, room: str, nick: str, sid: str, rooms: list[str] | None) -> bool:
        with self._at.lock:
            last = self._leave(room_key(room), nick_key(nick), sid) == 0
            if rooms is not None:
                self._rooms_of(nick, sid, rooms)
            return last

    def _rooms_of(self, nick: str, sid: str, rooms: list[str]) -> None:
        """Session ``sid`` of ``nick`` is in ``rooms`` now (lock held)."""
        cur = self._at.names.get(nick_key(nick))
        if cur is not None and cur.sid == sid:
            cur.rooms = list(rooms)
        elif cur is not None and sid in cur.devices:
            cur.rooms_of[sid] = list(rooms)

    def members(self, room: str) -> list[Person]:
        with self._at.lock:
            found = []
            for key, sids in self._at.rooms.get(room_key(room), {}).items():
                cur = self._at.names.get(key)
                if cur is not None and self._held(cur, sids):
                    found.append(cur.person)
        return sorted(found, key=lambda p: nick_key(p.nick))

    def first(self, room: str, limit: int) -> tuple[list[Person], int]:
        with self._at.lock:
            here = self._at.rooms.get(room_key(room), {})  # (in the order they came: a dict keeps it)
            found: list[Person] = []
            for key, sids in here.items():
                if len(found) >= limit:
                    break
                cur = self._at.names.get(key)
                if cur is not None and self._held(cur, sids):
                    found.append(cur.person)
            return found, len(here)

    def _held(self, cur: _Held, sids: list[str]) -> bool:
        """Whether one of ``sids`` is a live session holding ``cur``'s name (lock held)."""
        return self._at.alive(cur.node) and any(s == cur.sid or s in cur.devices for s in sids)

    def _leave(self, room: str, key: str, sid: str) -> int:
        """Session ``sid`` of the name ``key`` is out of room ``room`` (keys; lock held): how many
        of the name's sessions are still in it, -1 if that one was not."""
        here = self._at.rooms.get(room, {})
        sids = here.get(key, [])
        if sid not in sids:
            return -1
        sids.remove(sid)
        if not sids:
            del here[key]
        return len(sids)

    def others_in(self, room: str, nick: str, sid: str) -> bool:
        with self._at.lock:
            return any(s != sid for s in self._at.rooms.get(room_key(room), {}).get(nick_key(nick), ()))

    def counts(self, room_keys: list[str]) -> list[int]:
        with self._at.lock:
            return [len(self._at.rooms.get(k, {})) for k in room_keys]

    def dead_nodes(self) -> list[str]:
        with self._at.lock:
            return sorted(n for n in self._at.until if n != self._node and not self._at.alive(n))

    def reap(self, node: str) -> list[Gone] | None:
        with self._at.lock:
            if node in self._at.reaping:
                return None
            self._at.reaping.add(node)
            gone = []
            for key, cur in sorted(self._at.names.items()):
                dead = cur.sessions_on(node)
                emptied: dict[str, str] = {}
                for s, rooms in dead.items():
                    emptied |= {room_key(r): r for r in rooms if self._leave(room_key(r), key, s) == 0}
                    if s != cur.sid:
                        cur.drop_device(s)
                stays = cur.node != node or cur.promote(self._at.alive)
                if not stays:
                    del self._at.names[key]
                if dead and (emptied or not stays):
                    gone.append(Gone(cur.person.nick, list(emptied.values()), stays=stays))
            self._at.until.pop(node, None)
            self._at.reaping.discard(node)
            return gone


def memory_backends() -> Backends:
    """Nothing kept beyond the process: the hub's own memory broker, moderation and a secret here."""
    return Backends(None, MemoryModeration(), MemorySecret())
