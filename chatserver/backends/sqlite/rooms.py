"""The store's rooms: each one's epoch, topic and last number, found in the file or saved, and forgotten when empty.

A room the hub holds is one whose position is known here (found, saved or
numbered since, not yet ``forget``-ten): ``publish`` numbers from it without
reading the file, and retention never deletes it. A save is staged for the
next commit (``staging.py``), never waiting for the writer: the hub saves
under its lock, and a commit holds the writer for up to a whole fsync.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable

from chatserver.backends.records import Position, StoredRoom
from chatserver.backends.sqlite.database import Database
from chatserver.backends.sqlite.readers import Readers
from chatserver.backends.sqlite.staging import Staging, merged


def write(db: sqlite3.Connection, rooms: dict[str, StoredRoom]) -> None:
    """The rooms saved since the last commit, in the commit's transaction (an existing
    room keeps its epoch and number; its ``seq`` moves with its messages)."""
    db.executemany(
        "INSERT INTO rooms (key, name, epoch, seq, topic) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET name = excluded.name, topic = excluded.topic",
        [(key, r.name, r.epoch, r.seq, r.topic) for key, r in rooms.items()],
    )


class Rooms:
    def __init__(self, database: Database, readers: Readers, staging: Staging, room_key: Callable[[str], str]) -> None:
        self._database = database
        self._readers = readers
        self._staging = staging
        self._room_key = room_key
        #: Each held room's last number and its epoch, as published.
        self._positions: dict[str, Position] = {}
        self._positions_lock = threading.Lock()  # (never held across SQLite)
        #: Held while a room found in the file is taken up, and while retention deletes empty
        #: rooms: a room the hub takes up meanwhile is not deleted. A commit never takes it.
        self._finding = threading.Lock()

    def room(self, name: str) -> StoredRoom | None:
        """The room as saved (staged saves first), on a read connection: the hub asks under its
        lock, and the writer's lock is held for a whole commit. Held from now on."""
        key = self._room_key(name)
        # What is on its way first, the file after: what leaves the staging meanwhile is in the file then.
        pending = self._staging.messages()
        saved = self._staging.room(key)
        with self._finding:
            found = self._readers.rows("SELECT name, epoch, seq, topic FROM rooms WHERE key = ?", (key,))
            kept = StoredRoom(*found[0]) if found else None
            if kept is None and saved is None:
                return None
            room = merged(kept, saved) if saved is not None else kept
            assert room is not None
            staged = max((x.seq for x in pending if self._room_key(x.room) == key), default=0)
            with self._positions_lock:  # (what was published and is on its way to the file counts too)
                known = self._positions.get(key)
                at = self._positions[key] = Position(max(room.seq, staged, known.seq if known else 0), room.epoch)
        return StoredRoom(room.name, room.epoch, at.seq, room.topic)

    def save_room(self, room: StoredRoom) -> None:
        """A new room, or its topic changed: staged for the next commit, readable at once."""
        self._staging.save(room)
        with self._positions_lock:
            held = self._room_key(room.name) in self._positions
        if not held:
            self.room(room.name)  # (its position known from now on: its epoch the file's, if it was there)

    def forget(self, name: str) -> bool:
        """Kept in the file (a room made again is the same room) until ``forget_empty_rooms``
        finds it with no messages kept."""
        with self._positions_lock:
            self._positions.pop(self._room_key(name), None)
        return False

    def next_position(self, name: str, count: int = 1) -> Position:
        """The room's next number (the first of its next ``count``), recorded as published: no
        file I/O but for a room not held (read, or made, once)."""
        key = self._room_key(name)
        with self._positions_lock:  # (one hold: numbered and recorded together)
            at = self._positions.get(key)
            if at is not None:
                last = self._positions[key] = Position(at.seq + count, at.epoch)
                return last if count == 1 else Position(at.seq + 1, at.epoch)
        if self.room(name) is None:
            self.save_room(StoredRoom(name, secrets.token_hex(6), 0, ""))
        with self._positions_lock:
            last = self._positions.get(key, Position(0, ""))
            self._positions[key] = Position(last.seq + count, last.epoch)
        return Position(last.seq + 1, last.epoch)

    def _held(self) -> set[str]:
        with self._positions_lock:
            held = set(self._positions)
        return held | self._staging.keys()

    def forget_empty_rooms(self, idle: set[str]) -> tuple[set[str], int]:
        """Rooms the hub does not hold that keep no messages: those of them in ``idle`` (found
        so at the last look) are deleted, their topic and numbering with them (made again, a
        room is new). Returns the others found so now, for the next look, and how many went."""

        def work(db: sqlite3.Connection) -> tuple[set[str], int]:
            with self._finding:
                found = db.execute(
                    "SELECT key FROM rooms r WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.room = r.key)"
                ).fetchall()
                held = self._held()
                empty = {key for (key,) in found if key not in held}
                gone = empty & idle
                db.executemany("DELETE FROM rooms WHERE key = ?", [(key,) for key in gone])
            return empty - gone, len(gone)

        return self._database.run(work, "forgetting empty rooms: ", (set(), 0))
