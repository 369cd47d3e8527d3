"""How long the client waits between reconnect attempts, and the clock it waits on.

The delays double from 0.5 s up to 30 s, each jittered down by up to half so
that many clients cut off together do not all come back in the same instant.
Time and chance are passed in (``Clock``, ``random.Random``), so tests run
the schedule with a fake clock instead of real seconds.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

FIRST = 0.5
CAP = 30.0


class Clock:
    """Real time; a test passes an object with the same two methods."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait ``seconds`` or until ``stop`` is set; True if it was set."""
        return stop.wait(seconds)


def backoff_delays(first: float = FIRST, cap: float = CAP, rng: random.Random | None = None) -> Iterator[float]:
    """Endless reconnect delays: doubling from ``first`` up to ``cap``, each
    drawn between half of it and all of it."""
    rng = rng or random.Random()
    delay = first
    while True:
        yield rng.uniform(delay / 2, delay)
        delay = min(cap, delay * 2)
