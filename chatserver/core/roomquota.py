"""Who may make a room, and how fast anyone joins one: budgets per address, and rooms held in reserve.

Rooms are a shared, bounded thing (``hub.MAX_ROOMS`` in memory at once): one
address (one machine, or everyone behind one NAT) must not take them all.
So an address makes at most ``per_hour`` rooms in any hour (a sliding
window); the last tenth of the cap is kept for addresses that made few of
the rooms with people in them now (so others can still make one when an
address has filled the rest); and an address joins rooms at most
``JOIN_RATE`` a second on average (a token bucket, bursts of
``JOIN_BURST``: a reconnect back into every room it was in passes). The hub
asks ``refusal`` under its lock before it makes a room and says ``made``
after; membership asks ``join`` before each join. Time comes from an
injectable ``clock``.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from common.commands import format_duration
from common.ratelimit import TokenBucket

ROOMS_PER_HOUR = 50  # rooms one address may make in an hour (as many as one session may be in)
WINDOW = 3600.0  # seconds: the hour of ``ROOMS_PER_HOUR``
RESERVE_SHARE = 0.1  # the last tenth of the room cap...
FEW = 3  # ...is for addresses that made fewer than this many of the rooms with people in them
JOIN_RATE = 2.0  # joins a second per address, on average
JOIN_BURST = 100  # joins at once per address
MAX_ADDRESSES = 10_000  # addresses remembered, at most (the longest unseen forgotten first)


class RoomQuota:
    """The budgets of every address; safe to use from any thread."""

    def __init__(
        self,
        per_hour: int = ROOMS_PER_HOUR,
        *,
        join_rate: float = JOIN_RATE,
        join_burst: int = JOIN_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_hour = per_hour
        self.join_rate, self.join_burst = join_rate, join_burst
        self._clock = clock
        self._lock = threading.Lock()
        self._made: dict[str, collections.deque[float]] = {}  # address -> when it made rooms, this hour
        self._joins: dict[str, TokenBucket] = {}  # address -> its joins

    def refusal(self, address: str, *, mine: int, busy: int, cap: int) -> str:
        """Why ``address`` may not make a room now ("" if it may). ``mine``: the
        rooms with people in them that it made; ``busy``: all rooms with people
        in them; ``cap``: the most rooms there may be."""
        with self._lock:
            made = self._recent(address)
            if len(made) >= self.per_hour:
                wait = format_duration(made[0] + WINDOW - self._clock())
                rooms = f"{len(made)} room" + ("s" if len(made) != 1 else "")
                return (
                    f"{address} made {rooms} in the last hour, the most one address may; "
                    f"a new one can be made in {wait}"
                )
        reserve = int(cap * RESERVE_SHARE)
        if reserve and busy >= cap - reserve and mine >= FEW:
            return f"the last {reserve} rooms are kept for people who have made fewer than {FEW} of those in use"
        return ""

    def made(self, address: str) -> None:
        """``address`` made a room (``refusal`` let it)."""
        with self._lock:
            self._recent(address).append(self._clock())

    def _recent(self, address: str) -> collections.deque[float]:
        """When ``address`` made rooms in the last ``WINDOW`` (lock held)."""
        made = self._made.pop(address, None)  # (put back last: the longest unseen come first)
        if made is None:
            made = collections.deque()
            if len(self._made) >= MAX_ADDRESSES:
                del self._made[next(iter(self._made))]
        cutoff = self._clock() - WINDOW
        while made and made[0] <= cutoff:
            made.popleft()
        self._made[address] = made
        return made

    def join(self, address: str) -> str:
        """Count one join from ``address``: "" if it may, else why not (nothing counted)."""
        with self._lock:
            bucket = self._joins.pop(address, None)
            if bucket is None:
                bucket = TokenBucket(self.join_rate, self.join_burst, clock=self._clock)
                if len(self._joins) >= MAX_ADDRESSES:
                    del self._joins[next(iter(self._joins))]
            self._joins[address] = bucket
            if bucket.take():
                return ""
        return f"joining rooms too fast from {address} (at most {self.join_rate:g} a second); try again in a moment"
