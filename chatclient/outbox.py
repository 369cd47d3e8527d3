"""What the user typed, from the keyboard until the server confirms it: one queue, in order.

Every line goes into one queue that one thread (the outbox's) empties onto
the socket itself, so nothing typed later overtakes something typed earlier:
not during the paced resend after a reconnect, not in the moment a reconnect
completes (there is no snapshot of what to resend that a line could miss).
A line leaves the queue only when its write begins; there is no second queue
behind it (the connection writes what it is given, or fails), so a line is
never both waiting here and waiting there, and a link that breaks drops
nothing typed: a line whose write failed goes back to the head. While
disconnected, or while the server reads nothing, the queue simply waits (the
UI and the receiver never wait on the socket). Everything goes out at the
server's pace (within its burst, a person never notices; a script or a
backlog after a reconnect is slowed to the limit, never cut off for it).
The session's own frames (a pong, the quit of ``leave``) are not typed
lines: they go out on this thread too, before the next line, unpaced.

Room messages sent and not yet confirmed (``accepted``/``reply``) are kept;
after a reconnect they go back to the head of the queue, unless the replay
of missed messages showed that they arrived. One the server could not take
because its cluster link is down (``cluster_unavailable``) is kept too, and
goes first again when the server says the link is back (or after a reconnect).

A room message carries the room it was typed for, and is sent only while we
are in that room: if a reconnect lands elsewhere (the server did not take us
back), it is held, the user is told, and it goes out only if we get back
there (``/join``). After a ``/join``, or a ``/part`` of the focused room,
nothing more is sent until the server answered it, so that what was typed
for the room it leads to lands there.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable

from common import messages as m
from common.rooms import InvalidRoom, room_key, validate_room
from common.threads import stop_signals_blocked

from .backoff import Clock
from .errors import ClientError

Send = Callable[[m.Message], None]
#: Typed lines the server confirms one by one (``accepted``, or a ``reply`` to a bot's line).
Confirmed = m.Say | m.Action


@dataclasses.dataclass(eq=False)
class Outgoing:
    msg: m.Message
    #: The room it was typed for (a room message, a topic); None: it may go anywhere.
    room: str | None


def _destination(msg: m.Message, here: str | None) -> str | None:
    """The room we are in after ``msg`` (a ``/join`` or ``/part``), from
    ``here``; None: not known until the server answers (leaving the focused
    room, the server chooses the room we go to)."""
    if isinstance(msg, m.Part):
        if msg.room is not None and here is not None and not _same_room(msg.room, here):
            return here  # another of our rooms (or none of them: refused): the focus stays
        return None
    if isinstance(msg, m.Join):
        try:
            return validate_room(msg.room)
        except InvalidRoom:
            return here  # the server refuses it: we stay
    return here


def _sent_to(item: Outgoing) -> str | None:
    """The room a confirmed line went to: the one it names (``/say #ROOM``), else the one it was typed for."""
    assert isinstance(item.msg, Confirmed)  # (only those wait for a confirmation)
    return item.msg.room or item.room


def _same_room(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and room_key(a) == room_key(b)


class Outbox:
    def __init__(
        self,
        room: str,
        pace: Callable[[], float],
        clock: Clock | None = None,
        on_held: Callable[[str, int, str], None] = lambda room, count, here: None,
    ) -> None:
        self._pace = pace  # seconds to wait before the next message
        self._clock = clock or Clock()
        #: Told (outside the lock) when lines typed for ``room`` are held, as we are in ``here``.
        self._on_held = on_held
        self._cond = threading.Condition()
        self._room = room  # where the server last said we are
        #: A /join or /part is sent and not yet answered; where it leads (None: we will be told).
        self._answer_due = False
        self._moving_to: str | None = None
        self._queue: collections.deque[Outgoing] = collections.deque()
        self._unacked: collections.deque[Outgoing] = collections.deque()
        #: Sent, and refused for now (the server's cluster link is down): sent again when it is back.
        self._waiting: list[Outgoing] = []
        self._held: dict[str, list[Outgoing]] = {}  # room key -> lines typed for a room we are not in
        #: The session's own frames for this link (pongs, a quit): before the next line, unpaced.
        self._urgent: collections.deque[m.Message] = collections.deque()
        self._send: Send | None = None  # the connection's send (it writes); None while disconnected
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
            bound = isinstance(msg, (m.Say, m.Action, m.SetTopic))
            self._queue.append(Outgoing(msg, self._typing_room() if bound else None))
            self._cond.notify_all()
            return self._send is not None

    def urgent(self, msg: m.Message) -> bool:
        """Send ``msg`` (not a typed line) before the next line; False (dropped) while disconnected."""
        with self._cond:
            if self._send is None:
                return False
            self._urgent.append(msg)
            self._cond.notify_all()
            return True

    def _typing_room(self) -> str | None:
        """The room a line typed now is meant for: where the ``/join`` and
        ``/part`` still queued or unanswered lead, else where we are. None
        after leaving the focused room: the line goes where the server put us
        (nothing is sent after a /part until the server answered it)."""
        room = self._moving_to if self._answer_due else self._room
        for item in self._queue:
            if isinstance(item.msg, (m.Join, m.Part)):
                room = _destination(item.msg, room)
        return room

    def entered(self, room: str) -> int:
        """The server says we are in ``room`` (welcome, joined): what was held
        for it goes first. Returns how many lines that releases."""
        with self._cond:
            self._room = room
            self._answer_due, self._moving_to = False, None
            released = self._held.pop(room_key(room), [])
            self._queue.extendleft(reversed(released))
            self._cond.notify_all()
            return len(released)

    def refused(self) -> None:
        """The server refused something (maybe the ``/join`` we wait on): go on."""
        with self._cond:
            if self._answer_due:
                self._answer_due, self._moving_to = False, None
                self._cond.notify_all()

    def connected(self, send: Send) -> int:
        """A new link: what was sent and not confirmed goes first again, then
        what was typed meanwhile, at the server's pace. Returns how many of
        them go out here (not those typed for another room)."""
        with self._cond:
            self._queue.extendleft(reversed([*self._waiting, *self._unacked]))  # (in the order they were sent)
            self._waiting.clear()
            self._unacked.clear()
            self._answer_due, self._moving_to = False, None  # (the welcome says where we are)
            self._send = send
            self._cond.notify_all()
            return sum(item.room is None or _same_room(item.room, self._room) for item in self._queue)

    def disconnected(self) -> None:
        with self._cond:
            self._send = None
            self._urgent.clear()  # (a pong, a quit: for that link only)

    def acknowledged(self, room: str | None = None) -> None:
        """The server confirmed a message: the oldest unconfirmed one sent to
        ``room`` (an ``accepted`` names it), else the oldest of all. Acks come
        in the order the server stamped the messages, which across rooms need
        not be the order they were sent in (another room's may be stamped later)."""
        with self._cond:
            if not self._unacked:
                return
            item = next((x for x in self._unacked if _same_room(_sent_to(x), room)), None)
            if item is None:
                self._unacked.popleft()
            else:
                self._unacked.remove(item)
            self._cond.notify_all()

    def oldest_unconfirmed(self) -> m.Message | None:
        """The message the next confirmation (or refusal) answers, if any: what ``acknowledged`` takes."""
        with self._cond:
            return self._unacked[0].msg if self._unacked else None

    def unavailable(self) -> bool:
        """The server could not take the oldest unconfirmed message now (its
        cluster link is down): it waits for ``available``. False if none was unconfirmed."""
        with self._cond:
            if not self._unacked:
                return False
            self._waiting.append(self._unacked.popleft())
            self._cond.notify_all()
            return True

    def available(self) -> int:
        """The server can take messages again: those it could not take go
        first, in the order they were typed. Returns how many."""
        with self._cond:
            waiting, self._waiting = self._waiting, []
            self._queue.extendleft(reversed(waiting))
            self._cond.notify_all()
            return len(waiting)

    def arrived(self, msg: m.ChatMessage) -> None:
        """A replayed message of ours: it did arrive before the link broke."""
        with self._cond:
            for item in self._unacked:
                if isinstance(item.msg, Confirmed) and item.msg.text == msg.text:
                    self._unacked.remove(item)
                    self._cond.notify_all()
                    return

    def forget_unacked(self) -> None:
        """The server's goodbye to our quit: everything sent before it arrived."""
        with self._cond:
            self._unacked.clear()
            self._cond.notify_all()

    def unsent(self) -> int:
        """Messages taken from the user that the server has not confirmed (held ones too)."""
        with self._cond:
            held = sum(map(len, self._held.values()))
            return len(self._queue) + len(self._unacked) + len(self._waiting) + held

    def wait_queue_below(self, count: int, timeout: float) -> bool:
        """Wait until fewer than ``count`` messages wait to be sent (behind the
        one being written, while the socket takes nothing)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._queue) < count or self._stop.is_set(), timeout)

    def wait_empty(self, timeout: float) -> bool:
        """Wait until everything is sent and confirmed (but what is held: that waits for a /join)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._unacked and not self._waiting, timeout)

    # -- the thread that sends --------------------------------------------
    def _ready(self) -> bool:
        return self._send is not None and bool(self._queue) and not self._answer_due

    def _hold_misplaced(self) -> dict[str, int]:
        """Set aside the lines at the head of the queue typed for another room."""
        held: dict[str, int] = {}
        while self._queue and self._queue[0].room is not None and not _same_room(self._queue[0].room, self._room):
            item = self._queue.popleft()
            self._held.setdefault(room_key(item.room), []).append(item)
            held[item.room] = held.get(item.room, 0) + 1
        return held

    def _has_work(self) -> bool:
        return self._stop.is_set() or (self._send is not None and bool(self._urgent)) or self._ready()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work)
                if self._stop.is_set():
                    return
                send = self._send
                frame = self._urgent.popleft() if send is not None and self._urgent else None
                if frame is None:
                    held, here = self._hold_misplaced(), self._room
                    head = self._queue[0] if self._queue else None
            if send is not None and frame is not None:
                self._write(send, frame, None)
                continue
            for room, count in held.items():
                self._on_held(room, count, here)
            if head is not None:
                self._send_line(head)

    def _send_line(self, head: Outgoing) -> None:
        """Send the head of the queue once the server's pace allows (unless it changed meanwhile)."""
        delay = self._pace()
        if delay > 0 and self._clock.wait(self._stop, delay):
            return
        with self._cond:
            send = self._send
            if self._stop.is_set() or send is None or not self._ready() or self._queue[0] is not head:
                return  # the link broke, or the room changed, meanwhile: look again
            if head.room is not None and not _same_room(head.room, self._room):
                return
            self._queue.popleft()  # (out of the queue as its write begins: in no queue twice)
            if isinstance(head.msg, Confirmed):  # confirmed one by one (accepted or reply)
                self._unacked.append(head)  # (before the write: its confirmation may come at once)
            if isinstance(head.msg, (m.Join, m.Part)):
                target = _destination(head.msg, self._room)
                if not _same_room(target, self._room):  # what follows was typed for there: wait for the answer
                    self._answer_due, self._moving_to = True, target
            self._cond.notify_all()
        self._write(send, head.msg, head)

    def _write(self, send: Send, msg: m.Message, item: Outgoing | None) -> None:
        """Write one frame, waiting for the socket (no lock held: typing goes on).
        A typed line whose write failed goes back to the head of the queue
        (a confirmed one is in ``_unacked``, which a reconnect sends again)."""
        try:
            send(msg)
        except ClientError:  # the link is over (the connection broke it: the receiver reconnects)
            with self._cond:
                if self._send == send:  # (not a newer link's)
                    self._send = None
                    self._urgent.clear()
                if item is not None and item not in self._unacked:
                    self._queue.appendleft(item)
                self._cond.notify_all()
