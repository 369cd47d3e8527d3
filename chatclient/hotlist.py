"""The rooms we are in but not looking at: what came there unseen, and the hotlist that counts it.

The terminal client shows one room, the focused one; a message of another
room we are in waits here, counted, until we switch to that room
(``take``), weechat-style: the toolbar reads ``#dev(3) #ops(1!)``, ``!``
marking a room where someone mentioned us. Not thread-safe: the session
calls it under its focus lock.
"""

from __future__ import annotations

import collections
import dataclasses

from common import messages as m
from common.rooms import room_key

#: Unseen lines kept per room; older ones are only counted.
KEEP = 1000


@dataclasses.dataclass
class _Unseen:
    name: str
    lines: collections.deque[m.Message] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=KEEP))
    count: int = 0  # messages (not notices) not seen
    mentioned: bool = False
    since: int = 0  # when activity began here (for Alt+A: the oldest first)
    read_to: float = 0.0  # the account's read marker here (another device read up to it)


@dataclasses.dataclass(frozen=True)
class Taken:
    """What a switch to a room shows: how many messages were new there, the
    lines to print (messages and notices, oldest first), and how many older
    ones no longer kept."""

    room: str
    count: int
    lines: list[m.Message]
    dropped: int


class Hotlist:
    def __init__(self) -> None:
        self._rooms: dict[str, _Unseen] = {}  # room key -> unseen there
        self._clock = 0  # counts additions: orders activity

    def add(self, room: str, msg: m.Message, *, mentioned: bool = False) -> None:
        """``msg`` of ``room`` was not shown; a mention marks the room."""
        key = room_key(room)
        unseen = self._rooms.get(key)
        if unseen is None:
            unseen = self._rooms[key] = _Unseen(room)
        self._clock += 1
        if isinstance(msg, m.ChatMessage):
            if not unseen.count:
                unseen.since = self._clock
            unseen.count += 1
        unseen.mentioned = unseen.mentioned or mentioned
        unseen.lines.append(msg)

    def take(self, room: str) -> Taken:
        """Everything unseen in ``room``, which is now seen."""
        unseen = self._rooms.pop(room_key(room), None)
        if unseen is None:
            return Taken(room, 0, [], 0)
        lines = list(unseen.lines)
        kept = sum(isinstance(x, m.ChatMessage) for x in lines)
        return Taken(room, unseen.count, lines, unseen.count - kept)

    def read(self, room: str, ts: float) -> bool:
        """Another device of our account read ``room`` up to time ``ts`` (its read marker): what
        came before no longer counts as new (it is still shown on switching). True if a count fell."""
        unseen = self._rooms.get(room_key(room))
        if unseen is None or ts <= unseen.read_to:
            return False
        newly = sum(isinstance(x, m.ChatMessage) and unseen.read_to < x.ts <= ts for x in unseen.lines)
        unseen.read_to = ts
        unseen.count = max(0, unseen.count - newly)
        unseen.mentioned = unseen.mentioned and unseen.count > 0
        return newly > 0

    def drop(self, room: str) -> None:
        """We left ``room``: its unseen lines no longer matter."""
        self._rooms.pop(room_key(room), None)

    def next_active(self) -> str | None:
        """Where Alt+A goes: a room with a mention first, then the one whose activity is oldest."""
        active = [u for u in self._rooms.values() if u.count]
        if not active:
            return None
        return min(active, key=lambda u: (not u.mentioned, u.since)).name

    def text(self, order: list[str]) -> str:
        """The hotlist, rooms in ``order`` (joining order): ``#dev(3) #ops(1!)``."""
        parts = []
        for room in order:
            unseen = self._rooms.get(room_key(room))
            if unseen is not None and unseen.count:
                parts.append(f"{unseen.name}({unseen.count}{'!' if unseen.mentioned else ''})")
        return " ".join(parts)
