"""Read markers: per account, per room or private conversation, the time of the last message read (port, memory).

IRCv3's ``draft/read-marker`` idea: whatever one of an account's devices has
read stops counting as unread on the others. A marker only moves forward
(a device that read less than another does not move it back). Kept per
account (its ``nick_key``), per target as the rules spell it (a room's name,
``@ACCOUNT`` for a private conversation); ``MAX_MARKERS`` of an account's at
most, the oldest going first, so an account marking many rooms costs a
bounded amount. Memory here, SQLite (``sqlite/markers.py``), Redis
(``cluster/redismarkers.py``); one contract suite (``tests/test_markers_store.py``).
"""

from __future__ import annotations

import threading
from typing import Protocol

from common.nicks import nick_key

#: Markers kept per account, at most (the oldest go first).
MAX_MARKERS = 500


class MarkerStore(Protocol):
    def mark(self, account: str, target: str, ts: float) -> float:
        """Move ``account``'s marker in ``target`` to ``ts`` if that is later than the one
        kept; the marker now (``ts``, or the later one kept)."""

    def markers(self, account: str) -> dict[str, float]:
        """Every marker of ``account``: target -> time."""

    def forget(self, account: str) -> None:
        """The account is gone: its markers with it."""


class MemoryMarkers:
    """``MarkerStore`` in a dict (``--store memory``; tests)."""

    def __init__(self, cap: int = MAX_MARKERS) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._kept: dict[str, dict[str, float]] = {}

    def mark(self, account: str, target: str, ts: float) -> float:
        with self._lock:
            mine = self._kept.setdefault(nick_key(account), {})
            now = max(ts, mine.get(target, ts))
            mine[target] = now
            while len(mine) > self._cap:
                del mine[min(mine, key=mine.__getitem__)]
            return now

    def markers(self, account: str) -> dict[str, float]:
        with self._lock:
            return dict(self._kept.get(nick_key(account), {}))

    def forget(self, account: str) -> None:
        with self._lock:
            self._kept.pop(nick_key(account), None)
