"""The durable room log: rooms, topics, room messages and the resume secret in one SQLite file.

Standard library ``sqlite3`` in WAL mode with ``synchronous=NORMAL``: a
committed message survives the server being killed; a power cut may lose the
last commits. The server commits once per dispatcher batch, never once per
message, and acknowledges only what is committed. The file says it is ours
(``application_id``) and which schema it holds (``user_version``); a file
that is not ours, or of a newer schema, is refused untouched.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from chatserver.backends import storefile
from chatserver.backends.follow import FOLLOW_PAGE, Followers
from chatserver.backends.readers import Readers
from chatserver.backends.records import Position, StoredGrant, StoredRoom, StoredSanction
from chatserver.backends.roomlog import search_terms
from common import messages as m
from common.nicks import nick_key
from common.threads import stop_signals_blocked

APPLICATION_ID = 0x6C616E63  # "lanc"
SCHEMA_VERSION = 3

#: The first release's schema (version 1). A new file gets it and then every
#: migration, exactly as an old file does: there is one way to each version.
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE rooms (key TEXT PRIMARY KEY, name TEXT NOT NULL, epoch TEXT NOT NULL,"
    " seq INTEGER NOT NULL, topic TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, seq INTEGER NOT NULL,"
    " ts REAL NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL DEFAULT 0)",
    "CREATE UNIQUE INDEX messages_by_room ON messages (room, seq)",
    "CREATE INDEX messages_by_time ON messages (ts)",
    "CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content='messages', content_rowid='id')",
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
)
#: Migrations from each schema version to the next: ``_MIGRATIONS[n]`` takes n to n+1.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: moderation (bans, mutes, /op grants) is kept across restarts.
    1: (
        "CREATE TABLE sanctions (kind TEXT NOT NULL, key TEXT NOT NULL, nick TEXT NOT NULL,"
        " address TEXT NOT NULL, by_nick TEXT NOT NULL, reason TEXT NOT NULL, since REAL NOT NULL,"
        " until REAL NOT NULL, PRIMARY KEY (kind, key))",
        "CREATE TABLE grants (key TEXT PRIMARY KEY, nick TEXT NOT NULL, by_nick TEXT NOT NULL,"
        " since REAL NOT NULL, proof TEXT NOT NULL)",
    ),
    # 3: a batch's words are indexed in one statement at commit, not row by row by a trigger.
    2: ("DROP TRIGGER messages_ai",),
}


#: How often a store that cannot write says so in the log, at most (seconds).
COMPLAIN_EVERY = 60.0
#: The WAL is copied into the file (and fsynced) by a thread of the store's own,
#: after about this many commits or every ``CHECKPOINT_EVERY`` seconds: SQLite's
#: automatic checkpoint runs in the committing thread, and there its fsync holds
#: up the delivery of the whole batch (measured: the latency p99).
CHECKPOINT_COMMITS = 128
CHECKPOINT_EVERY = 1.0
#: WAL pages after which a commit checkpoints by itself after all: the WAL cannot
#: start over while commits never pause, so under endless load it would only grow.
WAL_PAGES_MAX = 16384
#: The WAL file is never cut back after a checkpoint (-1): SQLite cuts it in the committing
#: thread when the WAL starts over, and that ftruncate held up a whole batch's delivery for
#: 60-90 ms on a busy disk (strace; the latency p99 was 5-9x ``--store memory``'s). The file
#: keeps the size it reached instead: under ``WAL_PAGES_MAX`` pages unless checkpoints fall behind.
WAL_BYTES_KEPT = -1
#: A search stops after this long (seconds), and the asker is told to narrow it.
SEARCH_SECONDS = 2.0
#: What a kept message costs beside its text and name, about (bytes): see ``kept_bytes``.
ROW_BYTES = 64
#: Terms of one search, at most.
MAX_TERMS = 16

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be used (not ours, newer, unreadable): one line naming the file."""


def _row_message(row: tuple) -> m.ChatMessage:
    room, seq, ts, nick, text, action = row
    return m.ChatMessage(seq=seq, ts=ts, room=room, nick=nick, text=text, action=bool(action))


class SqliteStore:
    """One SQLite file: a ``ports.Broker``, ``ModerationStore`` and ``SecretStore``
    (and retention's ``Prunable``); every method is safe to call
    from any thread. Writes go through one connection under one lock (the
    dispatcher's ``commit`` needs it); history reads and searches use read
    connections of their own and never take that lock but to copy what is
    staged (WAL lets them read while a commit writes). Staged messages wait
    in memory for the dispatcher's commit; reads include them."""

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
        self._search_seconds = search_seconds
        self._lock = threading.Lock()  # the connection
        self._db = self._open()
        #: Keys of the rooms the hub holds in memory (found or saved, not yet forgotten):
        #: ``forget_empty_rooms`` leaves them be.
        self._live: set[str] = set()
        #: Guards ``_live``: ``room`` reads on a connection of its own, never waiting for a commit.
        self._live_lock = threading.Lock()
        self._readers = Readers(self.path, clock)
        #: Staged, not yet written: the next commit writes them in one transaction.
        self._staged: list[m.ChatMessage] = []
        #: Taken by the commit under way, not yet committed (reads include them too).
        self._committing: list[m.ChatMessage] = []
        #: Guards ``_staged`` and ``_committing`` only, never held across SQLite: a publisher
        #: stages (under the hub's lock) without waiting for a commit's disk work.
        self._staged_lock = threading.Lock()
        #: Each room's last number and its epoch, as published (under ``_staged_lock``):
        #: ``publish`` numbers from it without reading the file.
        self._positions: dict[str, Position] = {}
        self._followers = Followers()
        self._failing_since: float | None = None
        self._complained = float("-inf")
        self._closed = False
        self._commits = 0  # since a checkpoint was last asked for
        self._checkpoint_due = threading.Event()
        with stop_signals_blocked():
            self._checkpointer = threading.Thread(target=self._checkpoint_forever, name="checkpoint", daemon=True)
            self._checkpointer.start()

    # -- opening ------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        where = str(self.path)
        try:  # chat logs are private: ours, not through a link, only this user may read them
            existed = storefile.prepare(self.path)
        except storefile.UnsafeStore as exc:
            raise StoreError(str(exc)) from None
        try:
            # Read-only first: a file that is not ours must be left exactly as it was.
            if existed:
                probe = sqlite3.connect(f"file:{where}?mode=ro", uri=True)
                try:
                    app_id = probe.execute("PRAGMA application_id").fetchone()[0]
                    version = probe.execute("PRAGMA user_version").fetchone()[0]
                    tables = probe.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                finally:
                    probe.close()
                if app_id != APPLICATION_ID and (tables or app_id):
                    raise StoreError(f"{where} is not a lanchat store (another program's database?); not touching it")
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{where} holds schema version {version}, newer than this server's {SCHEMA_VERSION}: "
                        "upgrade chatserver, or start with another --store"
                    )
            self._hold_lock(where)  # (after the probe: nothing is written beside a file not ours)
            db = sqlite3.connect(where, check_same_thread=False, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{where} is not a usable SQLite store: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot open the store {where}: {exc.strerror or exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_MAX}")  # see CHECKPOINT_COMMITS
            db.execute(f"PRAGMA journal_size_limit={WAL_BYTES_KEPT}")
            db.execute("PRAGMA foreign_keys=ON")
            self._migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{where} is not a usable SQLite store: {exc}") from None
        return db

    def _hold_lock(self, where: str) -> None:
        """One server per store: two would number the same rooms twice."""
        try:
            self._lock_file = os.fdopen(storefile.open_private(Path(where + ".lock")), "a+")
        except storefile.UnsafeStore as exc:
            raise StoreError(str(exc)) from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StoreError(
                f"the store {where} is in use by another chatserver "
                "(give this one another --name, or its own --store PATH)"
            ) from None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if version == 0:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                version = 1
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _checkpoint_forever(self) -> None:
        """Checkpoint when ``commit`` asks (or every ``CHECKPOINT_EVERY`` s), on a connection
        of its own: PASSIVE neither waits for the commits nor blocks them, and its fsync is not theirs."""
        try:
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("the store %s is checkpointed by its commits only: %s", self.path, exc)
            return
        try:
            while not self._closed:
                self._checkpoint_due.wait(CHECKPOINT_EVERY)
                self._checkpoint_due.clear()
                if self._closed:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a full disk: the commits say so; try again later
                    log.debug("checkpoint of %s: %s", self.path, exc)
        finally:
            db.close()

    def close(self) -> None:
        """Close the file; what is staged and not committed is dropped (commit first)."""
        self._closed = True
        self._checkpoint_due.set()
        self._checkpointer.join(timeout=5)
        with self._lock:
            self._closed = True
            self._db.close()
            self._lock_file.close()
        self._readers.close()

    # -- what the server keeps ------------------------------------------------
    def secret(self) -> bytes:
        """The server's resume secret: made once, so tokens outlive a restart."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            if row is not None:
                return bytes.fromhex(row[0])
            value = secrets.token_bytes(32)
            self._db.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (value.hex(),))
            return value

    def room(self, name: str) -> StoredRoom | None:
        key = self._room_key(name)
        pending = self._pending()  # (before the file: what leaves it meanwhile is in the file then)
        # On a read connection (WAL): the hub asks under its lock, and the writer's lock is
        # held for a whole commit, which would hold up every room on the server meanwhile.
        with self._live_lock:
            found = self._readers.rows("SELECT name, epoch, seq, topic FROM rooms WHERE key = ?", (key,))
            row = found[0] if found else None
            if row is not None:
                self._live.add(key)
        staged = max((x.seq for x in pending if self._room_key(x.room) == key), default=0)
        if row is None:
            return None
        name, epoch, seq, topic = row
        with self._staged_lock:  # (what was published and is on its way to the file counts too)
            known = self._positions.get(key)
            at = self._positions[key] = Position(max(seq, staged, known.seq if known else 0), epoch)
        return StoredRoom(name, epoch, at.seq, topic)

    def save_room(self, room: StoredRoom) -> None:
        """A new room, or its topic changed (its ``seq`` moves with ``stage``)."""
        with self._live_lock:
            self._live.add(self._room_key(room.name))
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO rooms (key, name, epoch, seq, topic) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET name = excluded.name, topic = excluded.topic",
                    (self._room_key(room.name), room.name, room.epoch, room.seq, room.topic),
                )
            except (sqlite3.Error, OSError) as exc:
                self._failed(f"cannot save room {room.name}: {exc}")
        self.room(room.name)  # (its position known from now on: kept if it was)

    def forget(self, name: str) -> bool:
        """Kept in the file (a room made again is the same room) until ``forget_empty_rooms``
        finds it with no messages kept."""
        with self._live_lock:
            self._live.discard(self._room_key(name))
        with self._staged_lock:
            self._positions.pop(self._room_key(name), None)
        return False

    def publish(self, msg: m.ChatMessage) -> Position | None:
        """Number ``msg`` as its room's next and stage it (``stage``): no file I/O but
        for a room not seen before, so the hub may call it under its lock."""
        key = self._room_key(msg.room)
        with self._staged_lock:  # (one hold: numbered and recorded together)
            at = self._positions.get(key)
            if at is not None:
                at = self._positions[key] = Position(at.seq + 1, at.epoch)
        if at is None:  # a room not seen before: read (or made) once
            if self.room(msg.room) is None:
                self.save_room(StoredRoom(msg.room, secrets.token_hex(6), 0, ""))
            with self._staged_lock:
                last = self._positions.get(key, Position(0, ""))
                at = self._positions[key] = Position(last.seq + 1, last.epoch)
        seq = at.seq
        if msg.seq != seq:
            msg = dataclasses.replace(msg, seq=seq)
        if not self.stage(msg):
            return None
        self._followers.published()
        return at

    def follow(self, rooms: dict[str, int], timeout: float) -> list[m.ChatMessage]:
        """Messages above the given seq of each room (staged ones included), waiting up to ``timeout``."""

        def read() -> list[m.ChatMessage]:
            page = FOLLOW_PAGE
            return [x for room, seq in rooms.items() for x in self.recent(room, page, before=seq + page + 1, after=seq)]

        return self._followers.wait(read, timeout)

    def stage(self, msg: m.ChatMessage) -> bool:
        """Kept in memory until the next ``commit`` (reads see it meanwhile); never waits
        for a commit under way."""
        with self._staged_lock:
            if self._closed:
                return False
            self._staged.append(msg)
            return True

    def _pending(self) -> list[m.ChatMessage]:
        """Staged or being committed, in the order staged."""
        with self._staged_lock:
            return self._committing + self._staged

    def commit(self) -> set[tuple[str, int]]:
        """Write what was staged in one transaction: the rows with one statement,
        each room's seq, and the batch's words indexed with one statement (an
        insert trigger per row costs three times the insert)."""
        with self._lock:
            with self._staged_lock:
                staged, self._staged = self._staged, []
                self._committing = staged
            try:
                return self._commit_locked(staged)
            finally:
                with self._staged_lock:
                    self._committing = []

    def _commit_locked(self, staged: list[m.ChatMessage]) -> set[tuple[str, int]]:
        """The commit itself (the connection's lock held)."""
        if not staged or self._closed:
            return {(self._room_key(x.room), x.seq) for x in staged}
        keys = {name: self._room_key(name) for name in {x.room for x in staged}}  # (a batch is of a few rooms)
        rows = [(keys[x.room], x.seq, x.ts, x.nick, x.text, int(x.action)) for x in staged]
        last: dict[str, int] = {}
        for key, seq, *_ in rows:
            last[key] = max(seq, last.get(key, 0))
        try:
            self._db.execute("BEGIN")
            before = self._db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
            self._db.executemany(
                "INSERT OR REPLACE INTO messages (room, seq, ts, nick, text, action) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute(
                "INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id > ?", (before,)
            )
            self._db.executemany(
                "UPDATE rooms SET seq = max(seq, ?) WHERE key = ?", [(seq, key) for key, seq in last.items()]
            )
            self._db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._failed(str(exc))
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return {(key, seq) for key, seq, *_ in rows}
        if self._failing_since is not None:
            log.warning("the store %s is kept again", self.path)
            self._failing_since = None
        self._commits += 1 + len(staged) // 16
        if self._commits >= CHECKPOINT_COMMITS:
            self._commits = 0
            self._checkpoint_due.set()
        return set()

    def _failed(self, why: str) -> None:
        """Log a failing store at most once per ``COMPLAIN_EVERY`` seconds (lock held)."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._complained >= COMPLAIN_EVERY:
            self._complained = now
            log.error("cannot write the store %s: %s; messages are delivered but not kept", self.path, why)

    def _select(self, sql: str, args: tuple, budget: float | None = None) -> list[m.ChatMessage]:
        """Messages read on a read connection, never under the writer's lock (``readers.py``)."""
        if self._closed:
            return []
        return [_row_message(row) for row in self._readers.rows(sql, args, budget)]

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        """The last ``count`` messages of ``room`` numbered below ``before`` and above ``after``,
        oldest first, what is staged included."""
        if count <= 0:
            return []
        key, below = self._room_key(room), before if before is not None else 2**62
        above = after if after is not None else -1
        staged = [x for x in self._pending() if above < x.seq < below and self._room_key(x.room) == key]
        rows = self._select(
            "SELECT r.name, m.seq, m.ts, m.nick, m.text, m.action FROM messages m JOIN rooms r ON r.key = m.room"
            " WHERE m.room = ? AND m.seq < ? AND m.seq > ? ORDER BY m.seq DESC LIMIT ?",
            (key, below, above, count),
        )
        seen = {x.seq for x in staged}
        return ([x for x in rows[::-1] if x.seq not in seen] + staged)[-count:]

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding every word of ``words``, newest first (FTS5); a word
        with punctuation in it is several words. ``SearchTooLong`` past the time budget."""
        terms = search_terms(words)[:MAX_TERMS]
        if not terms:
            return []
        query = " AND ".join(f'"{w}"' for w in terms)  # (words only: no FTS syntax, no quotes)
        return self._select(
            "SELECT r.name, m.seq, m.ts, m.nick, m.text, m.action FROM messages_fts f"
            " JOIN messages m ON m.id = f.rowid JOIN rooms r ON r.key = m.room"
            " WHERE messages_fts MATCH ? AND m.room = ? ORDER BY m.seq DESC LIMIT ?",
            (query, self._room_key(room), limit),
            budget=self._search_seconds,
        )

    # -- moderation ------------------------------------------------------------
    # Written at once, or with the open batch of messages (committed by the
    # dispatcher before the sanction's announcement goes out).
    def _write(self, sql: str, args: tuple, what: str) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._db.execute(sql, args)
            except (sqlite3.Error, OSError) as exc:
                self._failed(f"{what}: {exc}")

    def _rows(self, sql: str) -> list[tuple]:
        with self._lock:
            return [] if self._closed else self._db.execute(sql).fetchall()

    def sanctions(self) -> list[StoredSanction]:
        rows = self._rows("SELECT kind, nick, address, by_nick, reason, since, until FROM sanctions")
        return [StoredSanction(*row) for row in rows]

    def save_sanction(self, sanction: StoredSanction) -> None:
        s = sanction
        self._write(
            "INSERT OR REPLACE INTO sanctions (kind, key, nick, address, by_nick, reason, since, until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (s.kind, nick_key(s.nick), s.nick, s.address, s.by, s.reason, s.since, s.until),
            f"cannot keep the {s.kind} on {s.nick}",
        )

    def drop_sanction(self, kind: str, nick: str) -> None:
        self._write("DELETE FROM sanctions WHERE kind = ? AND key = ?", (kind, nick_key(nick)), f"cannot lift {kind}")

    def grants(self) -> list[StoredGrant]:
        return [StoredGrant(*row) for row in self._rows("SELECT nick, by_nick, since, proof FROM grants")]

    def save_grant(self, grant: StoredGrant) -> None:
        g = grant
        self._write(
            "INSERT OR REPLACE INTO grants (key, nick, by_nick, since, proof) VALUES (?, ?, ?, ?, ?)",
            (nick_key(g.nick), g.nick, g.by, g.since, g.proof),
            f"cannot keep the operator grant of {g.nick}",
        )

    def drop_grant(self, nick: str) -> None:
        self._write("DELETE FROM grants WHERE key = ?", (nick_key(nick),), "cannot drop an operator grant")

    def prune(self, *, older_than: float | None, keep_per_room: int | None, batch: int = 500) -> int:
        """Delete at most ``batch`` messages past the retention limits; returns how many.
        (Inside an open transaction the deletes go with the next commit.)"""
        deleted = 0
        with self._lock:
            try:
                if older_than is not None:
                    cur = self._db.execute(
                        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE ts < ? LIMIT ?)",
                        (older_than, batch),
                    )
                    deleted += cur.rowcount
                if keep_per_room is not None and deleted < batch:
                    for key, seq in self._db.execute("SELECT key, seq FROM rooms").fetchall():
                        cur = self._db.execute(
                            "DELETE FROM messages WHERE id IN"
                            " (SELECT id FROM messages WHERE room = ? AND seq <= ? LIMIT ?)",
                            (key, seq - keep_per_room, batch - deleted),
                        )
                        deleted += cur.rowcount
                        if deleted >= batch:
                            break
            except (sqlite3.Error, OSError) as exc:
                self._failed(f"pruning: {exc}")
        return deleted

    def used_bytes(self) -> int:
        """The bytes the store's pages hold (free pages, to be reused, not counted)."""
        with self._lock:
            if self._closed:
                return 0
            try:
                pages, free, size = (
                    self._db.execute(f"PRAGMA {name}").fetchone()[0]
                    for name in ("page_count", "freelist_count", "page_size")
                )
            except (sqlite3.Error, OSError) as exc:
                self._failed(f"measuring: {exc}")
                return 0
        return (pages - free) * size

    def kept_bytes(self) -> int:
        """What the kept messages take: their text and names in UTF-8, and ``ROW_BYTES`` each
        (read on a read connection: a scan of the table, for when the file is over its budget)."""
        sql = f"SELECT total(length(CAST(text AS BLOB)) + length(CAST(nick AS BLOB)) + {ROW_BYTES}) FROM messages"
        return int(self._readers.rows(sql)[0][0])

    def prune_oldest(self, batch: int = 500) -> tuple[int, int, float]:
        """Delete the ``batch`` oldest kept messages, whatever their room; returns how many,
        the bytes they took (as ``kept_bytes`` counts), and the time of the newest of them."""
        with self._lock:
            if self._closed:
                return 0, 0, 0.0
            try:
                rows = self._db.execute(
                    f"SELECT id, length(CAST(text AS BLOB)) + length(CAST(nick AS BLOB)) + {ROW_BYTES}, ts"
                    " FROM messages ORDER BY id LIMIT ?",
                    (batch,),
                ).fetchall()
                self._db.executemany("DELETE FROM messages WHERE id = ?", [(row[0],) for row in rows])
            except (sqlite3.Error, OSError) as exc:
                self._failed(f"pruning: {exc}")
                return 0, 0, 0.0
        return len(rows), sum(row[1] for row in rows), max((row[2] for row in rows), default=0.0)

    def forget_empty_rooms(self, idle: set[str]) -> tuple[set[str], int]:
        """Rooms the hub does not hold that keep no messages: those of them in ``idle`` (found
        so at the last look) are deleted, their topic and numbering with them (made again, a
        room is new). Returns the others found so now, for the next look, and how many went."""
        with self._lock, self._live_lock:  # (a room the hub takes up meanwhile is not deleted)
            if self._closed:
                return set(), 0
            try:
                found = self._db.execute(
                    "SELECT key FROM rooms r WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.room = r.key)"
                ).fetchall()
                empty = {key for (key,) in found if key not in self._live}
                gone = empty & idle
                self._db.executemany("DELETE FROM rooms WHERE key = ?", [(key,) for key in gone])
                with self._staged_lock:
                    for key in gone:
                        self._positions.pop(key, None)
            except (sqlite3.Error, OSError) as exc:
                self._failed(f"forgetting empty rooms: {exc}")
                return set(), 0
        return empty - gone, len(gone)
