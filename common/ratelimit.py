"""Rate limiting: a token bucket that slows a sender down.

The server limits each connection with one; the client paces its own lines
with one set a little below the limit the server announces in ``welcome``,
so that a script piping many lines is slowed, never cut off for flooding.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` messages per second on average, bursts of up to ``burst``.

    ``delay`` takes one token and says how long to wait before acting on the
    message: the sender is slowed (its unread input backs up in TCP), not
    refused, so nothing it sent is lost. ``clock`` gives the time in seconds
    (a test passes a fake one).
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def delay(self) -> float:
        self._refill()
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self) -> bool:
        """Take a token if there is one; with none left, False and nothing taken
        (for what is refused rather than slowed)."""
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
