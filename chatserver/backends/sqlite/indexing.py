"""The word index filled behind the commits, on a thread of its own, so that a commit seldom indexes.

A commit that indexed (``search.py``'s ``INDEX_ROWS`` rows, or a second
after the last filling) held up the delivery of its whole batch for the
FTS5 insert and its merges, now and then many times a plain commit's time,
and the messages arriving meanwhile waited behind it: at a steady 500
messages a second, about twice a second, enough of the deliveries to move
the latency p99 (docs/performance.md). So a commit that leaves ``EARLY_ROWS`` rows unindexed only wakes this
thread, which indexes them in a transaction of its own under the writer's
lock while the batch is delivered; the commit's own filling stays, for when
this thread falls behind (and at a second, for the few rows of a quiet
room). Rows are searchable before they are indexed (``WordIndex.search``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

#: Rows written and not indexed after which a commit wakes the indexer (``search.INDEX_ROWS``, twice
#: as many, is where the commit indexes them itself).
EARLY_ROWS = 128
#: Rows indexed in one transaction of this thread, at most: the writer's lock is let go between two,
#: so a commit waits for one such chunk at most (its FTS5 insert and merges), not a whole filling.
INDEX_CHUNK = 128


class Indexer:
    def __init__(self, catch_up: Callable[[], None]) -> None:
        self._catch_up = catch_up  # every row not indexed yet put in the index, the writer's lock taken
        self._changed = threading.Condition()
        self._asked = 0  # wake-ups so far
        self._done = 0  # the wake-ups the last filling answered
        self._stopped = False
        with stop_signals_blocked():
            self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Rows wait to be indexed (called by a commit)."""
        with self._changed:
            self._asked += 1
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Until every wake-up so far is answered; False past ``timeout`` seconds."""
        with self._changed:
            target = self._asked
            return self._changed.wait_for(lambda: self._done >= target or self._stopped, timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._asked > self._done or self._stopped)
                if self._stopped:
                    return
                target = self._asked
            try:
                self._catch_up()
            except Exception:  # (the commits index, then: nothing is lost)
                log.exception("indexing the store's words")
            with self._changed:
                self._done = target
                self._changed.notify_all()

    def stop(self) -> None:
        """No more fillings; returns once the one under way (if any) is over. Without giving up:
        the store closes its file after this, and a filling goes at most one chunk past a close
        begun (``SqliteStore._index_behind`` stops once the store is closing)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._thread.join()
