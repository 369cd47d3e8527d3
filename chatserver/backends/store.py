"""The SQLite store put together: one file behind the broker, moderation, secret and pruning interfaces.

Each concern is a module of ``chatserver/backends/sqlite/`` (its
``__init__`` lists them); ``SqliteStore`` only builds them around one
writer connection and hands each method to the one that owns it, and makes
the commit: what was staged since the last (rooms saved, then messages
published) in one transaction, while the writer's lock is held. The server
commits once per dispatcher batch, never once per message, and
acknowledges only what is committed.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from chatserver.backends.records import Position, StoredGrant, StoredRoom, StoredSanction
from chatserver.backends.sqlite import messages, rooms
from chatserver.backends.sqlite.accounts import SqliteAccounts
from chatserver.backends.sqlite.checkpoints import Checkpointer
from chatserver.backends.sqlite.database import Database
from chatserver.backends.sqlite.indexing import EARLY_ROWS, INDEX_CHUNK, Indexer
from chatserver.backends.sqlite.markers import SqliteMarkers
from chatserver.backends.sqlite.moderation import SqliteModeration
from chatserver.backends.sqlite.pruning import Pruning
from chatserver.backends.sqlite.readers import Readers
from chatserver.backends.sqlite.schema import SCHEMA_VERSION, StoreError
from chatserver.backends.sqlite.search import SEARCH_SECONDS, WordIndex
from chatserver.backends.sqlite.secret import SqliteSecret
from chatserver.backends.sqlite.staging import Batch, Staging
from common import messages as m

__all__ = ["SCHEMA_VERSION", "SqliteStore", "StoreError"]

log = logging.getLogger(__name__)

#: A commit that took longer than this (seconds, the store's clock) is said at DEBUG, with what it
#: held up and why (``--log-level DEBUG``): the dispatcher delivers nothing meanwhile.
SLOW_COMMIT = 0.005


class SqliteStore:
    """One SQLite file: a ``ports.Broker``, ``ModerationStore`` and ``SecretStore``
    (and retention's ``Prunable``); every method is safe to call from any thread.
    Writes go through one connection under one lock (the dispatcher's ``commit``
    holds it); history reads, searches and room lookups use read connections of
    their own, and publishing or saving a room only stages (WAL lets them read
    while a commit writes). Staged rooms and messages are read before they are
    committed."""

    def __init__(
        self,
        path: Path | str,
        *,
        room_key: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
        search_seconds: float = SEARCH_SECONDS,
    ) -> None:
        self.path = Path(path)
        self._room_key = room_key
        self._clock = clock
        self._database = Database(self.path, clock)
        self._readers = Readers(self.path, clock)
        self._staging = Staging(room_key)
        self._rooms = rooms.Rooms(self._database, self._readers, self._staging, room_key)
        self._messages = messages.Messages(self._readers, self._staging, room_key, self._rooms.next_position)
        self._index = WordIndex(self._readers, room_key, lambda: self._staging.closed, search_seconds, clock)
        with self._database.lock:
            self._index.open(self._database.connection)
        self._moderation = SqliteModeration(self._database)
        self._secret = SqliteSecret(self._database)
        #: The accounts' store (``backends/accounts.py``'s ``AccountStore``), in the same file.
        self.accounts = SqliteAccounts(self._database, self._readers)
        #: The accounts' read markers (``backends/markers.py``), in the same file.
        self.markers = SqliteMarkers(self._database)
        self._pruning = Pruning(self._database, self._readers, self._index.catch_up_now)
        self._checkpoints = Checkpointer(self.path)
        self._indexer = Indexer(self._index_behind)
        self._ensuring = threading.Lock()

    # -- the broker --
    def room(self, name: str) -> StoredRoom | None:
        return self._rooms.room(name)

    def save_room(self, room: StoredRoom) -> None:
        """A new room, or its topic changed: written with the next commit, never waiting for one."""
        self._rooms.save_room(room)

    def ensure(self, name: str) -> tuple[StoredRoom, str]:
        """The room (made, staged for the next commit, if the file does not have it) and its seq."""
        with self._ensuring:  # (of two taking up a new room at once, one makes it)
            found = self._rooms.room(name)
            if found is None:
                self._rooms.save_room(StoredRoom(name, secrets.token_hex(6), 0, ""))
                found = self._rooms.room(name)
        assert found is not None
        return found, str(found.seq)

    def forget(self, name: str) -> bool:
        return self._rooms.forget(name)

    def behind(self, rooms: dict[str, int]) -> list[str]:
        return []  # (numbered in this process: never behind what it numbered)

    def publish(self, msg: m.ChatMessage) -> Position | None:
        return self._messages.publish(msg)

    def publish_many(self, msgs: list[m.ChatMessage]) -> Position | None:
        return self._messages.publish_many(msgs)

    def stage(self, msg: m.ChatMessage) -> bool:
        """Keep ``msg`` (numbered already) for the next commit; reads see it meanwhile."""
        return self._staging.stage(msg)

    def commit(self) -> set[tuple[str, int]]:
        """Write what was staged in one transaction; the ``(room_key, seq)`` of messages not kept."""
        began = self._clock()
        with self._database.lock:
            locked = self._clock()
            behind = self._index.behind
            batch = self._staging.take()
            try:
                return self._commit_locked(batch)
            finally:
                self._staging.done()
                self._say_if_slow(began, locked, batch, behind)

    def _say_if_slow(self, began: float, locked: float, batch: Batch, behind: int) -> None:
        """Log a commit over ``SLOW_COMMIT`` at DEBUG (the writer's lock held)."""
        took = self._clock() - began
        if took > SLOW_COMMIT and log.isEnabledFor(logging.DEBUG):
            indexed = behind + len(batch.messages) > 0 and self._index.behind == 0
            log.debug(
                "slow commit: %.1f ms (%.1f waiting for the writer's lock), %d messages, %d rooms%s",
                took * 1000,
                (locked - began) * 1000,
                len(batch.messages),
                len(batch.rooms),
                ", the words indexed" if indexed else "",
            )

    def _commit_locked(self, batch: Batch) -> set[tuple[str, int]]:
        """The commit itself (the writer's lock held); rooms it could not write are staged again."""
        if not batch.messages and not batch.rooms and not self.accounts.talks_waiting():
            return set()

        def write(db: sqlite3.Connection) -> tuple[int | None]:
            rooms.write(db, batch.rooms)  # (first: the messages' numbers move their rooms' seq)
            messages.write(db, batch.messages, self._room_key)
            self.accounts.write_talks(db)  # (the accounts' conversations noted since: ``SqliteAccounts.talked``)
            return (self._index.written(db, len(batch.messages)),)

        done = self._database.run_held(write, "", None, atomic=True)
        self.accounts.talks_written(done is not None)
        if done is None:
            self._staging.save_again(batch.rooms)
            return {(self._room_key(x.room), x.seq) for x in batch.messages}
        self._index.advanced(*done)
        self._checkpoints.committed(len(batch.messages))
        if self._index.behind >= EARLY_ROWS:
            self._indexer.wake()
        return set()

    def _index_behind(self) -> None:
        """The rows not indexed yet put in the index, ``INDEX_CHUNK`` at most per transaction of
        their own (the indexer's thread): the writer's lock is let go between two, so a commit
        (which delivery waits for) waits for one chunk at most, not a whole filling. Stops once
        the store is closing (``close`` indexes what is left)."""
        while True:
            with self._database.lock:
                if self._staging.closed or self._database.closed:
                    return
                done = self._database.run_held(
                    lambda db: self._index.catch_up(db, INDEX_CHUNK), "indexing the words: ", None, atomic=True
                )
                self._index.advanced(done)
            if done is None:  # (nothing left, or the write failed: the commits index, then)
                return

    def wait_indexed(self, timeout: float) -> bool:
        """Until the indexer has indexed what the commits so far woke it for; False past ``timeout``."""
        return self._indexer.wait(timeout)

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        return self._messages.recent(room, count, before, after)

    def follow(self, rooms: dict[str, int], timeout: float) -> list[m.ChatMessage]:
        return self._messages.follow(rooms, timeout)

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        return self._index.search(room, words, limit)

    def close(self) -> None:
        """Close the file: rooms saved are written, and the words indexed; messages staged
        and not committed are dropped (commit first)."""
        left = self._staging.close()
        self._indexer.stop()
        self._checkpoints.stop()

        def write(db: sqlite3.Connection) -> tuple[int | None]:
            rooms.write(db, left.rooms)
            self.accounts.write_talks(db)
            return (self._index.catch_up(db),)

        with self._database.lock:
            done = self._database.run_held(write, "", None, atomic=True)
            self.accounts.talks_written(done is not None)
            if done is not None:
                self._index.advanced(*done)
        self._database.close()
        self._readers.close()

    # -- the secret store --
    def secret(self) -> bytes:
        return self._secret.secret()

    # -- the moderation store --
    def sanctions(self) -> list[StoredSanction]:
        return self._moderation.sanctions()

    def save_sanction(self, sanction: StoredSanction) -> None:
        self._moderation.save_sanction(sanction)

    def drop_sanction(self, kind: str, nick: str) -> None:
        self._moderation.drop_sanction(kind, nick)

    def grants(self) -> list[StoredGrant]:
        return self._moderation.grants()

    def save_grant(self, grant: StoredGrant) -> None:
        self._moderation.save_grant(grant)

    def drop_grant(self, nick: str) -> None:
        self._moderation.drop_grant(nick)

    # -- retention's Prunable --
    def prune(self, *, older_than: float | None, keep_per_room: int | None, batch: int = 500) -> int:
        return self._pruning.prune(older_than=older_than, keep_per_room=keep_per_room, batch=batch)

    def used_bytes(self) -> int:
        return self._pruning.used_bytes()

    def kept_bytes(self) -> int:
        return self._pruning.kept_bytes()

    def prune_oldest(self, batch: int = 500) -> tuple[int, int, float]:
        return self._pruning.prune_oldest(batch)

    def forget_empty_rooms(self, idle: set[str]) -> tuple[set[str], int]:
        return self._rooms.forget_empty_rooms(idle)
