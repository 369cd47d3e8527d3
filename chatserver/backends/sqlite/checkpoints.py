"""Copying the WAL into the store's file, on a thread and a connection of its own, never in a commit.

SQLite's automatic checkpoint runs in the committing thread, and there its
fsync holds up the delivery of the whole batch (measured: the latency p99).
So the writer checkpoints by itself only past ``WAL_PAGES_MAX`` pages, and
this thread checkpoints (PASSIVE: it neither waits for the commits nor
blocks them) after about ``CHECKPOINT_COMMITS`` commits or every
``CHECKPOINT_EVERY`` seconds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

#: Commits (a batch of 16 messages counting as one more) after which a checkpoint is asked for.
CHECKPOINT_COMMITS = 128
#: Seconds between checkpoints when fewer commits came.
CHECKPOINT_EVERY = 1.0
#: WAL pages after which a commit checkpoints by itself after all: the WAL cannot
#: start over while commits never pause, so under endless load it would only grow.
WAL_PAGES_MAX = 16384


class Checkpointer:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._commits = 0  # since a checkpoint was last asked for (counted by the writer only)
        self._due = threading.Event()
        self._stopped = False
        with stop_signals_blocked():
            self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
            self._thread.start()

    def committed(self, messages: int) -> None:
        """A commit of ``messages`` was made (called by the writer, its lock held)."""
        self._commits += 1 + messages // 16
        if self._commits >= CHECKPOINT_COMMITS:
            self._commits = 0
            self._due.set()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(str(self._path), check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("the store %s is checkpointed by its commits only: %s", self._path, exc)
            return
        try:
            while not self._stopped:
                self._due.wait(CHECKPOINT_EVERY)
                self._due.clear()
                if self._stopped:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a full disk: the commits say so; try again later
                    log.debug("checkpoint of %s: %s", self._path, exc)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped = True
        self._due.set()
        self._thread.join(timeout=5)
