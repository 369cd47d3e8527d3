"""What the user typed, from the keyboard until the server confirms it: one queue, in order.

Every line goes into one queue that one thread (the outbox's) empties onto
the connection, so nothing typed later overtakes something typed earlier:
not during the paced resend after a reconnect, not in the moment a reconnect
completes (there is no snapshot of what to resend that a line could miss).
While disconnected the queue simply waits. Everything goes out at the
server's pace (within its burst, a person never notices; a script or a
backlog after a reconnect is slowed to the limit, never cut off for it).

Room messages sent and not yet confirmed (``accepted``/``reply``) are kept;
after a reconnect they go back to the head of the queue, unless the replay
of missed messages showed that they arrived.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from common import messages as m
from common.threads import stop_signals_blocked

from .backoff import Clock
from .connection import ClientError

Send = Callable[[m.Message], None]


class Outbox:
    def __init__(self, pace: Callable[[], float], clock: Clock | None = None) -> None:
        self._pace = pace  # seconds to wait before the next paced message
        self._clock = clock or Clock()
        self._cond = threading.Condition()
        self._queue: collections.deque[m.Message] = collections.deque()
        self._unacked: collections.deque[m.Say | m.Action] = collections.deque()
        self._send: Send | None = None  # the connection's send; None while disconnected
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> None:
        with stop_signals_blocked():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    # -- what the session tells it ----------------------------------------
    def put(self, msg: m.Message) -> bool:
        """Queue ``msg`` after everything typed before it; False if it waits for a reconnect."""
        with self._cond:
            self._queue.append(msg)
            self._cond.notify_all()
            return self._send is not None

    def connected(self, send: Send) -> int:
        """A new link: what was sent and not confirmed goes first again, then
        what was typed meanwhile, at the server's pace. Returns how many wait."""
        with self._cond:
            self._queue.extendleft(reversed(self._unacked))
            self._unacked.clear()
            self._send = send
            self._cond.notify_all()
            return len(self._queue)

    def disconnected(self) -> None:
        with self._cond:
            self._send = None

    def acknowledged(self) -> None:
        """The server confirmed the oldest unconfirmed message."""
        with self._cond:
            if self._unacked:
                self._unacked.popleft()
                self._cond.notify_all()

    def arrived(self, msg: m.Message) -> None:
        """A replayed message of ours: it did arrive before the link broke."""
        with self._cond:
            for item in self._unacked:
                if item.text == getattr(msg, "text", None):
                    self._unacked.remove(item)
                    self._cond.notify_all()
                    return

    def forget_unacked(self) -> None:
        """The server's goodbye to our quit: everything sent before it arrived."""
        with self._cond:
            self._unacked.clear()
            self._cond.notify_all()

    def unsent(self) -> int:
        """Messages taken from the user that the server has not confirmed."""
        with self._cond:
            return len(self._queue) + len(self._unacked)

    def wait_queue_below(self, count: int, timeout: float) -> bool:
        """Wait until fewer than ``count`` messages wait to be sent."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._queue) < count or self._stop.is_set(), timeout)

    def wait_empty(self, timeout: float) -> bool:
        """Wait until everything is sent and confirmed."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._unacked, timeout)

    # -- the thread that sends --------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop.is_set() or (self._send is not None and self._queue))
                if self._stop.is_set():
                    return
                head = self._queue[0]
            delay = self._pace()
            if delay > 0 and self._clock.wait(self._stop, delay):
                return
            with self._cond:
                if self._stop.is_set():
                    return
                send = self._send
                if send is None or not self._queue or self._queue[0] is not head:
                    continue  # the link broke meanwhile: it waits for the next one
                self._queue.popleft()
                try:
                    send(head)  # (only queues it for the connection's writer)
                except ClientError:  # the link is over; the receiver reconnects
                    self._queue.appendleft(head)
                    self._send = None
                    continue
                if isinstance(head, (m.Say, m.Action)):  # confirmed one by one (accepted or reply)
                    self._unacked.append(head)
                self._cond.notify_all()
