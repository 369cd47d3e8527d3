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
import threading
from collections.abc import Callable, Iterator
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


def run_within(work: Callable[[], None], limit: float, overrun: Callable[[], None]) -> None:
    """``work()`` in a helper thread, waited for ``limit`` s at most: the main thread's
    shutdown then ends in its time whatever ``work`` waits for (a lock nobody lets go);
    ``overrun`` is called when it did not finish (it may end the process). An exception
    from ``work`` is raised here, as if it ran in this thread."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # (handed to the waiting thread)
            failed.append(exc)

    with stop_signals_blocked():
        thread = threading.Thread(target=run, name="shutdown", daemon=True)
        thread.start()
    thread.join(limit)
    if thread.is_alive():
        overrun()
    elif failed:
        raise failed[0]
