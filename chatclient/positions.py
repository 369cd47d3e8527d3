"""Where the client is in each room's numbering: the last ``seq`` seen, per room and epoch.

Sequence numbers mean something only within one room and one epoch: a room
made anew (after a server restart, or after an empty room was forgotten)
numbers from 1 again under a new epoch. So the client keeps, per room, the
epoch it last knew there and the highest ``seq`` it saw in that epoch, from a
``message`` or from an ``accepted`` (both name their room): a message or a
late acknowledgement of another room never moves this room's position. A
reconnect asks to resume from exactly that position, and the history a room
replays on joining is shown only from there on: what is already on the
screen (coming back to #lobby after /part) is not shown again.
"""

from __future__ import annotations

from common.rooms import room_key


class Positions:
    """Used by the receiver thread only."""

    def __init__(self) -> None:
        #: room key -> (epoch, last seq shown, the room's seq when we last joined it)
        self._rooms: dict[str, tuple[str, int | None, int]] = {}

    def entered(self, room: str, epoch: str, seq: int = 0) -> None:
        """We are in ``room`` (welcome, joined), whose numbering is ``epoch`` and
        whose last message was ``seq``: what follows is news, what came before
        is history (shown only where not shown yet)."""
        known = self._rooms.get(room_key(room))
        if known is None or known[0] != epoch:  # new to us, or renumbered: nothing seen in it yet
            self._rooms[room_key(room)] = (epoch, None, seq)
        else:
            self._rooms[room_key(room)] = (epoch, known[1], max(seq, known[2]))

    def saw(self, room: str, seq: int) -> None:
        """A message numbered ``seq`` in ``room`` (ours or another's) reached us."""
        known = self._rooms.get(room_key(room))
        if known is None:  # a room we were never told the numbering of
            return
        epoch, last, joined = known
        if last is None or seq > last:
            self._rooms[room_key(room)] = (epoch, seq, joined)

    def seen(self, room: str, seq: int) -> bool:
        """Whether message ``seq`` of ``room``, in the epoch we know, is on the screen already."""
        known = self._rooms.get(room_key(room))
        return known is not None and known[1] is not None and seq <= known[1]

    def forget(self) -> None:
        """A server that gives no epochs: numbers from before a reconnect mean nothing."""
        self._rooms.clear()

    def epoch(self, room: str) -> str | None:
        known = self._rooms.get(room_key(room))
        return known[0] if known else None

    def last_seq(self, room: str) -> int | None:
        """Where a reconnect resumes in ``room``: the highest ``seq`` seen, or the
        room's when we joined if higher (a quiet room is no reason to miss its news)."""
        known = self._rooms.get(room_key(room))
        if known is None:
            return None
        _, last, joined = known
        return max(joined, last) if last is not None else joined
