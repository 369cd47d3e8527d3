"""Fan-out between sessions, behind one small interface.

Sessions never talk to each other directly: they register a nickname, join a
room and publish to it; the hub stamps each message with the room's sequence
number and time and encodes it once. Publishing only queues: one dispatcher
thread takes everything queued since its last round and gives each member
the whole batch as *one* byte string (the same object for every member who
sent none of it), so the work per recipient does not grow with the number
of messages. A second backend (say, rooms shared between servers through
Redis) implements ``Hub`` and leaves session code untouched.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from common import messages as m
from common.nicks import nick_key
from common.plain import render_plain
from common.rooms import room_key
from common.threads import stop_signals_blocked

log = logging.getLogger(__name__)

LOBBY = "#lobby"
DEFAULT_KEEP = 1000  # messages kept per room, for reconnecting clients
MAX_ROOMS = 1000  # rooms at once; an empty one is forgotten to make space
HISTORY_BYTES = 64 * 1024 * 1024  # all rooms' kept messages together, at most
PUBLISH_WAIT = 5.0  # at most this long a publisher waits for members that are behind
SWITCH_WAIT = 1.0  # at most this long a room switch waits for the queue to empty
#: Published but not yet dispatched, at most (about): publishers wait beyond it.
MAX_QUEUED_BYTES = 1024 * 1024


def _size(msg: m.Message) -> int:
    """A bound on a kept or queued message's size in memory (cheap: no encoding)."""
    return 4 * len(getattr(msg, "text", "")) + 200


class TooManyRooms(Exception):
    pass


Greet = Callable[[str, list[m.Message], int, str], None]
"""Called as ``greet(room_name, messages, lost, kind)`` when joining: ``kind``
is ``"missed"`` (a reconnect's replay) or ``"history"`` (recent messages)."""


@dataclasses.dataclass
class RoomInfo:
    name: str
    members: int
    topic: str


class Frame:
    """A message encoded at most once per wire format, however many receive it."""

    __slots__ = ("msg", "__dict__")

    def __init__(self, msg: m.Message) -> None:
        self.msg = msg

    @functools.cached_property
    def native(self) -> bytes:
        return m.encode(self.msg)

    @functools.cached_property
    def plain(self) -> bytes:
        return (render_plain(self.msg) + "\r\n").encode("utf-8")


class Subscriber(Protocol):
    """What the hub needs of a session."""

    nick: str
    #: ``"native"`` or ``"plain"``: takes batches as bytes in that wire format
    #: through ``deliver_bytes``; ``None``: takes ``Frame`` objects one by one.
    wire: str | None

    def deliver(self, frame: Frame) -> None:
        """Queue ``frame`` for the peer; must not block."""

    def deliver_bytes(self, data: bytes) -> None:
        """Queue encoded frames for the peer; must not block."""

    @property
    def full(self) -> bool:
        """Behind by more than its peer may be: publishers to its room wait."""

    def wait_room(self, timeout: float) -> None:
        """Wait until not ``full`` (or the peer is dropped), at most ``timeout`` s."""


class NickTaken(Exception):
    def __init__(self, nick: str, suggestion: str) -> None:
        super().__init__(f"the nickname {nick!r} is taken")
        self.suggestion = suggestion


class Hub(Protocol):
    def register(self, sub: Subscriber, nick: str, replacing: Subscriber | None = None) -> None: ...
    def rename(self, sub: Subscriber, new: str) -> str: ...
    def unregister(self, sub: Subscriber) -> None: ...
    def find(self, nick: str) -> Subscriber | None: ...
    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        leaving: str | None = None,
    ) -> str: ...
    def members(self, room: str) -> list[Subscriber]: ...
    def set_topic(self, room: str, topic: str) -> None: ...
    def topic(self, room: str) -> str: ...
    def rooms(self) -> list[RoomInfo]: ...
    def publish(
        self,
        room: str,
        build: Callable[[int, float], m.Message],
        exclude: Subscriber | None = None,
        receipt: Callable[[m.Message], m.Message] | None = None,
    ) -> Frame: ...
    def announce(self, room: str, build: Callable[[float], m.Message], exclude: Subscriber | None = None) -> None: ...
    def sessions(self) -> list[Subscriber]: ...
    def flush(self, timeout: float | None = None) -> bool: ...


class _Room:
    __slots__ = ("name", "members", "seq", "posted", "history", "sizes", "kept_bytes", "topic", "full")

    def __init__(self, name: str, keep: int) -> None:
        self.name = name
        #: member -> ``posted`` when it joined: it gets what was posted after.
        self.members: dict[Subscriber, int] = {}
        self.seq = 0
        self.posted = 0  # frames queued to the room so far (messages and notices)
        self.history: collections.deque[m.Message] = collections.deque()
        self.sizes: collections.deque[int] = collections.deque()  # bytes of each kept message
        self.kept_bytes = 0
        self.topic = ""
        #: Members found ``full`` by the last dispatch (replaced, never mutated).
        self.full: list[Subscriber] = []


@dataclasses.dataclass(slots=True)
class _Post:
    """A frame queued to a room, for the dispatcher."""

    room: _Room
    index: int  # the room's ``posted`` count for it: who joined later does not get it
    frame: Frame
    exclude: Subscriber | None
    receipt: Frame | None  # what ``exclude`` gets in its place (its own message's ack)


class LocalHub:
    """The in-process hub: one lock orders every room's messages; one
    dispatcher thread delivers them."""

    def __init__(
        self, keep: int = DEFAULT_KEEP, max_rooms: int = MAX_ROOMS, history_bytes: int = HISTORY_BYTES
    ) -> None:
        self._lock = threading.RLock()  # greet() may ask for members while joining
        self._nicks: dict[str, Subscriber] = {}  # nick_key -> session
        self._rooms: dict[str, _Room] = {}  # room_key -> room
        self._keep = keep
        self._max_rooms = max_rooms
        self._history_bytes = history_bytes
        self._history_total = 0
        self._posts: list[_Post] = []  # queued, not yet dispatched
        self._posts_bytes = 0  # their size, roughly
        self._dispatching = False  # the dispatcher holds a batch it has not finished
        self._wake = threading.Lock()  # held while the dispatcher has nothing to do
        self._wake.acquire()
        self._idle = threading.Condition(self._lock)  # for flush(): nothing queued or in hand
        self._waiters = 0  # threads waiting on _idle
        with stop_signals_blocked():
            self._dispatcher = threading.Thread(target=self._dispatch_forever, name="dispatcher", daemon=True)
            self._dispatcher.start()

    # -- nicknames --
    def register(self, sub: Subscriber, nick: str, replacing: Subscriber | None = None) -> None:
        """Claim ``nick`` for ``sub``; raises ``NickTaken`` with a free alternative.

        ``replacing`` may hold the name already: a reconnecting client taking
        over from its own stale session.
        """
        self.rename(sub, nick, replacing)

    def rename(self, sub: Subscriber, new: str, replacing: Subscriber | None = None) -> str:
        """Give ``sub`` the nickname ``new``; returns the old one."""
        with self._lock:
            holder = self._nicks.get(nick_key(new))
            if holder is not None and holder is not sub and holder is not replacing:
                raise NickTaken(new, self._suggest(new))
            old = getattr(sub, "nick", "")
            if self._nicks.get(nick_key(old)) is sub:
                del self._nicks[nick_key(old)]
            self._nicks[nick_key(new)] = sub
            sub.nick = new
            return old

    def _suggest(self, nick: str) -> str:
        base = nick[:29]
        for n in range(2, 1000):
            candidate = f"{base}{n}"
            if nick_key(candidate) not in self._nicks:
                return candidate
        return base + "_"  # pragma: no cover

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            key = nick_key(sub.nick)
            if self._nicks.get(key) is sub:
                del self._nicks[key]
            for room in self._rooms.values():
                room.members.pop(sub, None)

    def find(self, nick: str) -> Subscriber | None:
        with self._lock:
            return self._nicks.get(nick_key(nick))

    def sessions(self) -> list[Subscriber]:
        with self._lock:
            return list(self._nicks.values())

    # -- rooms --
    def _room(self, name: str, create: bool = False) -> _Room | None:
        key = room_key(name)
        room = self._rooms.get(key)
        if room is None and create:
            if len(self._rooms) >= self._max_rooms:
                empty = next((k for k, r in self._rooms.items() if not r.members and k != room_key(LOBBY)), None)
                if empty is None:
                    raise TooManyRooms(f"there are {self._max_rooms} rooms already")
                self._history_total -= self._rooms.pop(empty).kept_bytes
            room = self._rooms[key] = _Room(name, self._keep)
        return room

    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        leaving: str | None = None,
    ) -> str:
        """Add ``sub`` to ``room`` (made on first join); returns the room's name.

        ``greet`` gets the messages after ``after`` (a reconnect) or the last
        ``recent`` ones, before any live message can reach ``sub``. With
        ``leaving``, ``sub`` moves from that room in the same step, once
        everything already published has been delivered: nothing of the old
        room (its own acks included) can arrive after the greeting.
        """
        with self._lock:
            if leaving is not None:
                self._waiters += 1
                try:  # (bounded: under a flood the queue may never be empty)
                    self._idle.wait_for(lambda: not self._posts and not self._dispatching, SWITCH_WAIT)
                finally:
                    self._waiters -= 1
            r = self._room(room, create=True)  # may raise TooManyRooms: nothing has changed yet
            assert r is not None
            old = self._room(leaving) if leaving is not None else None
            if old is not None and old is not r:
                old.members.pop(sub, None)
            r.members[sub] = r.posted  # what is queued now is in the history below
            if greet is not None:
                if after is not None:
                    greet(r.name, *self._after(r, after), "missed")
                else:
                    greet(r.name, list(r.history)[-recent:] if recent > 0 else [], 0, "history")
            return r.name

    def members(self, room: str) -> list[Subscriber]:
        with self._lock:
            r = self._room(room)
            return list(r.members) if r else []

    def set_topic(self, room: str, topic: str) -> None:
        with self._lock:
            r = self._room(room, create=True)
            assert r is not None
            r.topic = topic

    def topic(self, room: str) -> str:
        with self._lock:
            r = self._room(room)
            return r.topic if r else ""

    def rooms(self) -> list[RoomInfo]:
        """Rooms with people in them (and the lobby), by name."""
        with self._lock:
            found = [
                RoomInfo(r.name, len(r.members), r.topic)
                for k, r in self._rooms.items()
                if r.members or k == room_key(LOBBY)
            ]
        return sorted(found, key=lambda info: room_key(info.name))

    # -- messages --
    def publish(
        self,
        room: str,
        build: Callable[[int, float], m.Message],
        exclude: Subscriber | None = None,
        receipt: Callable[[m.Message], m.Message] | None = None,
    ) -> Frame:
        """Stamp with the room's next sequence number, keep in the room's history,
        and queue to every member but ``exclude`` (who gets ``receipt(message)``
        instead, in the same place in the room's order)."""
        with self._lock:
            r = self._room(room, create=True)
            assert r is not None
            r.seq += 1
            frame = Frame(build(r.seq, time.time()))
            self._keep_message(r, frame.msg)
            self._post(r, frame, exclude, Frame(receipt(frame.msg)) if receipt is not None else None)
            if self._posts_bytes > MAX_QUEUED_BYTES:  # the dispatcher is behind
                self._waiters += 1
                try:
                    self._idle.wait_for(lambda: self._posts_bytes <= MAX_QUEUED_BYTES, PUBLISH_WAIT)
                finally:
                    self._waiters -= 1
        # A member that reads but is behind holds the publisher back here,
        # after its message is accepted and before it reads the next: TCP
        # then slows the sender, instead of the server buffering without end.
        deadline = time.monotonic() + PUBLISH_WAIT  # one deadline for all of them
        for sub in r.full:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if sub.full:
                sub.wait_room(left)
        return frame

    def _keep_message(self, r: _Room, msg: m.Message) -> None:
        """Keep ``msg`` in the room's history, within ``keep`` messages per room
        and ``history_bytes`` for all rooms together (oldest go first)."""
        size = _size(msg)
        r.history.append(msg)
        r.sizes.append(size)
        r.kept_bytes += size
        self._history_total += size
        if len(r.history) > self._keep:
            r.history.popleft()
            dropped = r.sizes.popleft()
            r.kept_bytes -= dropped
            self._history_total -= dropped
        while self._history_total > self._history_bytes:
            # The room keeping the most gives up its oldest (only over budget: rare).
            victim = max(self._rooms.values(), key=lambda room: room.kept_bytes)
            if victim is r and len(r.history) == 1:
                break  # never the message just sent
            victim.history.popleft()
            size = victim.sizes.popleft()
            victim.kept_bytes -= size
            self._history_total -= size

    def announce(self, room: str, build: Callable[[float], m.Message], exclude: Subscriber | None = None) -> None:
        """A notice to the room: in order with messages, but not sequenced or kept."""
        with self._lock:
            r = self._room(room)
            if r is None:
                return
            self._post(r, Frame(build(time.time())), exclude, None)

    def _post(self, r: _Room, frame: Frame, exclude: Subscriber | None, receipt: Frame | None) -> None:
        """Queue for the dispatcher (called with the lock held)."""
        r.posted += 1
        if not r.members or (exclude is not None and len(r.members) == 1 and exclude in r.members and not receipt):
            return  # nobody to tell
        self._posts.append(_Post(r, r.posted, frame, exclude, receipt))
        self._posts_bytes += _size(frame.msg)
        if len(self._posts) == 1 and not self._dispatching:
            self._wake.release()  # it sleeps, or is about to: this batch is its next

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far has been handed to its
        recipients' outboxes; False if that took longer than ``timeout``."""
        with self._idle:
            self._waiters += 1
            try:
                return self._idle.wait_for(lambda: not self._posts and not self._dispatching, timeout)
            finally:
                self._waiters -= 1

    def _dispatch_forever(self) -> None:
        while True:
            self._wake.acquire()
            while True:
                with self._lock:
                    if not self._posts:
                        self._dispatching = False
                        if self._waiters:
                            self._idle.notify_all()
                        break
                    posts, self._posts = self._posts, []
                    if self._waiters:
                        self._idle.notify_all()  # publishers waiting for this, or flush()
                    self._posts_bytes = 0
                    self._dispatching = True
                    # Members as of now: who left since gets nothing more,
                    # who joined since gets only what came after it.
                    rooms: dict[_Room, tuple[list[_Post], list[tuple[Subscriber, int]]]] = {}
                    for post in posts:
                        if post.room not in rooms:
                            rooms[post.room] = ([], list(post.room.members.items()))
                        rooms[post.room][0].append(post)
                for r, (room_posts, members) in rooms.items():
                    try:
                        r.full = _dispatch(room_posts, members)
                    except Exception:  # the dispatcher must outlive any one bad batch
                        log.exception("dispatching to %s", r.name)

    def history(self, room: str, after: int) -> tuple[list[m.Message], int]:
        """Messages of ``room`` numbered above ``after``, and how many of those
        are no longer kept (more were missed than the history holds)."""
        with self._lock:
            r = self._room(room)
            return self._after(r, after) if r else ([], 0)

    @staticmethod
    def _after(r: _Room, after: int) -> tuple[list[m.Message], int]:
        if after >= r.seq:
            return [], 0
        missed = [msg for msg in r.history if getattr(msg, "seq", 0) > after]
        first = getattr(missed[0], "seq", r.seq + 1) if missed else r.seq + 1
        return missed, max(0, first - after - 1)


class _Encoded:
    """A batch of posts in one wire format: the whole as one byte string, and
    where each post starts in it, so a member's own copy (its messages
    replaced by their receipts) is cut out of it with a few slices."""

    def __init__(self, posts: list[_Post], wire: str) -> None:
        chunks = [getattr(p.frame, wire) for p in posts]
        self.blob = b"".join(chunks)
        self.starts = [0, *itertools.accumulate(len(c) for c in chunks)]
        self.wire = wire

    def without(self, posts: list[_Post], own: list[int]) -> bytes:
        view = memoryview(self.blob)
        pieces: list[bytes | memoryview] = []
        pos = 0
        for i in own:
            pieces.append(view[pos : self.starts[i]])
            receipt = posts[i].receipt
            if receipt is not None:
                pieces.append(getattr(receipt, self.wire))
            pos = self.starts[i + 1]
        pieces.append(view[pos:])
        return b"".join(pieces)


def _visible(posts: list[_Post], sub: Subscriber, since: int) -> Iterator[Frame]:
    """What ``sub`` (a member since post ``since``) gets of ``posts``, in order:
    a post, or for its own its receipt (if any)."""
    for p in posts:
        if p.index > since:
            frame = p.frame if p.exclude is not sub else p.receipt
            if frame is not None:
                yield frame


def _dispatch(posts: list[_Post], members: list[tuple[Subscriber, int]]) -> list[Subscriber]:
    """Give each member, in one call, the posts it should see (in room order);
    returns the members left ``full``."""
    full = []
    first = posts[0].index
    own: dict[Subscriber, list[int]] = {}  # sender -> where its posts are in the batch
    for i, p in enumerate(posts):
        if p.exclude is not None:
            own.setdefault(p.exclude, []).append(i)
    encoded: dict[str, _Encoded] = {}
    for sub, since in members:
        try:
            wire = sub.wire
            if wire is None:
                for frame in _visible(posts, sub, since):
                    sub.deliver(frame)
                continue
            if since < first:  # the usual case: a member since before this batch
                enc = encoded.get(wire)
                if enc is None:
                    enc = encoded[wire] = _Encoded(posts, wire)
                mine = own.get(sub)
                data = enc.blob if mine is None else enc.without(posts, mine)
            else:  # joined while this batch was being queued
                data = b"".join([getattr(frame, wire) for frame in _visible(posts, sub, since)])
            if data:
                sub.deliver_bytes(data)
                if sub.full:
                    full.append(sub)
        except Exception:  # one broken member must not cost the others their messages
            log.exception("delivering to %s", getattr(sub, "nick", sub))
    if own:  # a sender that left the room since still gets its acks
        present = {sub for sub, _ in members}
        for sender, mine in own.items():
            wire = sender.wire
            if sender in present or wire is None:
                continue
            receipts = [getattr(posts[i].receipt, wire) for i in mine if posts[i].receipt is not None]
            try:
                if receipts:
                    sender.deliver_bytes(b"".join(receipts))
            except Exception:
                log.exception("delivering to %s", getattr(sender, "nick", sender))
    return full
