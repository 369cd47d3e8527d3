"""The dispatcher: one thread that takes everything queued and fans it out, the room log committing in step.

Publishing only queues (under the hub's lock, which the dispatcher shares).
Each round the thread takes the whole queue, asks the hub who gets what
(``snapshot``) and hands each recipient its share in queue order
(``fanout.py``). A sender hears that its message was accepted (its receipt)
only once the room log has committed it (``commit``).

A log whose commit may wait on a disk (SQLite, with its ``mark_ahead``)
commits on a thread of its own, the committer, beside the fan-out: a write
to a busy disk can take tens of milliseconds, and nobody but the senders
waits for it. Everyone else gets the batch at once; a sender of a message in
it gets its share (its receipts) once the commit is done, and everything
queued for it after that share waits behind it (*held*), so each session
still gets everything in queue order, and nothing showing a sender its own
message (a receipt, a ``/history``) goes out before the message is kept.
The committer commits whatever is staged when it turns, several batches at
once when the disk was slow. A log in memory commits in the dispatcher's own
turn, before it delivers.

Publishers wait while the queue is over ``MAX_QUEUED_BYTES``, and the
dispatcher waits for the committer while more than ``MAX_UNCOMMITTED`` posts
are not yet committed: the backpressure that keeps a flood (or a stuck disk)
from buffering without end.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from collections.abc import Callable

from chatserver.core.fanout import Member, Post, Subscriber, deliver_direct, dispatch, runs
from common import messages as m
from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

#: Published but not yet dispatched, at most (about): publishers wait beyond it.
MAX_QUEUED_BYTES = 1024 * 1024
#: Dispatched posts whose commit is not done, at most: the dispatcher waits beyond it.
MAX_UNCOMMITTED = 8192


Snapshot = Callable[[list[Post]], dict[object, list[Member]]]
"""Called with the lock held: for each room in the batch, who gets its posts."""


@dataclasses.dataclass(slots=True)
class _Later:
    """Held subscribers' shares of one run: delivered once commit number ``need`` is done."""

    need: int
    posts: list[Post]
    members: dict[object, list[Member]] | None  # None: ``posts`` is one post to a subscriber alone


def _kept(post: Post) -> bool:
    """A sender's message the log keeps: the sender hears nothing more until it is committed
    (its receipt, if it gets one, or a reply showing the message, if it gets none)."""
    return post.exclude is not None and isinstance(post.frame.msg, m.ChatMessage)


class Dispatcher:
    def __init__(
        self,
        lock: threading.RLock,
        snapshot: Snapshot,
        commit: Callable[[list[Post]], None],
        *,
        mark_ahead: Callable[[bool], None] | None = None,
    ) -> None:
        self._lock = lock
        self._snapshot = snapshot
        self._commit = commit
        self._posts: list[Post] = []  # queued, not yet taken
        self._bytes = 0  # their size, roughly
        self._busy = False  # the thread holds a batch it has not finished
        self._wake = threading.Semaphore(0)  # the thread sleeps on it while it has nothing to do
        self._idle = threading.Condition(lock)  # for flush(): nothing queued or in hand
        self._waiters = 0  # threads waiting on _idle
        #: Shares waiting for a commit, in order, with whom they are for, and how many of them
        #: each such subscriber has (dispatcher thread only; others ask whether it is empty).
        self._waiting: collections.deque[tuple[_Later, set[Subscriber]]] = collections.deque()
        self._held: dict[Subscriber, int] = {}
        self._aside = mark_ahead is not None
        self._mark_ahead = mark_ahead or (lambda ahead: None)
        self._commits = threading.Condition(threading.Lock())  # the committer's queue
        self._to_commit: list[tuple[int, list[Post]]] = []  # (batch number, its posts)
        self._numbered = 0  # batches handed to the committer
        self._committed = 0  # the last of them committed
        self._uncommitted = 0  # posts handed over and not yet committed
        with stop_signals_blocked():
            if self._aside:
                threading.Thread(target=self._commit_forever, name="committer", daemon=True).start()
            self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
            self._thread.start()

    # -- called with the lock held --
    @property
    def pending(self) -> bool:
        """Something is queued and not yet taken."""
        return bool(self._posts)

    @property
    def idle(self) -> bool:
        """Nothing queued, in hand or held: a frame sent now cannot overtake anything."""
        return not self._posts and not self._busy and not self._waiting

    def queue(self, post: Post) -> None:
        self._posts.append(post)
        self._bytes += post.frame.size
        if len(self._posts) == 1 and not self._busy:
            self._wake.release()  # it sleeps, or is about to: this batch is its next

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
        outboxes (held shares included); False if that took longer than ``timeout``."""
        with self._idle:
            self._waiters += 1
            try:
                return self._idle.wait_for(lambda: self.idle, timeout)
            finally:
                self._waiters -= 1

    # -- the dispatcher thread --
    def _run(self) -> None:
        while True:
            self._wake.acquire()
            while True:
                self._busy = True  # (releasing held shares: flush() waits for them too)
                self._release()
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
                    members = self._snapshot(posts)
                if self._aside:
                    batch = self._hand_over(posts)
                    self._deliver(posts, members, batch)
                    with self._commits:  # (woken only now: on one core it would run before the fan-out)
                        self._commits.notify_all()
                    continue
                try:
                    self._commit(posts)
                except Exception:  # deliver all the same: a log that fails must not silence the chat
                    log.exception("committing a batch")
                self._deliver(posts, members, 0)

    def _deliver(self, posts: list[Post], members: dict[object, list[Member]], batch: int) -> None:
        """Hand out the batch; the senders of messages in commit ``batch`` (0: none is
        awaited), and whoever is held already, get their shares later, in order."""
        if batch and batch <= self._committed:
            batch = 0  # (committed already: nobody waits for it)
        for run in runs(posts):
            try:
                to = run[0].to
                if to is not None:
                    if to in self._held:
                        self._later(_Later(0, run, None), {to})
                    else:
                        deliver_direct(run[0])
                    continue
                owed = {p.exclude for p in run if _kept(p)} if batch else set()
                later = set(owed)
                if self._held:
                    present = {mb.sub for room in {p.room for p in run} for mb in members[room]}
                    later |= self._held.keys() & (present | {p.exclude for p in run})
                if not later:
                    for room, full in dispatch(run, members).items():
                        room.full = full  # type: ignore[attr-defined]
                    continue
                # Now, to the others: the posts of those held as plain room posts (they are not
                # among the members given, so they get nothing of this run now).
                now = [Post(p.room, p.index, p.frame) if p.exclude in later else p for p in run]
                others = {room: [mb for mb in mbs if mb.sub not in later] for room, mbs in members.items()}
                for room, full in dispatch(now, others).items():
                    room.full = full  # type: ignore[attr-defined]
                # Later, to them: the others' posts as plain room posts too (a sender not among the
                # members given would get its receipts again).
                mine = [p if p.exclude is None or p.exclude in later else Post(p.room, p.index, p.frame) for p in run]
                theirs = {room: [mb for mb in mbs if mb.sub in later] for room, mbs in members.items()}
                self._later(_Later(batch if owed else 0, mine, theirs), later)
            except Exception:  # the dispatcher must outlive any one bad batch
                log.exception("dispatching a batch")

    def _later(self, later: _Later, subs: set[Subscriber]) -> None:
        """Hold ``subs``' shares of a run (or a post to one of them) until its commit is done."""
        self._waiting.append((later, subs))
        for sub in subs:
            self._held[sub] = self._held.get(sub, 0) + 1

    def _release(self) -> None:
        """Deliver the held shares whose commit is done, in the order they were held (so each
        subscriber gets its own in order), each sender its receipts in their places."""
        done = self._committed
        while self._waiting and self._waiting[0][0].need <= done:
            later, subs = self._waiting[0]
            try:
                if later.members is None:
                    deliver_direct(later.posts[0])
                else:
                    dispatch(later.posts, later.members)
            except Exception:
                log.exception("delivering held shares")
            self._waiting.popleft()  # (after delivering: until then, flush() and send_to() see them held)
            for sub in subs:
                left = self._held.pop(sub) - 1
                if left:
                    self._held[sub] = left

    def _hand_over(self, posts: list[Post]) -> int:
        """Give the batch to the committer (woken after the fan-out); returns its number
        (waits while too much is uncommitted)."""
        with self._commits:
            self._commits.wait_for(lambda: self._uncommitted <= MAX_UNCOMMITTED)
            self._numbered += 1
            if self._numbered == self._committed + 1:
                self._mark_ahead(True)  # (what the next server needs if this one dies now)
            self._to_commit.append((self._numbered, posts))
            self._uncommitted += len(posts)
            return self._numbered

    # -- the committer thread --
    def _commit_forever(self) -> None:
        while True:
            with self._commits:
                self._commits.wait_for(lambda: bool(self._to_commit))
                batches, self._to_commit = self._to_commit, []
            posts = [p for _, batch in batches for p in batch]
            try:
                self._commit(posts)
            except Exception:  # the receipts go out all the same (the hub marks what was not kept)
                log.exception("committing a batch")
            with self._commits:
                self._committed = batches[-1][0]
                if self._committed == self._numbered:
                    self._mark_ahead(False)
                self._uncommitted -= len(posts)
                self._commits.notify_all()
            self._wake.release()  # the dispatcher hands out what waited for this
