"""Helper threads that leave the stop signals to the main thread.

A thread inherits its creator's signal mask. Started with SIGINT, SIGTERM
and SIGHUP blocked, neither it nor any thread it starts (zeroconf's, say)
can take those signals, so the kernel delivers them to the main thread,
whose wait they must interrupt. Server and client both start such threads.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Threads started inside this block never receive the stop signals."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
