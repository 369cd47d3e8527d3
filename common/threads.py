"""Helper threads that leave the stop signals to the main thread.

A thread inherits its creator's signal mask. Started with SIGINT, SIGTERM
and SIGHUP blocked, neither it nor any thread it starts (zeroconf's, say)
can take those signals, so the kernel delivers them to the main thread,
whose wait they must interrupt. Server and client both start such threads.
"""

from __future__ import annotations

import contextlib
import queue
import signal
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Threads started inside this block never receive the stop signals."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


#: How long the main thread's wait for a stop blocks at a time.
SIGNAL_POLL = 0.25


def wait_for_stop(q: queue.SimpleQueue[T] | queue.Queue[T]) -> T:
    """``q.get()`` that a signal handler's ``q.put`` always ends.

    A signal caught just before the thread blocks in ``get`` runs its handler
    only when the thread next runs Python code: a wait with no end would miss
    it (seen: a server that ignored SIGTERM under load). Waiting in short
    rounds bounds that to ``SIGNAL_POLL``.
    """
    while True:
        try:
            return q.get(timeout=SIGNAL_POLL)
        except queue.Empty:
            continue
