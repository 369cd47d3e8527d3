"""Publication: a room's messages stamped, kept by the broker and queued for the dispatcher, in one order.

``publish`` stamps a message with its room's next number and the time under
the hub's lock, hands it to the broker (memory or SQLite: staged for the
next commit, no I/O under the lock) and queues it. The dispatcher
(``dispatcher.py``) commits a batch and hands each member the whole of it
as one byte string (``fanout.py``). Frames for one session alone (replies,
private messages) go through the same queue (``send_to``), so each session
gets everything in the order the server decided it. A sender whose message
the broker could not keep is told so in its receipt's place (``commit``).
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable
from itertools import repeat
from typing import Protocol

import msgspec

from chatserver.backends.ports import Broker
from chatserver.core.dispatcher import Dispatcher
from chatserver.core.frames import Frame, receipt_frames
from chatserver.core.posts import Participant, Post, deliver_direct
from chatserver.core.rooms import Room, Rooms
from common import messages as m
from common.rooms import room_key

PUBLISH_WAIT = 5.0  # at most this long a publisher waits for members that are behind

NOT_KEPT = "your message was delivered but not kept: the server cannot write its store (disk full?)"

Build = Callable[[int, float], m.Message]
Receipt = Callable[[m.Message], m.Message]
Publish = tuple[str, Build, Receipt | None]
"""One message for ``publish_many``: (room, build, receipt), as ``publish`` takes them."""

_ROOM, _RECEIPT = operator.itemgetter(0), operator.itemgetter(2)


class Publisher(Protocol):
    """What the hub delivers through: ``Delivery`` on one server; a cluster's node hands it to
    a relay through Redis that ends in a ``Delivery`` (``cluster/relay.py``)."""

    dispatcher: Dispatcher

    def publish(
        self, room: str, build: Build, exclude: Participant | None = None, receipt: Receipt | None = None
    ) -> Frame: ...
    def publish_many(self, items: list[Publish], exclude: Participant) -> None: ...
    def announce(
        self,
        room: str,
        build: Callable[[float], m.Message],
        exclude: Participant | None = None,
        *,
        except_nick: str | None = None,
    ) -> None: ...
    def send_to(self, sub: Participant, frame: Frame) -> None: ...
    def send_many_to(self, sub: Participant, frames: list[Frame]) -> None: ...
    def flush(self, timeout: float | None = None) -> bool: ...


class Delivery:
    """Stamps, keeps and queues what is published; owns the dispatcher."""

    def __init__(
        self, lock: threading.RLock, broker: Broker, rooms: Rooms, holder: Callable[[str], Participant | None]
    ) -> None:
        self._lock = lock
        self._broker = broker
        self._rooms = rooms
        self._holder = holder  # this node's session holding a name (lock held)
        #: (room key, seq) of published messages the log could not keep, not yet dispatched.
        self._not_kept: set[tuple[str, int]] = set()
        self.dispatcher = Dispatcher(lock, rooms.recipients, self._commit)
        #: A joiner is being greeted (lock held): what ``send_to`` gets is queued (``LocalHub._greet``).
        self.greeting = False

    def publish(
        self, room: str, build: Build, exclude: Participant | None = None, receipt: Receipt | None = None
    ) -> Frame:
        """Stamp with the room's next sequence number, keep in the room's history,
        and queue to every member but ``exclude`` (who gets ``receipt(message)``
        instead, in the same place in the room's order)."""
        with self._lock:
            frame, r = self.publish_locked(room, build, exclude, receipt)
            self.dispatcher.wait_if_behind(PUBLISH_WAIT)
        self._hold_back(r.full)
        return frame

    def publish_many(self, items: list[Publish], exclude: Participant) -> None:
        """``publish`` for each of ``items`` from ``exclude``, in order, in one turn of
        the lock: a sender's lines read together cost one wait for it, not one each
        (the fan-out's senders spent about a third of their time queuing on it). A run
        of chat messages to one room (a sender's lines, as ``say_many`` makes them) is
        kept in one broker call (``_keep_run``); the run's posts are queued together,
        in one call (``_queue_kept``)."""
        if not items:
            return
        rooms: dict[str, Room] = {}
        named = list(map(_ROOM, items))
        with self._lock:
            if named.count(named[0]) == len(named):
                r = rooms[named[0]] = self._rooms.taken(named[0])
                self._publish_run(r, items, exclude, rooms)
            else:
                self._publish_each(items, exclude, rooms)
            self.dispatcher.wait_if_behind(PUBLISH_WAIT)
        full: list[Participant] = []
        for r in dict.fromkeys(rooms.values()):
            full += r.full
        self._hold_back(full)

    def _publish_run(self, r: Room, items: list[Publish], exclude: Participant, rooms: dict[str, Room]) -> None:
        """``items``, all to ``r`` (lock held): built with the numbers they are to have and one time,
        and, all chat messages (a sender's lines), kept in one broker call. Otherwise (not made by
        the rules today) built again, one by one, as ``_publish_each`` does: a build only makes
        a message."""
        now, first = time.time(), r.seq + 1
        msgs = [build(seq, now) for seq, (_, build, _) in enumerate(items, first)]
        if not all(map(isinstance, msgs, repeat(m.ChatMessage))):
            self._publish_each(items, exclude, rooms)
            return
        posts: list[Post] = []
        self._keep_run(r, msgs, exclude, list(map(_RECEIPT, items)), posts)  # type: ignore[arg-type]
        # (their frames' ``size``, from the texts at once)
        self.dispatcher.queue_many(posts, 4 * sum([len(x.text) for x in msgs]) + 200 * len(msgs))

    def _publish_each(self, items: list[Publish], exclude: Participant, rooms: dict[str, Room]) -> None:
        """``items`` to several rooms (lock held), one by one, each room looked up once per stretch."""
        r: Room | None = None
        last = None
        posts: list[Post] = []  # kept, not yet queued: nothing else is queued before they are
        try:
            for room, build, receipt in items:
                if room != last:  # (a run is mostly to one room: looked up once, not per message)
                    r = rooms[room] = self._rooms.taken(room)
                    last = room
                msg = build(r.seq + 1, time.time())  # type: ignore[union-attr]
                if msg.__class__ is m.ChatMessage or isinstance(msg, m.ChatMessage):
                    self._keep(r, msg, exclude, receipt, posts)  # type: ignore[arg-type]
                else:
                    self._queue_kept(posts)
                    self._post_built(r, msg, exclude, receipt)  # type: ignore[arg-type]
        finally:
            self._queue_kept(posts)

    def publish_locked(
        self, room: str, build: Build, exclude: Participant | None, receipt: Receipt | None
    ) -> tuple[Frame, Room]:
        return self._publish_in(None, room, build, exclude, receipt)

    def _publish_in(
        self, r: Room | None, room: str, build: Build, exclude: Participant | None, receipt: Receipt | None
    ) -> tuple[Frame, Room]:
        """``publish_locked`` into ``r``, the room named ``room`` if already looked up under this
        turn of the lock (else None)."""
        if r is None:
            r = self._rooms.taken(room)  # (taken up outside the lock: ``following.py``'s ``TakingUp``)
        msg = build(r.seq + 1, time.time())
        if msg.__class__ is not m.ChatMessage and not isinstance(msg, m.ChatMessage):
            return self._post_built(r, msg, exclude, receipt), r
        posts: list[Post] = []
        frame = self._keep(r, msg, exclude, receipt, posts)
        self._queue_kept(posts)
        return frame, r

    def _post_built(self, r: Room, msg: m.Message, exclude: Participant | None, receipt: Receipt | None) -> Frame:
        """A message that is not a room's chat message (not kept, numbered all the same): ``post``ed."""
        r.seq += 1
        frame = Frame(msg)
        self.post(r, frame, exclude, self._receipt_frame(frame, receipt))
        return frame

    def _keep(
        self, r: Room, msg: m.ChatMessage, exclude: Participant | None, receipt: Receipt | None, posts: list[Post]
    ) -> Frame:
        """Have the broker keep ``msg`` (staged for the dispatcher's next commit) and add its post to
        ``posts``, which the caller queues (``_queue_kept``) before anything else is queued."""
        at = self._broker.publish(msg)  # (the broker numbers it: the same number, here)
        if at is None:
            r.seq += 1
            self._not_kept.add((room_key(r.name), r.seq))
        else:
            if at.seq != r.seq + 1:
                msg = msgspec.structs.replace(msg, seq=at.seq)
            r.seq = at.seq
        frame = Frame(msg)
        # ``post`` for a kept message (queued whoever hears it), without its questions
        r.posted += 1
        r.latest.append((msg.seq, msg))
        if receipt is None:
            ack = None
        else:  # (``_receipt_frame`` without its call: a receipt that is the message itself shares its frame)
            made = receipt(msg)
            ack = frame if made is msg else Frame(made)
        posts.append(Post(r, r.posted, frame, exclude, ack))
        return frame

    def _keep_run(
        self,
        r: Room,
        msgs: list[m.ChatMessage],
        exclude: Participant,
        receipts: list[Receipt | None],
        posts: list[Post],
    ) -> None:
        """``_keep`` for each of ``msgs`` (numbered from ``r.seq + 1`` on, one after the other), with one
        broker call for them all (``Broker.publish_many``) and no Python call of ours per message
        but the receipt's; their posts are added to ``posts``."""
        n = len(msgs)
        at = self._broker.publish_many(msgs)
        first = r.seq + 1
        if at is None:
            key = room_key(r.name)
            self._not_kept.update(zip(repeat(key), range(first, first + n)))
        elif at.seq != first:  # (the broker numbers them: the same numbers, here)
            first = at.seq
            msgs = [msgspec.structs.replace(x, seq=seq) for seq, x in enumerate(msgs, first)]
        r.seq = first + n - 1
        frames = list(map(Frame, msgs))
        r.latest.extend(msgs)
        since = r.posted
        r.posted += n
        acks = receipt_frames(frames, msgs, receipts)  # type: ignore[arg-type]
        posts += map(Post, repeat(r), range(since + 1, since + n + 1), frames, repeat(exclude), acks)

    def _queue_kept(self, posts: list[Post]) -> None:
        """Queue what ``_keep`` gathered (the lock held), in order, in one call; ``posts`` is emptied."""
        if posts:
            self.dispatcher.queue_many(posts)
            posts.clear()

    @staticmethod
    def _receipt_frame(frame: Frame, receipt: Receipt | None) -> Frame | None:
        """What the sender gets in its message's place: a receipt that is the message itself (an
        IRC client's echo-message) shares its frame, so it is encoded once, not twice."""
        if receipt is None:
            return None
        made = receipt(frame.msg)
        return frame if made is frame.msg else Frame(made)

    @staticmethod
    def _hold_back(full: list[Participant]) -> None:
        """A member that reads but is behind holds the publisher back here,
        after its message is accepted and before it reads the next: TCP
        then slows the sender, instead of the server buffering without end."""
        deadline = time.monotonic() + PUBLISH_WAIT  # one deadline for all of them
        for sub in full:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if sub.full:
                sub.wait_room(left)

    def announce(
        self,
        room: str,
        build: Callable[[float], m.Message],
        exclude: Participant | None = None,
        *,
        except_nick: str | None = None,
    ) -> None:
        """A notice to the room, but not to ``exclude`` (or to whoever holds
        ``except_nick``): in order with messages, but not sequenced or kept."""
        with self._lock:
            r = self._rooms.get(room)  # (one not in memory has nobody to tell)
            if r is None:
                return
            if except_nick is not None:
                exclude = self._holder(except_nick)
            msg = build(time.time())
            if isinstance(msg, m.Notice) and msg.room is None:  # (a member of several rooms: which one)
                msg = msgspec.structs.replace(msg, room=r.name)
            self.post(r, Frame(msg), exclude, None)

    def post(self, r: Room, frame: Frame, exclude: Participant | None, receipt: Frame | None) -> None:
        """Queue for the dispatcher (called with the lock held); a notice nobody is to hear is not.
        (A message staged in the log here is queued by ``_publish_in`` whoever hears it: the dispatcher
        commits it in its turn, before anything queued after it, a reply showing it in /history.)"""
        r.posted += 1
        if isinstance(frame.msg, m.ChatMessage):  # (a joiner greeted from a history read outside the lock)
            r.latest.append((frame.msg.seq, frame.msg))
        alone = exclude is not None and len(r.members) == 1 and exclude in r.members and not receipt
        if not r.members or alone:
            return  # a notice nobody hears
        self.dispatcher.queue(Post(r, r.posted, frame, exclude, receipt))

    def send_to(self, sub: Participant, frame: Frame) -> None:
        """A frame for ``sub`` alone, after everything queued for it so far."""
        with self._lock:
            if self.dispatcher.idle and not self.greeting:
                deliver_direct(Post(None, 0, frame, to=sub))  # nothing can be ahead of it
                return
            self.dispatcher.queue(Post(None, 0, frame, to=sub))

    def send_many_to(self, sub: Participant, frames: list[Frame]) -> None:
        """``send_to`` for each of ``frames``, in order, in one turn of the lock: the frames
        answering one command (a /search's hundred results) cost one wait for it, not one each.
        They are always queued, never handed over here even when the dispatcher is idle: the
        dispatcher encodes and hands them out after letting go of the lock, so a publisher
        does not wait on the lock while a hundred frames are encoded for someone else."""
        with self._lock:
            for frame in frames:
                self.dispatcher.queue(Post(None, 0, frame, to=sub))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far has been handed to its
        recipients' outboxes; False if that took longer than ``timeout``."""
        return self.dispatcher.flush(timeout)

    def _commit(self, posts: list[Post]) -> None:
        """Make the batch's messages durable before anyone hears of them; a sender
        whose message could not be kept is told so instead of acknowledged."""
        lost = self._broker.commit()
        if lost or self._not_kept:
            with self._lock:
                lost |= self._not_kept
                self._not_kept = set()
            for post in posts:
                msg = post.frame.msg
                if post.receipt is not None and isinstance(msg, m.ChatMessage):
                    key = (room_key(msg.room), msg.seq)
                    if key in lost:
                        lost.discard(key)
                        post.receipt = Frame(m.Error("not_kept", NOT_KEPT))
            if lost:  # staged after this batch was taken: their batch is next
                with self._lock:
                    self._not_kept |= lost
