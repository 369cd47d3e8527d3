"""Growing delays after failures, per key (an address, an account), on an injectable clock.

After the n-th failure in a row a key is held for ``first * 2**(n-1)`` seconds
(at most ``longest``): an attempt before then is refused at once, unchecked,
so parallel connections guess no faster than one. A success clears the key;
a key quiet for ``forget_after`` seconds starts over. The table is bounded
(the oldest key goes first): an attacker with many addresses costs memory
it cannot grow without end.

The server password's throttle (``net/server.py``'s ``auth_failed``) and the
accounts' logins and registrations use this one class.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class Throttle:
    def __init__(
        self,
        *,
        first: float,
        longest: float,
        forget_after: float = 3600.0,
        free: int = 0,
        clock: Callable[[], float] = time.monotonic,
        size: int = 10_000,
    ) -> None:
        self._first, self._longest, self._forget = first, longest, forget_after
        #: Failures in a row that cost nothing (a registration throttle lets a few through).
        self._free = free
        self._clock = clock
        self._size = size
        self._lock = threading.Lock()
        #: key -> (failures in a row, held until, last failure)
        self._keys: OrderedDict[str, tuple[int, float, float]] = OrderedDict()

    def _entry(self, key: str, now: float) -> tuple[int, float, float]:
        entry = self._keys.get(key)
        if entry is None or now - entry[2] >= self._forget:
            return (0, now, now)
        return entry

    def wait(self, key: str) -> float:
        """Seconds ``key`` must still wait before its next attempt (0: it may go now)."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._entry(key, now)[1] - now)

    def failed(self, key: str) -> float:
        """Count a failure of ``key``; how long it is held now (0 while failures are free)."""
        return self.fail(key)[0]

    def fail(self, key: str) -> tuple[float, int]:
        """Count a failure of ``key``: how long it is held now, and its failures in a row with this one,
        read together (two failures at once must not both see the second)."""
        with self._lock:
            now = self._clock()
            failures = self._entry(key, now)[0] + 1
            counted = failures - self._free
            delay = 0.0 if counted <= 0 else min(self._longest, self._first * 2 ** (counted - 1))
            self._keys[key] = (failures, now + delay, now)
            self._keys.move_to_end(key)
            while len(self._keys) > self._size:  # bounded: forget the oldest
                self._keys.popitem(last=False)
            return delay, failures

    def failures(self, key: str) -> int:
        with self._lock:
            return self._entry(key, self._clock())[0]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)
