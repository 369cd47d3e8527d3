"""Who is where in the cluster: names held on leases, room membership, and dead nodes cleared away.

A name is held by a session (``sid``) of a node. The hold is a lease: good
while the node's own ``alive`` key says so, which its heartbeat renews (one
key a node, not one a name). The key holds when the lease ends, in ms of
the presence's clock (``time.time`` unless a test gives another, so nodes
tolerate clocks a few seconds apart), and lives that long in Redis too, so
a dead node's key goes by itself (a bare "1", as a test may set, is alive
while the key lives). A claim of a name whose node is dead succeeds;
a claim with the holder's resume token takes the name over from a live
node (a client back on another node before its old one noticed). Room
membership is a hash per room, nick key -> sid, so a session that was
replaced never removes its successor. An account's devices hold its name
together (the hash's ``devices``), and a room lists each of their sessions
under the one name. Every change is one Lua script (``presencescripts.py``)
or one pipeline: one round trip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from chatserver.backends.records import MAX_DEVICES, Gone, Holder, Person, TooManyDevices
from chatserver.cluster import keys
from chatserver.cluster import presencescripts as lua
from chatserver.cluster.link import Link
from common.nicks import nick_key
from common.rooms import room_key


def _person(h: dict[str, str]) -> Person:
    return Person(
        h.get("nick", ""),
        h.get("away", ""),
        h.get("op") == "1",
        h.get("host") == "1",
        h.get("room", ""),
        h.get("address", ""),
        h.get("token", ""),
        h.get("account", ""),
    )


def _room_keys(room: str) -> list[str]:
    """A room's membership keys: who (nick key -> sid) and in which order they came."""
    return [keys.members(room_key(room)), keys.order(room_key(room))]


def _live(lease: str | None, now_ms: int) -> bool:
    """Whether an ``alive`` key's value is a lease still running at ``now_ms``."""
    return lease is not None and (lease == "1" or int(lease) > now_ms)


class Presence:
    """``ports.Presence`` in Redis: each change one script or one pipeline."""

    def __init__(self, link: Link, node: str, lease: float, clock: Callable[[], float] = time.time) -> None:
        self._link = link
        self._node = node
        self._lease_ms = int(lease * 1000)
        self._clock = clock
        r = link.redis
        self._claim, self._release = r.register_script(lua.CLAIM), r.register_script(lua.RELEASE)
        self._update, self._leave = r.register_script(lua.UPDATE), r.register_script(lua.LEAVE)
        self._first, self._join = r.register_script(lua.FIRST), r.register_script(lua.JOIN)
        self._holder, self._named = r.register_script(lua.HOLDER), r.register_script(lua.NAMED)

    # -- this node's lease --
    def heartbeat(self) -> str | None:
        """Renew this node's lease; returns the generation Redis holds (another than
        this node knew, or None: Redis lost its data)."""

        def beat(r) -> str | None:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            p.set(keys.alive(self._node), str(self._now() + self._lease_ms), px=self._lease_ms)
            p.sadd(keys.NODES, self._node)
            p.get(keys.GENERATION)
            return p.execute()[-1]

        return self._link.call(beat)  # type: ignore[return-value]

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def retire(self) -> None:
        """This node stops: its lease goes now, and another node clears its
        sessions away (``reap``) as it would a dead node's."""
        self._link.call(lambda r: r.delete(keys.alive(self._node)))

    # -- names --
    def claim(
        self, nick: str, sid: str, token: str, *, replacing: str = "", takeover: str = "", p: Person | None = None
    ) -> tuple[str, str] | None:
        """Hold ``nick`` for session ``sid``; None if a live session holds it (not
        ``replacing``, and ``takeover`` is not its token); else the previous
        holder's (node, sid), ("", "") if there was none."""
        p = p or Person(nick)
        args = [self._node, sid, token, replacing, takeover or "", nick, nick_key(nick)]
        args += [p.away, "1" if p.op else "0", "1" if p.host else "0", p.address, p.room, self._now()]
        args += [p.account, nick_key(p.account) if p.account else "", MAX_DEVICES]
        got = self._link.call(lambda r: self._claim(keys=[keys.nick(nick_key(nick))], args=args))
        if got[0] == 2:  # type: ignore[index]
            raise TooManyDevices(nick)
        if not got[0]:  # type: ignore[index]
            return None
        return got[1], got[2]  # type: ignore[index]

    def release(self, nick: str, sid: str) -> None:
        key = nick_key(nick)
        self._link.call(lambda r: self._release(keys=[keys.nick(key)], args=[sid, self._node, key, self._now()]))

    def update(self, nick: str, sid: str, **fields: str) -> None:
        args: list[str] = [sid]
        if "account" in fields:  # (compared by its key: an account's devices share the name)
            fields = {**fields, "akey": nick_key(fields["account"]) if fields["account"] else ""}
        for name, value in fields.items():
            args += [name, value]
        self._link.call(lambda r: self._update(keys=[keys.nick(nick_key(nick))], args=args))

    def suggest(self, nick: str) -> str:
        base = nick[:29]
        candidates = [f"{base}{n}" for n in range(2, 40)]

        def taken(r) -> list[int]:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for c in candidates:
                p.exists(keys.nick(nick_key(c)))
            return p.execute()

        found = self._link.call(taken)
        return next((c for c, t in zip(candidates, found, strict=True) if not t), base + "_")  # type: ignore[arg-type]

    def holder(self, nick: str) -> Holder | None:
        """Who holds ``nick`` (None if nobody, or only a dead node's session): one script."""
        got = self._link.call(lambda r: self._holder(keys=[keys.nick(nick_key(nick))], args=[self._now()]))
        if not got:
            return None
        flat, live = got  # type: ignore[misc]
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        held = json.loads(h.get("devices") or "{}")
        devices = tuple((held[sid][0], sid) for sid in held if sid in set(live))
        return Holder(_person(h), h["node"], h["sid"], devices)

    def named(self, account: str) -> str | None:
        """The name ``account``'s person goes by on a live node (None: not connected): one script."""
        args = [nick_key(account), self._now()]
        return self._link.call(lambda r: self._named(keys=[keys.NAMED], args=args))  # type: ignore[return-value]

    def _people(self, nick_keys: list[str]) -> list[Person]:
        """The persons holding these nick keys on live nodes."""
        if not nick_keys:
            return []

        def read(r) -> list[dict[str, str]]:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for k in nick_keys:
                p.hgetall(keys.nick(k))
            return p.execute()

        found = [h for h in self._link.call(read) if h]  # type: ignore[union-attr]
        alive = self._alive({h["node"] for h in found})
        return [_person(h) for h in found if h["node"] in alive]

    def _alive(self, nodes: set[str]) -> set[str]:
        ordered = sorted(nodes)
        if not ordered:
            return set()
        flags = self._link.call(lambda r: r.mget([keys.alive(n) for n in ordered]))
        now = self._now()
        return {n for n, f in zip(ordered, flags, strict=True) if _live(f, now)}  # type: ignore[arg-type]

    def everyone(self) -> list[Person]:
        nodes = self._link.call(lambda r: r.smembers(keys.NODES))
        alive = sorted(self._alive(set(nodes)))  # type: ignore[arg-type]

        def read(r) -> list[set[str]]:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for n in alive:
                p.smembers(keys.people(n))
            return p.execute()

        held = [k for found in self._link.call(read) for k in found]  # type: ignore[union-attr]
        return self._people(list(dict.fromkeys(held)))  # (a name held on several nodes: once)

    # -- rooms --
    def joined(self, room: str, nick: str, sid: str, rooms: list[str]) -> bool:
        """``nick`` (session ``sid``) is in ``room`` now; ``rooms`` are all of its rooms (kept with
        the session: the named one's, or a device's). Whether another of its sessions was in the
        room already (read in the same script: no ``others_in`` before it)."""
        key = nick_key(nick)
        args = [key, sid, self._now(), json.dumps(rooms), room]
        return self._link.call(lambda r: self._join(keys=[*_room_keys(room), keys.nick(key)], args=args)) == 1

    def left(self, room: str, nick: str, sid: str, rooms: list[str] | None) -> bool:
        """``nick`` left ``room``; ``rooms`` are those it is still in (None: it is leaving altogether).
        Whether the name left the room with it (the last of its sessions there: of several leaving
        at once, on any nodes, exactly one is)."""
        key = nick_key(nick)
        where, args = _room_keys(room), [key, sid]
        if rooms is not None:  # (and its rooms kept, in the same script)
            where, args = [*where, keys.nick(key)], [*args, json.dumps(rooms)]
        return self._link.call(lambda r: self._leave(keys=where, args=args)) == 0

    def others_in(self, room: str, nick: str, sid: str) -> bool:
        """Whether a session of ``nick``'s other than ``sid`` is in ``room`` (an account's other device)."""
        held = self._link.call(lambda r: r.hget(keys.members(room_key(room)), nick_key(nick)))
        return any(s != sid for s in (held or "").split())  # type: ignore[union-attr]

    def members(self, room: str) -> list[Person]:
        held = self._link.call(lambda r: r.hgetall(keys.members(room_key(room))))
        people = self._people(list(held))  # type: ignore[arg-type]
        return sorted(people, key=lambda p: nick_key(p.nick))

    def first(self, room: str, limit: int) -> tuple[list[Person], int]:
        """The first ``limit`` who came into ``room`` and how many are in it: one script, one
        round trip, its cost bounded by ``limit`` whatever the room's size."""
        got: list[str] = self._link.call(
            lambda r: self._first(keys=[keys.order(room_key(room))], args=[max(0, limit), self._now()])
        )  # type: ignore[assignment]
        count, flat = int(got[0]), got[1:]
        fields = ("nick", "away", "op", "host", "room", "address", "token")
        people = [_person(dict(zip(fields, flat[i : i + 7], strict=True))) for i in range(0, len(flat), 7)]
        return people, count

    def counts(self, room_keys: list[str]) -> list[int]:
        """How many are in each room (live nodes' sessions and, for a few seconds, a dead one's)."""

        def read(r) -> list[int]:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for k in room_keys:
                p.hlen(keys.members(k))
            return p.execute()

        return self._link.call(read)  # type: ignore[return-value]

    # -- dead nodes --
    def dead_nodes(self) -> list[str]:
        nodes = sorted(self._link.call(lambda r: r.smembers(keys.NODES)))  # type: ignore[arg-type]
        others = {n for n in nodes if n != self._node}
        return sorted(others - self._alive(others))

    def reap(self, node: str) -> list[Gone] | None:
        """Clear away a dead node's sessions (None if another node is at it): their
        names free, their memberships gone; returns them, for the leave notices."""
        if not self._link.call(lambda r: r.set(keys.reaping(node), self._node, nx=True, px=30_000)):
            return None
        held = sorted(self._link.call(lambda r: r.smembers(keys.people(node))))  # type: ignore[arg-type]
        gone = []
        for k in held:
            h: dict[str, str] = self._link.call(lambda r, k=k: r.hgetall(keys.nick(k)))  # type: ignore[assignment]
            dead = _sessions_on(node, h)
            if dead:  # (else taken over by a live node meanwhile)
                left = self._clear(node, k, dead)
                if left[0] or not left[1]:  # (a room left, or the person gone)
                    gone.append(Gone(h["nick"], left[0], stays=left[1]))
        self._link.call(
            lambda r: (
                r.pipeline(transaction=False)
                .delete(keys.people(node), keys.inbox(node))
                .srem(keys.NODES, node)
                .execute()
            )
        )
        return gone

    def _clear(self, node: str, k: str, dead: dict[str, list[str]]) -> tuple[list[str], bool]:
        """Dead node ``node``'s sessions ``dead`` (sid -> its rooms) of the name ``k`` out of their
        rooms and the name, in one round trip: the rooms none of the name's sessions is in any
        more (each once), and whether a live device still holds the name."""
        order = [(sid, room) for sid, rooms in dead.items() for room in rooms]

        def clear(r) -> list:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            for sid, room in order:
                self._leave(keys=_room_keys(room), args=[k, sid], client=p)
            for sid in dead:
                self._release(keys=[keys.nick(k)], args=[sid, node, k, self._now()], client=p)
            p.exists(keys.nick(k))
            return p.execute()

        got = self._link.call(clear)
        emptied = {room_key(room): room for (_, room), n in zip(order, got, strict=False) if n == 0}  # type: ignore[arg-type]
        return list(emptied.values()), bool(got[-1])  # type: ignore[index]


def _sessions_on(node: str, h: dict[str, str]) -> dict[str, list[str]]:
    """The sessions of the name hash ``h`` on ``node`` (the one named for it, its devices), each
    with its rooms."""
    found = {}
    if h.get("node") == node:
        found[h["sid"]] = json.loads(h.get("rooms") or "[]")
    for sid, d in json.loads(h.get("devices") or "{}").items():
        if d[0] == node:
            found[sid] = json.loads(d[2]) if len(d) > 2 else []
    return found
