"""The store's one writer connection: opening the file, the lock of every write, transactions, failures said.

Standard library ``sqlite3`` in WAL mode with ``synchronous=NORMAL``: a
committed message survives the server being killed; a power cut may lose
the last commits. One server per file (a lock file beside it): two would
number the same rooms twice. A write that fails is logged at most once
per ``COMPLAIN_EVERY`` seconds, and once more when writing works again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import typing
from collections.abc import Callable
from pathlib import Path

from chatserver.backends.sqlite import files, schema, shared
from chatserver.backends.sqlite.checkpoints import WAL_PAGES_MAX
from chatserver.backends.sqlite.schema import StoreError

log = logging.getLogger(__name__)

T = typing.TypeVar("T")

#: How often a store that cannot write says so in the log, at most (seconds).
COMPLAIN_EVERY = 60.0
#: The WAL file is never cut back after a checkpoint (-1): SQLite cuts it in the committing
#: thread when the WAL starts over, and that ftruncate held up a whole batch's delivery for
#: 60-90 ms on a busy disk (strace; the latency p99 was 5-9x ``--store memory``'s). The file
#: keeps the size it reached instead: under ``WAL_PAGES_MAX`` pages unless checkpoints fall behind.
WAL_BYTES_KEPT = -1


class Database:
    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock
        #: The writer connection's: held for each write, and for a whole commit.
        self.lock = threading.Lock()
        self.closed = False
        self._failing_since: float | None = None
        self._complained = float("-inf")
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        where = str(self.path)
        try:  # chat logs are private: ours, not through a link, only this user may read them
            existed = files.prepare(self.path)
        except files.UnsafeStore as exc:
            raise StoreError(str(exc)) from None
        try:
            if existed:
                schema.probe(where)
            self._hold_lock(where)  # (after the probe: nothing is written beside a file not ours)
            db = sqlite3.connect(where, check_same_thread=False, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{where} is not a usable SQLite store: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot open the store {where}: {exc.strerror or exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_MAX}")  # see checkpoints.py
            db.execute(f"PRAGMA journal_size_limit={WAL_BYTES_KEPT}")
            db.execute("PRAGMA foreign_keys=ON")
            schema.migrate(db)
            shared.ensure(db)  # (shared files' messages: a table beside the schema, sqlite/shared.py)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{where} is not a usable SQLite store: {exc}") from None
        return db

    def _hold_lock(self, where: str) -> None:
        """One server per store: two would number the same rooms twice."""
        try:
            self._lock_file = os.fdopen(files.open_private(Path(where + ".lock")), "a+")
        except files.UnsafeStore as exc:
            raise StoreError(str(exc)) from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StoreError(
                f"the store {where} is in use by another chatserver "
                "(give this one another --name, or its own --store PATH)"
            ) from None

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer connection itself (hold ``lock``)."""
        return self._db

    def run(self, work: Callable[[sqlite3.Connection], T], what: str, default: T) -> T:
        """``work`` on the writer connection under its lock (autocommit, or inside an open
        transaction); ``default`` when the store is closed or the work fails (logged)."""
        with self.lock:
            return self.run_held(work, what, default)

    def run_held(self, work: Callable[[sqlite3.Connection], T], what: str, default: T, *, atomic: bool = False) -> T:
        """``run`` with ``lock`` already held; ``atomic``: in one transaction, rolled back if it fails."""
        if self.closed:
            return default
        try:
            if atomic:
                self._db.execute("BEGIN")
            result = work(self._db)
            if atomic:
                self._db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._failed(f"{what}{exc}")
            if atomic:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            return default
        if atomic and self._failing_since is not None:
            log.warning("the store %s is kept again", self.path)
            self._failing_since = None
        return result

    def _failed(self, why: str) -> None:
        """Log a failing store at most once per ``COMPLAIN_EVERY`` seconds (lock held)."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._complained >= COMPLAIN_EVERY:
            self._complained = now
            log.error("cannot write the store %s: %s; messages are delivered but not kept", self.path, why)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._db.close()
            self._lock_file.close()
