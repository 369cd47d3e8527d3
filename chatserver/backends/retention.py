"""Retention: a background thread that keeps the store within its limits: age, count per room, total size.

By default kept messages are deleted after ``DEFAULT_DAYS`` days and the
store keeps at most ``DEFAULT_MAX_MB`` MiB of them (the oldest go first);
``--retain-days``, ``--retain-messages`` and ``--store-max-mb`` change that
(0: no such limit). A room nobody is in that keeps no messages, found so at
two rounds in a row, is forgotten.
It deletes in small batches, each a short hold of the store's lock, so
chat never waits on it; each round says in the log what it deleted, in one
line. The size is looked at every ``SIZE_EVERY`` seconds, the rest every
``EVERY``; it sleeps on an event that ``stop`` sets, and reads the time from
an injectable clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

EVERY = 600.0  # seconds between rounds by age and count
SIZE_EVERY = 10.0  # seconds between looks at the store's size
BATCH = 500  # messages deleted per hold of the store's lock
PAUSE = 0.01  # seconds between batches of one round
DEFAULT_DAYS = 90.0
DEFAULT_MAX_MB = 1024
MB = 1024 * 1024
#: Over its budget, the store is pruned down to this share of it (so it is not pruned at every look).
LOW_WATER = 0.9


class Prunable(Protocol):
    def prune(self, *, older_than: float | None, keep_per_room: int | None, batch: int = BATCH) -> int: ...

    def used_bytes(self) -> int: ...

    def kept_bytes(self) -> int: ...

    def prune_oldest(self, batch: int = BATCH) -> tuple[int, int, float]: ...

    def forget_empty_rooms(self, idle: set[str]) -> tuple[set[str], int]: ...


class Retention:
    def __init__(
        self,
        store: Prunable,
        *,
        days: float | None,
        messages: int | None,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
        every: float = EVERY,
        size_every: float = SIZE_EVERY,
    ) -> None:
        self._store = store
        self._days = days
        self._messages = messages
        self._max_bytes = max_bytes
        self._clock = clock
        self._every = every
        self._size_every = size_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Rooms found empty (nobody, no messages) at the last round: forgotten if still so at this one.
        self._idle: set[str] = set()

    def prune_once(self) -> int:
        """One round: delete everything past the age and count limits now, and forget
        the rooms found empty at the last round and still so; returns how many messages."""
        older_than = self._clock() - self._days * 86400 if self._days is not None else None
        total = 0
        if older_than is not None or self._messages is not None:
            total = self._batches(lambda: self._store.prune(older_than=older_than, keep_per_room=self._messages))
        if total:
            log.info("retention: %d old message(s) deleted", total)
        self._idle, rooms = self._store.forget_empty_rooms(self._idle)
        if rooms:
            log.info("retention: %d room(s) with nobody in them and no messages kept forgotten", rooms)
        return total

    def keep_within_budget(self) -> int:
        """Over the size budget, delete the oldest messages until what the kept ones take
        is ``LOW_WATER`` of it; returns how many (said in the log in one line).

        The budget is on the messages (text, names, a little per row); the file, with
        its search index, takes up to about twice that. The pages in use are looked at
        first, as that is cheap and never less than the messages: only over the budget
        are the messages measured (a scan) and the oldest deleted. The index gives its
        space back later than the rows do, so it is not what decides."""
        if self._max_bytes is None or self._store.used_bytes() <= self._max_bytes:
            return 0
        kept = self._store.kept_bytes()
        if kept <= self._max_bytes:
            return 0
        excess = kept - int(self._max_bytes * LOW_WATER)
        total, until = 0, 0.0
        while excess > 0 and not self._stop.is_set():
            done, freed, newest = self._store.prune_oldest(BATCH)
            total, until, excess = total + done, max(until, newest), excess - freed
            if done < BATCH:
                break
            self._stop.wait(PAUSE)  # let chat have the store between batches
        if total:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(until))
            log.warning(
                "retention: the store is over its size budget (%d MiB): its %d oldest message(s) deleted, "
                "those up to %s (--store-max-mb)",
                self._max_bytes // MB,
                total,
                when,
            )
        return total

    def _batches(self, step: Callable[[], int]) -> int:
        total = 0
        while not self._stop.is_set():
            done = step()
            total += done
            if done < BATCH:
                break
            self._stop.wait(PAUSE)  # let chat have the store between batches
        return total

    def start(self) -> None:
        with stop_signals_blocked():
            self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        due = self._clock()
        while not self._stop.is_set():
            try:
                if self._clock() >= due:
                    due = self._clock() + self._every
                    self.prune_once()
                self.keep_within_budget()
            except Exception:  # never let retention take the server down
                log.exception("retention round failed")
            self._stop.wait(min(self._size_every, self._every))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
