"""Room modes: a room's own operators and voiced people, and its rules (topic, moderated, invite-only, key, limit).

With ``--room-operators``, a room made by a ``/join`` gets its maker as its
first room operator (the lobby has none: everyone is put there); without
it, only server operators change modes and name room operators. A room operator (or a server
operator) may change the room's modes; the rules enforce them for every
way in, terminal, page, nc and IRC alike:

- ``t``: only room operators set the topic;
- ``m``: only room operators and voiced people (``v``) speak in it;
- ``i``: only those invited (``Invite``) join it;
- ``k KEY``: only those who give the key join it;
- ``l N``: at most N people join it;
- ``s``: it is not listed to those outside it;
- ``b MASK``: whoever matches ``NICK!USER@HOST`` does not join it (the name and the address are
  matched, ``*`` and ``?`` as wildcards; the user part is not: lanchat has none);
- ``n`` is always on: only members speak in a room.

The state is kept in memory, by this server (``RoomModes``, one per
server, on ``Sanctions.rooms``), and bounded: a room that empties is
started afresh by its next maker. It is not shared with a cluster's other
nodes (docs/irc.md says so): on another node the room has no modes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from common.nicks import nick_key
from common.rooms import room_key

#: Rooms whose modes are kept at once, at most (the least recently made go first).
MAX_ROOMS = 10_000
#: Invitations kept for one room, at most.
MAX_INVITES = 100
#: Bans kept for one room, at most.
MAX_BANS = 100
#: The flags a room may have (``n``, on when a room is made: only its members speak in it; ``outsiders.py``).
FLAGS = "imnst"
#: What each flag means, for the notices terminal users read.
MEANING = {
    "t": "only its operators set the topic",
    "m": "only its operators and voiced people speak",
    "i": "only those invited join",
    "s": "not listed to those outside it",
    "n": "only those in it speak in it",
    "k": "a key is needed to join",
    "l": "the number of people is limited",
    "o": "a room operator",
    "v": "may speak when the room is moderated",
    "b": "those who match do not join",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Ban:
    """One of a room's bans: ``NICK!USER@HOST`` (``ban_mask``), who set it and when."""

    mask: str
    by: str
    at: float

    def matches(self, nick: str, address: str) -> bool:
        name, _, rest = self.mask.partition("!")
        host = rest.partition("@")[2]
        if not fnmatch.fnmatchcase(nick.casefold(), name.casefold()):
            return False
        return host == "*" or fnmatch.fnmatchcase(address.casefold(), host.casefold())


def ban_mask(text: str) -> str | None:
    """``text`` as a whole mask (``bar`` is ``bar!*@*``, ``*!*@10.0.0.7`` stays), or None if it is not one."""
    text = text.strip()
    if not text or len(text) > 200 or not text.isprintable() or any(ch in text for ch in " ,"):
        return None
    name, bang, rest = text.partition("!")
    user, at, host = rest.partition("@") if bang else ("*", "@", "*")
    if not bang and "@" in name:
        name, _, host = name.partition("@")
    if not at:
        user, host = rest or "*", "*"
    return f"{name or '*'}!{user or '*'}@{host or '*'}"


@dataclasses.dataclass
class RoomState:
    """One room's modes (changed under ``RoomModes``' lock)."""

    created: float
    ops: set[str] = dataclasses.field(default_factory=set)  # nick_keys
    voiced: set[str] = dataclasses.field(default_factory=set)
    flags: set[str] = dataclasses.field(default_factory=lambda: {"n"})
    key: str = ""
    limit: int = 0
    invited: set[str] = dataclasses.field(default_factory=set)
    bans: list[Ban] = dataclasses.field(default_factory=list)  # (at most ``MAX_BANS``)
    #: Who set the room's topic and when (IRC's ``333``), if it was set on this server since the room was made.
    topic_by: str = ""
    topic_at: float = 0.0

    def banned(self, nick: str, address: str) -> bool:
        """Does someone of this name, from this address, match one of the room's bans?"""
        return any(ban.matches(nick, address) for ban in self.bans)

    def is_op(self, nick: str) -> bool:
        return nick_key(nick) in self.ops

    def voice(self, nick: str) -> bool:
        return nick_key(nick) in self.voiced

    def may_speak(self, nick: str) -> bool:
        return "m" not in self.flags or self.is_op(nick) or self.voice(nick)

    def shown(self) -> tuple[str, list[str]]:
        """The modes as IRC says them: ``+ntk``, and the key and limit."""
        modes, args = "+" + "".join(sorted(self.flags)), []
        if self.key:
            modes += "k"
            args.append(self.key)
        if self.limit:
            modes += "l"
            args.append(str(self.limit))
        return modes, args


class RoomModes:
    """Every room's modes on this server; safe to use from any thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self._rooms: OrderedDict[str, RoomState] = OrderedDict()

    def get(self, room: str) -> RoomState | None:
        # No lock: every message asks, from every reader thread; one dict lookup is atomic.
        return self._rooms.get(room_key(room))

    def made(self, room: str, maker: str) -> RoomState:
        """``room`` was just made by ``maker``: its modes afresh, ``maker`` its operator."""
        state = RoomState(created=self.clock(), ops={nick_key(maker)} if maker else set())
        with self.lock:
            key = room_key(room)
            self._rooms.pop(key, None)
            self._rooms[key] = state
            while len(self._rooms) > MAX_ROOMS:
                self._rooms.popitem(last=False)
        return state

    def forget(self, room: str) -> None:
        with self.lock:
            self._rooms.pop(room_key(room), None)

    def renamed(self, old: str, new: str) -> None:
        """Someone's rights and invitations follow them to a new name."""
        was, now = nick_key(old), nick_key(new)
        if was == now:
            return
        with self.lock:
            for state in self._rooms.values():
                for keys in (state.ops, state.voiced, state.invited):
                    if was in keys:
                        keys.discard(was)
                        keys.add(now)
