"""Tells the chat page's sessions when the server's rooms changed, so its room list needs no refresh button.

A room made or emptied, a topic set, someone coming or going: none of these
reaches a person who is not in that room, and the page lists every room.
One thread, alive while any page is connected, looks at the hub's list of
rooms every ``interval`` seconds and, when it differs from the last look,
sends each page the notice ``rooms`` (no room, no text to show), on which
the page asks for the list as ``/rooms`` does. A page that asked for
nothing is told nothing else: what a list holds stays the answer to
``ListRooms`` (its pages, and which rooms are the asker's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from common import messages as m

log = logging.getLogger(__name__)

#: Seconds between two looks at the rooms (a change reaches the pages within about this).
INTERVAL = 1.0


class Told(Protocol):
    """What the watch needs of a page's person (``rules.participant.Participant``)."""

    registered: bool

    def send(self, msg: m.Message) -> None: ...


class RoomWatch:
    """The pages to tell (``add``/``discard`` as they connect and go) and the thread that looks."""

    def __init__(self, rooms: Callable[[], Sequence[object]], interval: float = INTERVAL) -> None:
        self._rooms = rooms
        self.interval = interval
        self._lock = threading.Lock()
        self._pages: set[Told] = set()
        self._thread: threading.Thread | None = None
        self._last: tuple[object, ...] | None = None

    def add(self, page: Told) -> None:
        with self._lock:
            self._pages.add(page)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="page-roomwatch", daemon=True)
                self._thread.start()

    def discard(self, page: Told) -> None:
        with self._lock:
            self._pages.discard(page)

    def _run(self) -> None:
        wake = threading.Event()  # (never set: a pause the shutdown of the process ends)
        while True:
            with self._lock:
                if not self._pages:  # the last page went: the thread ends, the next page starts one
                    self._thread = None
                    self._last = None
                    return
                pages = list(self._pages)
            try:
                now = tuple(self._rooms())
            except Exception as exc:  # (a cluster without Redis, say): looked at again next time
                log.debug("room watch: %s", exc)
                now = self._last or ()
            if self._last is not None and now != self._last:
                told = m.Notice(text="the rooms changed", ts=time.time(), event="rooms")
                for page in pages:
                    if page.registered:
                        page.send(told)
            self._last = now
            wake.wait(self.interval)
