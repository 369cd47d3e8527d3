"""How much ``/away`` a person may say: a bounded reason, and a bounded number of changes a minute.

Every away change is announced to each room the person is in, so without a
bound one person toggling ``/away`` in a loop makes every member of its rooms
read a line per toggle (a notice costs the room's size, as a message does,
but passes no message rate limit of its own once the line is in). So a person
may change its away state ``CHANGES`` times per ``WINDOW`` seconds; past that
it is refused, with the wait, and nothing is announced. A reason longer than
``REASON`` characters is refused too, rather than cut where the reader cannot
tell. The window is counted on the wall clock the server's sanctions use
(``Sanctions.clock``, injectable), per person, and forgotten with the person.
"""

from __future__ import annotations

import collections
import math
import threading
import weakref
from collections.abc import Callable

from common.rooms import MAX_TOPIC

CHANGES = 5  # away changes (away or back) per person ...
WINDOW = 60.0  # ... per this many seconds
REASON = MAX_TOPIC  # characters in an away reason, at most (once on one line)


class AwayChanges:
    """When each person last changed its away state (its last ``CHANGES`` changes at most)."""

    def __init__(self, changes: int = CHANGES, window: float = WINDOW) -> None:
        self.changes = changes
        self.window = window
        self._seen: weakref.WeakKeyDictionary[object, collections.deque[float]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def refusal(self, who: object, reason: str, clock: Callable[[], float]) -> str:
        """Why ``who`` may not set ``reason`` now ("" if it may; then the change is counted)."""
        if len(reason) > REASON:
            return f"an away reason is at most {REASON} characters (this one has {len(reason)})"
        now = clock()
        with self._lock:
            seen = self._seen.get(who)
            if seen is None:
                seen = self._seen[who] = collections.deque(maxlen=self.changes)
            if len(seen) == self.changes and now - seen[0] < self.window:
                wait = math.ceil(self.window - (now - seen[0]))
                return f"at most {self.changes} away changes a minute: try again in {wait} s"
            seen.append(now)
        return ""


#: Every person's changes (one table for the process: people are its keys, weakly).
CHANGED = AwayChanges()
