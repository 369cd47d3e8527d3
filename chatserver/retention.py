"""Retention: a background thread that prunes the store past ``--retain-days`` / ``--retain-messages``.

It deletes in small batches, each a short hold of the store's lock, so
chat never waits on it; between rounds it sleeps on an event that
``stop`` sets, and it reads the time from an injectable clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

EVERY = 600.0  # seconds between rounds
BATCH = 500  # messages deleted per hold of the store's lock
PAUSE = 0.01  # seconds between batches of one round


class Prunable(Protocol):
    def prune(self, *, older_than: float | None, keep_per_room: int | None, batch: int = BATCH) -> int: ...


class Retention:
    def __init__(
        self,
        store: Prunable,
        *,
        days: float | None,
        messages: int | None,
        clock: Callable[[], float] = time.time,
        every: float = EVERY,
    ) -> None:
        self._store = store
        self._days = days
        self._messages = messages
        self._clock = clock
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune_once(self) -> int:
        """One round: delete everything past the limits now; returns how many."""
        older_than = self._clock() - self._days * 86400 if self._days is not None else None
        total = 0
        while not self._stop.is_set():
            done = self._store.prune(older_than=older_than, keep_per_room=self._messages, batch=BATCH)
            total += done
            if done < BATCH:
                break
            self._stop.wait(PAUSE)  # let chat have the store between batches
        if total:
            log.info("retention: %d old message(s) deleted", total)
        return total

    def start(self) -> None:
        if self._days is None and self._messages is None:
            return
        with stop_signals_blocked():
            self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.prune_once()
            except Exception:  # never let retention take the server down
                log.exception("retention round failed")
            self._stop.wait(self._every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
