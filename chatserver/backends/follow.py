"""Waking whoever follows rooms in this process when a broker here keeps a message.

The memory and SQLite brokers number and keep messages in this process, so
their ``follow`` waits on this rather than polling. A publisher never waits
here on a follower's read: followers read outside the condition's lock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FOLLOW_PAGE = 1000  # messages of a room one ``follow`` returns at most (the first after the position)


class Followers:
    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._counter = itertools.count(1)
        self._generation = 0
        self._waiting = 0

    def published(self) -> None:
        """A message was kept (call after it is readable)."""
        self._generation = next(self._counter)
        if self._waiting:
            with self._changed:
                self._changed.notify_all()

    def wait(self, read: Callable[[], list[T]], timeout: float) -> list[T]:
        """``read()``, again after something is published if it found nothing, until ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._waiting += 1
        try:
            while True:
                seen = self._generation
                found = read()
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                with self._changed:
                    if self._generation == seen:
                        self._changed.wait(left)
        finally:
            with self._changed:
                self._waiting -= 1
