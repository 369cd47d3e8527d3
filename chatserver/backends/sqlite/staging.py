"""What waits for the store's next commit: messages published and rooms saved, readable before they are written.

A publisher or a room's saver (the hub, under its lock) only appends here,
never waiting for a commit's disk work; the dispatcher's commit ``take``s
it all and writes it in one transaction. Until that transaction is over,
what it took is still read from here (``messages``, ``room``), so a
reader sees everything at every moment: what leaves here is in the file
by then. One lock guards it, never held across SQLite.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from chatserver.backends.records import StoredRoom
from common import messages as m


@dataclasses.dataclass
class Batch:
    """One commit's content: the messages in the order staged, and the rooms by key."""

    messages: list[m.ChatMessage] = dataclasses.field(default_factory=list)
    rooms: dict[str, StoredRoom] = dataclasses.field(default_factory=dict)


def merged(old: StoredRoom | None, new: StoredRoom) -> StoredRoom:
    """``new`` saved over ``old``: the room keeps the epoch it has, takes the new name and topic."""
    if old is None:
        return new
    return StoredRoom(new.name, old.epoch, max(old.seq, new.seq), new.topic)


class Staging:
    def __init__(self, room_key: Callable[[str], str]) -> None:
        self._room_key = room_key
        self._lock = threading.Lock()
        self._next = Batch()
        self._committing = Batch()  # taken by the commit under way, not yet committed
        self.closed = False

    def stage(self, msg: m.ChatMessage) -> bool:
        """Keep ``msg`` for the next commit; False once the store is closed."""
        with self._lock:
            if self.closed:
                return False
            self._next.messages.append(msg)
            return True

    def stage_many(self, msgs: list[m.ChatMessage]) -> bool:
        """``stage`` for each of ``msgs``, in order, under one hold of the lock (all or none)."""
        with self._lock:
            if self.closed:
                return False
            self._next.messages += msgs
            return True

    def save(self, room: StoredRoom) -> None:
        """Keep a room's save for the next commit (over any save of it still waiting)."""
        key = self._room_key(room.name)
        with self._lock:
            self._next.rooms[key] = merged(self._next.rooms.get(key), room)

    def take(self) -> Batch:
        """Everything staged, for the commit under way (still read here until ``done``)."""
        with self._lock:
            self._committing, self._next = self._next, Batch()
            return self._committing

    def save_again(self, unsaved: dict[str, StoredRoom]) -> None:
        """A commit could not write these rooms: saved for the next, under any newer save of theirs."""
        with self._lock:
            for key, room in unsaved.items():
                newer = self._next.rooms.get(key)
                self._next.rooms[key] = room if newer is None else merged(room, newer)

    def done(self) -> None:
        """The commit under way is over (what it wrote is in the file now)."""
        with self._lock:
            self._committing = Batch()

    def messages(self) -> list[m.ChatMessage]:
        """Staged or being committed, in the order staged."""
        with self._lock:
            return self._committing.messages + self._next.messages

    def room(self, key: str) -> StoredRoom | None:
        """The room as saved and not yet in the file (being committed or staged), if it is."""
        with self._lock:
            taken, waiting = self._committing.rooms.get(key), self._next.rooms.get(key)
        return taken if waiting is None else merged(taken, waiting)

    def keys(self) -> set[str]:
        """The rooms with anything on its way to the file."""
        with self._lock:
            batches = (self._committing, self._next)
            return {key for b in batches for key in b.rooms} | {
                self._room_key(x.room) for b in batches for x in b.messages
            }

    def close(self) -> Batch:
        """Take nothing more; returns what was staged and not taken."""
        with self._lock:
            self.closed = True
            left, self._next = self._next, Batch()
            return left
