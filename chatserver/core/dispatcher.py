"""The dispatcher: one thread that takes everything queued, has it kept, and fans it out.

Publishing only queues (under the hub's lock, which the dispatcher shares).
Each round the thread takes the whole queue, asks the hub who gets what
(``snapshot``), has the room log commit it (``commit``: nobody hears of a
message before it is kept), and hands each recipient its share in queue
order (``fanout.py``). Publishers wait while the queue is over
``MAX_QUEUED_BYTES``: the backpressure that keeps a flood from buffering
without end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from chatserver.core.fanout import Member, Post, dispatch
from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

#: Published but not yet dispatched, at most (about): publishers wait beyond it.
MAX_QUEUED_BYTES = 1024 * 1024


Snapshot = Callable[[list[Post]], dict[object, list[Member]]]
"""Called with the lock held: for each room in the batch, who gets its posts."""


class Dispatcher:
    def __init__(self, lock: threading.RLock, snapshot: Snapshot, commit: Callable[[list[Post]], None]) -> None:
        self._lock = lock
        self._snapshot = snapshot
        self._commit = commit
        self._posts: list[Post] = []  # queued, not yet taken
        self._bytes = 0  # their size, roughly
        self._busy = False  # the thread holds a batch it has not finished
        self._wake = threading.Lock()  # held while the thread has nothing to do
        self._wake.acquire()
        self._idle = threading.Condition(lock)  # for flush(): nothing queued or in hand
        self._waiters = 0  # threads waiting on _idle
        with stop_signals_blocked():
            self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
            self._thread.start()

    # -- called with the lock held --
    @property
    def pending(self) -> bool:
        """Something is queued and not yet taken."""
        return bool(self._posts)

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in hand: a frame sent now cannot overtake anything."""
        return not self._posts and not self._busy

    def queue(self, post: Post) -> None:
        size = post.frame.size  # (before the post is in: one that raised would be queued without a wake-up)
        self._posts.append(post)
        self._bytes += size
        if len(self._posts) == 1 and not self._busy:
            self._wake.release()  # it sleeps, or is about to: this batch is its next

    def queue_many(self, posts: list[Post], size: int | None = None) -> None:
        """``queue`` for each of ``posts``, in order, in one call (a sender's run of messages);
        ``size``: their frames' ``size`` summed, if the caller has it already."""
        if size is None:
            size = sum([post.frame.size for post in posts])  # (before they are in, as ``queue``)
        empty = not self._posts
        self._posts += posts
        self._bytes += size
        if empty and posts and not self._busy:
            self._wake.release()

    def wait_if_behind(self, timeout: float) -> None:
        """A publisher waits (at most ``timeout`` s) while the queue is over its bound."""
        if self._bytes <= MAX_QUEUED_BYTES:
            return
        self._waiters += 1
        try:
            self._idle.wait_for(lambda: self._bytes <= MAX_QUEUED_BYTES, timeout)
        finally:
            self._waiters -= 1

    # -- any thread --
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far has been handed to its recipients'
        outboxes; False if that took longer than ``timeout``. The lock too is waited
        for within ``timeout``: a shutdown's flush returns in its time even when the
        lock is not let go (the stop a signal asked for must happen)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return False
        try:
            self._waiters += 1
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                return self._idle.wait_for(lambda: self.idle, left)
            finally:
                self._waiters -= 1
        finally:
            self._lock.release()

    def _run(self) -> None:
        while True:
            self._wake.acquire()
            while True:
                with self._lock:
                    if not self._posts:
                        self._busy = False
                        if self._waiters:
                            self._idle.notify_all()
                        break
                    posts, self._posts = self._posts, []
                    if self._waiters:
                        self._idle.notify_all()  # publishers waiting for this, or flush()
                    self._bytes = 0
                    self._busy = True
                    members = self._snapshot(posts)
                try:
                    self._commit(posts)
                except Exception:  # deliver all the same: a log that fails must not silence the chat
                    log.exception("committing a batch")
                self._deliver(posts, members)

    @staticmethod
    def _deliver(posts: list[Post], members: dict[object, list[Member]]) -> None:
        try:
            for room, full in dispatch(posts, members).items():
                room.full = full  # type: ignore[attr-defined]
        except Exception:  # the dispatcher must outlive any one bad batch
            log.exception("dispatching a batch")
