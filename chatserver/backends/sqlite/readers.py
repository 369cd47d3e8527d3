"""Reading the SQLite store beside its writer: read connections of their own, and a time budget.

History reads and searches never take the writer's lock, which the
dispatcher's commit needs before it delivers: in WAL mode a reader sees the
last commit while the next is written. A few connections are kept open
between reads; more are opened while more threads read at once. A read with
a budget is stopped by SQLite's progress handler once it runs past it
(``SearchTooLong``); one that fails raises ``Unavailable``, and the log says
so at most once a minute.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import typing
from collections.abc import Callable
from pathlib import Path

from chatserver.backends.records import SearchTooLong, Unavailable

log = logging.getLogger(__name__)

#: Read connections kept open between reads.
KEPT = 4
#: SQLite steps between two looks at the clock while a read with a budget runs.
PROGRESS_STEPS = 1000
#: How often a store that cannot be read says so in the log, at most (seconds).
COMPLAIN_EVERY = 60.0


class Readers:
    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self._path = path
        self._clock = clock
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._complained = float("-inf")

    def rows(self, sql: str, args: tuple = (), budget: float | None = None) -> list[tuple]:
        """The rows of one query; stopped past ``budget`` seconds (``SearchTooLong``)."""
        try:
            db = self._take()
        except (sqlite3.Error, OSError) as exc:
            self.unreadable(exc)
        stopped = False
        if budget is not None:
            deadline = self._clock() + budget

            def over_budget() -> int:
                nonlocal stopped
                stopped = self._clock() >= deadline
                return stopped

            db.set_progress_handler(over_budget, PROGRESS_STEPS)
        try:
            return db.execute(sql, args).fetchall()
        except (sqlite3.Error, OSError) as exc:
            if stopped:
                raise SearchTooLong("search took too long; narrow it (more or longer words)") from None
            self.unreadable(exc)
        finally:
            self._give_back(db)

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        db = sqlite3.connect(str(self._path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA query_only = ON")
        return db

    def _give_back(self, db: sqlite3.Connection) -> None:
        db.set_progress_handler(None, 0)
        with self._lock:
            if not self._closed and len(self._idle) < KEPT:
                self._idle.append(db)
                return
        db.close()

    def unreadable(self, exc: BaseException) -> typing.NoReturn:
        """Say (at most once a minute) that the store cannot be read, and raise ``Unavailable``."""
        now = self._clock()
        if now - self._complained >= COMPLAIN_EVERY:
            self._complained = now
            log.error("cannot read the store %s: %s", self._path, exc)
        raise Unavailable(f"the server cannot read its store ({exc})") from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()
