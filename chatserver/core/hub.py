"""Rooms and who is in them, tying names, the room log and the dispatcher together.

Sessions never talk to each other directly: they claim a nickname
(``registry.py``), join rooms and publish to them; the hub stamps each
message with the room's sequence number and time, publishes it to its
broker (``backends/ports.py``: memory, SQLite or Redis) and queues it. The
dispatcher (``dispatcher.py``) commits a batch and hands each member the
whole of it as one byte string
(``fanout.py``). Frames for one session alone (replies, private messages) go
through the same queue (``send_to``), so each session gets everything in the
order the server decided it. A second backend (say, rooms shared between
servers through Redis) implements ``Hub`` and leaves session code untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

from chatserver.backends.memory import Leases, MemoryPresence
from chatserver.backends.ports import Broker, Presence
from chatserver.backends.records import StoredRoom, Unavailable
from chatserver.backends.roomlog import DEFAULT_KEEP, HISTORY_BYTES, MemoryBroker
from chatserver.core.dispatcher import Dispatcher
from chatserver.core.fanout import Frame, Member, Post, Subscriber, deliver_direct
from chatserver.core.registry import NickTaken, Person, Registry, person
from chatserver.core.roomquota import RoomQuota
from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

log = logging.getLogger(__name__)

LOBBY = "#lobby"
MAX_ROOMS = 1000  # rooms in memory at once; an empty one is forgotten to make space
PUBLISH_WAIT = 5.0  # at most this long a publisher waits for members that are behind


NOT_KEPT = "your message was delivered but not kept: the server cannot write its store (disk full?)"


class TooManyRooms(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Greeting:
    """What a joiner is told, before any live message of the room can reach it."""

    room: str
    epoch: str  # the room's numbering
    seq: int  # the room's last seq now: what follows is news
    messages: list[m.ChatMessage]
    lost: int  # missed messages no longer kept
    #: "missed" (a reconnect's replay: the messages after the one it saw),
    #: "history" (recent messages) or "renumbered" (a reconnect whose
    #: numbering is not the room's: recent messages, and it must be told).
    kind: str


Greet = Callable[[Greeting], None]
Arrival = Callable[[str, float], m.Message]
"""The notice that someone came into a room, given the room's name and the time:
posted in the same step as the joining, so whoever joins after it gets neither
it nor a welcome without its sender."""


@dataclasses.dataclass
class RoomInfo:
    name: str
    members: int
    topic: str


class Hub(Protocol):
    #: Who may make a room (the server sets its own).
    quota: RoomQuota

    def enter(
        self,
        sub: Subscriber,
        nick: str,
        room: str,
        greet: Greet,
        *,
        resume: str | None = None,
        after: int | None = None,
        epoch: str | None = None,
        recent: int = 0,
        arrival: Arrival | None = None,
    ) -> tuple[str, bool, str]: ...
    def rename(self, sub: Subscriber, new: str) -> str: ...
    def changed(self, sub: Subscriber) -> None: ...
    def closing(self) -> None: ...
    def unregister(self, sub: Subscriber) -> None: ...
    def find(self, nick: str) -> Person | None: ...
    def tell(self, nick: str, frame: Frame) -> Person | None: ...
    def kick(self, nick: str, why: str) -> Person | None: ...
    def set_op(self, nick: str, op: bool) -> Person | None: ...
    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        epoch: str | None = None,
        arrival: Arrival | None = None,
    ) -> str: ...
    def part(self, room: str, sub: Subscriber) -> None: ...
    def members(self, room: str) -> list[Person]: ...
    def first_members(self, room: str, limit: int) -> tuple[list[Person], int]: ...
    def first_names(self, room: str, limit: int) -> tuple[list[str], int]: ...
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

    #: ``publish_many`` takes a lot in one turn (a cluster's hub publishes them one by one).
    publishes_many: bool

    def publish_many(self, items: list[Publish], exclude: Subscriber) -> None: ...
    def announce(
        self,
        room: str,
        build: Callable[[float], m.Message],
        exclude: Subscriber | None = None,
        *,
        except_nick: str | None = None,
    ) -> None: ...
    def send_to(self, sub: Subscriber, frame: Frame) -> None: ...
    def sessions(self) -> list[Person]: ...
    def epoch(self, room: str) -> str: ...
    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]: ...
    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self) -> None: ...


class _Room:
    __slots__ = ("name", "epoch", "members", "seq", "posted", "topic", "full", "maker")

    def __init__(self, stored: StoredRoom) -> None:
        self.name = stored.name
        #: This room's numbering: a room made anew (its old self forgotten) counts afresh.
        self.epoch = stored.epoch
        #: member -> ``posted`` when it joined: it gets what was posted after.
        self.members: dict[Subscriber, int] = {}
        self.seq = stored.seq
        self.posted = 0  # frames queued to the room so far (messages and notices)
        self.topic = stored.topic
        #: Members found ``full`` by the last dispatch (replaced, never mutated).
        self.full: list[Subscriber] = []
        #: The address that made it ("" for one the log knew): see ``roomquota.py``.
        self.maker = ""


class Peers(Protocol):
    """The other nodes of a cluster, asked to act on a session of theirs (a cluster's inboxes;
    one server has none: every name its presence holds is its own)."""

    def tell(self, node: str, sid: str, frame: Frame) -> None: ...
    def set_op(self, node: str, sid: str, op: bool) -> None: ...
    def kick(self, node: str, sid: str, why: str) -> None: ...


Publish = tuple[str, Callable[[int, float], m.Message], Callable[[m.Message], m.Message] | None]
"""One message for ``publish_many``: (room, build, receipt), as ``publish`` takes them."""


class LocalHub:
    """The in-process hub: one lock orders every room's messages; one
    dispatcher thread delivers them."""

    publishes_many = True

    def __init__(
        self,
        keep: int = DEFAULT_KEEP,
        max_rooms: int = MAX_ROOMS,
        history_bytes: int = HISTORY_BYTES,
        broker: Broker | None = None,
        *,
        node: str = "local",
        presence: Presence | None = None,
        peers: Peers | None = None,
    ) -> None:
        self._lock = threading.RLock()  # greet() may ask for members while joining
        #: This node's sessions by name (what delivery needs under the lock); who holds a
        #: name is ``_presence``'s to say (the cluster's is Redis: never called under the lock).
        self._people = Registry()
        self.node = node
        if presence is None:  # one server: its names in memory, on a lease that never ends
            presence = MemoryPresence(Leases(), node, math.inf)
            presence.heartbeat()
        self._presence: Presence = presence
        self._peers = peers
        self._sids: dict[Subscriber, str] = {}  # this node's sessions -> their session ids
        self._by_sid: dict[str, Subscriber] = {}  # and back (presence and other nodes name a session by it)
        self._sid_count = itertools.count(1)
        self._closing = False  # (see ``closing``)
        self._rooms: dict[str, _Room] = {}  # room_key -> room
        self._keep = keep  # messages replayed to a reconnecting client, at most
        self._max_rooms = max_rooms
        self.quota = RoomQuota()
        self._broker: Broker = broker if broker is not None else MemoryBroker(keep, history_bytes)
        #: (room key, seq) of published messages the log could not keep, not yet dispatched.
        self._not_kept: set[tuple[str, int]] = set()
        #: Who left a room while posts to it were queued, and the last of them it gets.
        self._leavers: dict[_Room, list[Member]] = {}
        self._dispatcher = Dispatcher(self._lock, self._recipients, self._commit)

    # -- people --
    # Presence is asked outside the lock: a cluster's is Redis, and one slow call must not stop delivery.
    def _sid(self, sub: Subscriber) -> str:
        """``sub``'s session id, given on first use (lock held)."""
        sid = self._sids.get(sub)
        if sid is None:
            sid = self._sids[sub] = f"{self.node}/{next(self._sid_count)}"
            self._by_sid[sid] = sub
        return sid

    def _drop_sid(self, sub: Subscriber) -> str | None:
        """``sub`` is gone: its session id, no longer known (lock held)."""
        sid = self._sids.pop(sub, None)
        self._by_sid.pop(sid or "", None)
        return sid

    def _claim(
        self, sub: Subscriber, nick: str, sid: str, *, takeover: str = "", replacing: str = ""
    ) -> tuple[str, str]:
        """Hold ``nick`` for ``sub`` in presence (lock not held): the previous holder's (node, sid),
        ("", "") if none; ``NickTaken`` if a live session holds it."""
        was = self._presence.claim(nick, sid, sub.token, takeover=takeover, replacing=replacing, p=person(sub))
        if was is None:
            raise NickTaken(nick, self._presence.suggest(nick))
        return was

    def rename(self, sub: Subscriber, new: str) -> str:
        """Give ``sub`` the nickname ``new`` (``NickTaken`` if not free); returns the old one."""
        with self._lock:
            sid = self._sid(sub)
        self._claim(sub, new, sid, replacing=sid)
        try:
            with self._lock:
                old = self._people.claim(sub, new)
        except NickTaken:
            self._presence.release(new, sid)
            raise
        if nick_key(old) != nick_key(new):
            self._presence.release(old, sid)
        return old

    def closing(self) -> None:
        """The server is stopping: the sessions about to end are not leaving the chat.
        Their names are not released: a cluster's presence keeps them, so that a client
        resuming on another node takes its name over (no "joined" there) and one that does
        not come back is cleared away with the node, as having left, by the node that
        notices the lease is gone."""
        self._closing = True

    def changed(self, sub: Subscriber) -> None:
        """``sub``'s away text, operator rights or resume token changed: presence holds them."""
        with self._lock:
            sid = self._sid(sub)
        self._presence.update(sub.nick, sid, away=sub.away, op="1" if sub.op else "0", token=sub.token)

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            sid = self._unregister_locked(sub)
        if sid is not None and not self._closing:
            self._presence.release(sub.nick, sid)

    def _unregister_locked(self, sub: Subscriber) -> str | None:
        """``sub`` is gone from this node: its name and rooms here; its session id (lock held)."""
        sid = self._drop_sid(sub)
        self._people.release(sub)
        for room in self._rooms.values():
            room.members.pop(sub, None)  # (gone: what is queued for it no longer matters)
        return sid

    def _here(self, sid: str) -> Subscriber | None:
        """This node's session ``sid`` (None if it is not, or no longer, here)."""
        with self._lock:
            return self._by_sid.get(sid)

    def find(self, nick: str) -> Person | None:
        found = self._presence.holder(nick)
        if found is None:
            return None
        sub = self._here(found.sid) if found.node == self.node else None
        return person(sub) if sub is not None else found.person  # (here: as it is now)

    def sessions(self) -> list[Person]:
        everyone = self._presence.everyone()
        with self._lock:
            here = {nick_key(sub.nick): person(sub) for sub in self._people.everyone()}
        return [here.get(nick_key(p.nick), p) for p in everyone]

    def tell(self, nick: str, frame: Frame) -> Person | None:
        """``frame`` for ``nick`` alone, in its turn; who got it, or None if nobody has that name."""
        found = self._presence.holder(nick)
        if found is None:
            return None
        if found.node != self.node and self._peers is not None:
            self._peers.tell(found.node, found.sid, frame)
            return found.person
        with self._lock:
            sub = self._people.holder(nick)
            if sub is None:
                return None
            self.send_to(sub, frame)
            return person(sub)

    def set_op(self, nick: str, op: bool) -> Person | None:
        """Make ``nick`` an operator, or no longer one; who, or None if nobody has that name."""
        found = self._presence.holder(nick)
        if found is None:
            return None
        self._presence.update(nick, found.sid, op="1" if op else "0")
        if found.node != self.node and self._peers is not None:
            self._peers.set_op(found.node, found.sid, op)
            return dataclasses.replace(found.person, op=op)
        with self._lock:
            sub = self._people.holder(nick)
            if sub is None:
                return None
            sub.op = op
            return person(sub)

    def kick(self, nick: str, why: str) -> Person | None:
        """End ``nick``'s session, telling it ``why`` first; who, or None if nobody has that name."""
        found = self._presence.holder(nick)
        if found is None:
            return None
        if found.node != self.node and self._peers is not None:
            self._peers.kick(found.node, found.sid, why)
            return found.person
        with self._lock:
            sub = self._people.holder(nick)
        if sub is None:
            return None
        sub.notice(f"you were {why}", event="kick")
        sub.kick(why)
        return person(sub)

    # -- rooms --
    def _room(self, name: str, create: bool = False, maker: Subscriber | None = None) -> _Room | None:
        """The room in memory; one the log knows is brought back as it was kept.
        A room made for ``maker`` is made only if its address may (``TooManyRooms`` else)."""
        key = room_key(name)
        room = self._rooms.get(key)
        if room is not None:
            return room
        stored = self._broker.room(name)
        if stored is None and not create:
            return None
        address = self._may_make(name, maker) if stored is None else ""
        self._make_space()
        if stored is None:
            stored = StoredRoom(name, secrets.token_hex(6), 0, "")
            self._broker.save_room(stored)
        room = self._rooms[key] = _Room(stored)
        self._made(room, address)
        return room

    def _may_make(self, name: str, maker: Subscriber | None) -> str:
        """The address making room ``name`` ("" for none to count: the lobby, the
        host); ``TooManyRooms`` if its budget or the reserve refuses (lock held)."""
        if maker is None or maker.is_host or room_key(name) == room_key(LOBBY):
            return ""
        busy = [r for r in self._rooms.values() if r.members]
        mine = sum(1 for r in busy if r.maker == maker.address)
        why = self.quota.refusal(maker.address, mine=mine, busy=len(busy), cap=self._max_rooms)
        if why:
            raise TooManyRooms(why)
        return maker.address

    def _made(self, room: _Room, address: str) -> None:
        """``room`` was made for ``address`` ("" for nobody's): counted to it (lock held)."""
        if address:
            room.maker = address
            self.quota.made(address)

    def _make_space(self) -> None:
        """With ``max_rooms`` in memory, forget an empty one (``TooManyRooms`` if none is)."""
        if len(self._rooms) < self._max_rooms:
            return
        empty = next((k for k, r in self._rooms.items() if not r.members and k != room_key(LOBBY)), None)
        if empty is None:
            raise TooManyRooms(f"there are {self._max_rooms} rooms already")
        self._forget_room(self._rooms.pop(empty))

    def _forget_room(self, room: _Room) -> None:
        self._broker.forget(room.name)

    def enter(
        self,
        sub: Subscriber,
        nick: str,
        room: str,
        greet: Greet,
        *,
        resume: str | None = None,
        after: int | None = None,
        epoch: str | None = None,
        recent: int = 0,
        arrival: Arrival | None = None,
    ) -> tuple[str, bool, str]:
        """Claim ``nick`` and join ``room`` in one step (``NickTaken`` if the
        name is not free), so that nobody can find ``sub`` before it is
        greeted; when ``room`` cannot be had (``TooManyRooms``) it joins the
        lobby. ``resume``, the token of the session holding ``nick``, takes
        the name over from it (a client back from a link the server has not
        yet seen die); that session ends silently, and ``arrival`` is not
        posted (nobody left). Returns the room, whether a session was
        replaced, and why ``room`` was not joined ("" if it was)."""
        why = ""
        with self._lock:
            sid = self._sid(sub)
        self._claim(sub, nick, sid, takeover=resume or "")  # (before the lock: a cluster's presence is Redis)
        try:
            with self._lock:
                stale = self._people.stale_session(nick, resume)
                self._people.claim(sub, nick, stale)
                arrival = arrival if stale is None else None
                try:
                    try:
                        joined = self.join(room, sub, greet, after=after, recent=recent, epoch=epoch, arrival=arrival)
                    except TooManyRooms as exc:
                        why = str(exc)
                        joined = self.join(LOBBY, sub, greet, recent=recent, arrival=arrival)
                except Unavailable:  # (the log cannot be read): not registered, so the name is free again
                    self._people.release(sub)
                    self._drop_sid(sub)
                    raise
        except Unavailable:
            self._presence.release(nick, sid)
            raise
        if stale is not None:
            stale.replaced = True
            stale.kick("replaced by a new connection")
        return joined, stale is not None, why

    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        epoch: str | None = None,
        arrival: Arrival | None = None,
    ) -> str:
        """Add ``sub`` to ``room`` (made on first join); returns the room's name.

        ``greet`` gets the messages after ``after`` (a reconnect, when
        ``epoch`` is the room's) or the last ``recent`` ones, before any live
        message can reach ``sub`` (it sends through ``send_to``, so after
        anything still queued for ``sub``, a room it just left included);
        then ``arrival`` goes to the others, in the same step.
        """
        with self._lock:
            r = self._room(room, create=True, maker=sub)  # may raise TooManyRooms: nothing has changed yet
            assert r is not None
            r.members[sub] = r.posted  # what is queued now is in the history below
            if greet is not None:
                try:
                    if after is not None and epoch == r.epoch and 0 <= after <= r.seq:
                        greeting = Greeting(r.name, r.epoch, r.seq, *self._after(r, after), "missed")
                    else:
                        kind = "history" if after is None else "renumbered"
                        greeting = Greeting(r.name, r.epoch, r.seq, self._broker.recent(r.name, recent), 0, kind)
                except Unavailable:  # the log cannot be read now (it said so in the log): the room without it
                    greeting = Greeting(r.name, r.epoch, r.seq, [], 0, "history")
                greet(greeting)
            if arrival is not None:
                self.announce(r.name, functools.partial(arrival, r.name), exclude=sub)
            return r.name

    def part(self, room: str, sub: Subscriber) -> None:
        """``sub`` leaves ``room`` (its other rooms are kept); what was queued
        to the room while it was there still reaches it, before anything sent
        to it alone after this."""
        with self._lock:
            r = self._room(room)
            if r is not None:
                self._leave(r, sub)

    def _leave(self, r: _Room, sub: Subscriber) -> None:
        """``sub`` leaves ``r``; posts already queued to the room still reach it (lock held)."""
        since = r.members.pop(sub, None)
        if since is not None and self._dispatcher.pending and r.posted > since:
            self._leavers.setdefault(r, []).append(Member(sub, since, r.posted))

    def send_to(self, sub: Subscriber, frame: Frame) -> None:
        """A frame for ``sub`` alone, after everything queued for it so far."""
        with self._lock:
            if self._dispatcher.idle:
                deliver_direct(Post(None, 0, frame, to=sub))  # nothing can be ahead of it
                return
            self._dispatcher.queue(Post(None, 0, frame, to=sub))

    def epoch(self, room: str) -> str:
        """The numbering of ``room`` ("" for a room that does not exist)."""
        with self._lock:
            r = self._room(room)
            return r.epoch if r else ""

    def members(self, room: str) -> list[Person]:
        with self._lock:
            r = self._room(room)
            return [person(sub) for sub in r.members] if r else []

    def first_members(self, room: str, limit: int) -> tuple[list[Person], int]:
        """The first ``limit`` members (in the order they came) and how many there are: what a
        welcome or ``joined`` names costs the same in a room of 5 and of 5,000."""
        with self._lock:
            r = self._room(room)
            if r is None:
                return [], 0
            return [person(sub) for sub in itertools.islice(r.members, limit)], len(r.members)

    def first_names(self, room: str, limit: int) -> tuple[list[str], int]:
        """``first_members``' names alone: what a welcome lists, on every join, without a record each."""
        with self._lock:
            r = self._room(room)
            return ([sub.nick for sub in itertools.islice(r.members, limit)], len(r.members)) if r else ([], 0)

    def set_topic(self, room: str, topic: str) -> None:
        with self._lock:
            r = self._room(room, create=True)
            assert r is not None
            r.topic = topic
            self._broker.save_room(StoredRoom(r.name, r.epoch, r.seq, topic))

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
            frame, r = self._publish_locked(room, build, exclude, receipt)
            self._dispatcher.wait_if_behind(PUBLISH_WAIT)
        self._hold_back(r.full)
        return frame

    def publish_many(self, items: list[Publish], exclude: Subscriber) -> None:
        """``publish`` for each of ``items`` from ``exclude``, in order, in one turn of
        the lock: a sender's lines read together cost one wait for it, not one each
        (the fan-out's senders spent about a third of their time queuing on it)."""
        with self._lock:
            rooms = [self._publish_locked(room, build, exclude, receipt)[1] for room, build, receipt in items]
            self._dispatcher.wait_if_behind(PUBLISH_WAIT)
        full: list[Subscriber] = []
        for r in dict.fromkeys(rooms):
            full += r.full
        self._hold_back(full)

    def _publish_locked(
        self,
        room: str,
        build: Callable[[int, float], m.Message],
        exclude: Subscriber | None,
        receipt: Callable[[m.Message], m.Message] | None,
    ) -> tuple[Frame, _Room]:
        r = self._room(room, create=True)
        assert r is not None
        msg = build(r.seq + 1, time.time())
        staged = isinstance(msg, m.ChatMessage)
        at = self._broker.publish(msg) if staged else None  # (the broker numbers it: the same number, here)
        if at is None:
            r.seq += 1
            if staged:
                self._not_kept.add((room_key(r.name), r.seq))
        else:
            if at.seq != r.seq + 1:
                msg = dataclasses.replace(msg, seq=at.seq)
            r.seq = at.seq
        frame = Frame(msg)
        self._post(r, frame, exclude, self._receipt_frame(frame, receipt), staged)
        return frame, r

    @staticmethod
    def _receipt_frame(frame: Frame, receipt: Callable[[m.Message], m.Message] | None) -> Frame | None:
        """What the sender gets in its message's place: a receipt that is the message itself (an
        IRC client's echo-message) shares its frame, so it is encoded once, not twice."""
        if receipt is None:
            return None
        made = receipt(frame.msg)
        return frame if made is frame.msg else Frame(made)

    @staticmethod
    def _hold_back(full: list[Subscriber]) -> None:
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
        exclude: Subscriber | None = None,
        *,
        except_nick: str | None = None,
    ) -> None:
        """A notice to the room, but not to ``exclude`` (or to whoever holds
        ``except_nick``): in order with messages, but not sequenced or kept."""
        with self._lock:
            r = self._room(room)
            if r is None:
                return
            if except_nick is not None:
                exclude = self._people.holder(except_nick)
            msg = build(time.time())
            if isinstance(msg, m.Notice) and msg.room is None:  # (a member of several rooms: which one)
                msg = dataclasses.replace(msg, room=r.name)
            self._post(r, Frame(msg), exclude, None)

    def _post(
        self, r: _Room, frame: Frame, exclude: Subscriber | None, receipt: Frame | None, staged: bool = False
    ) -> None:
        """Queue for the dispatcher (called with the lock held). A message
        ``staged`` in the log is queued even when nobody is to hear of it: the
        dispatcher commits it in its turn, before anything queued after it
        (a reply showing it in /history) goes out."""
        r.posted += 1
        alone = exclude is not None and len(r.members) == 1 and exclude in r.members and not receipt
        if not staged and (not r.members or alone):
            return  # a notice nobody hears
        self._dispatcher.queue(Post(r, r.posted, frame, exclude, receipt))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far has been handed to its
        recipients' outboxes; False if that took longer than ``timeout``."""
        return self._dispatcher.flush(timeout)

    def close(self) -> None:
        """At shutdown: deliver what is queued, keep what was staged, close the log."""
        self.flush(timeout=1.0)
        with self._lock:
            self._broker.commit()
            self._broker.close()

    def _recipients(self, posts: list[Post]) -> dict[object, list[Member]]:
        """For each room in a batch taken by the dispatcher (lock held): its
        members as of now, and who left since but was there when some of
        these were queued; each gets what was queued while it was a member.
        (Every post a leaver is owed is in this batch or an earlier one: the
        record is done with.)"""
        members: dict[object, list[Member]] = {}
        for post in posts:
            r = post.room
            if r is not None and r not in members:
                assert isinstance(r, _Room)
                here = [Member(sub, since) for sub, since in r.members.items()]
                members[r] = self._leavers.get(r, []) + here  # (older first)
        self._leavers.clear()
        return members

    def history(self, room: str, after: int) -> tuple[list[m.Message], int]:
        """Messages of ``room`` numbered above ``after``, and how many of those
        are no longer kept (more were missed than the history holds)."""
        with self._lock:
            r = self._room(room)
            return self._after(r, after) if r else ([], 0)

    def _after(self, r: _Room, after: int) -> tuple[list[m.ChatMessage], int]:
        """What came after ``after`` (the last ``keep`` of it), and how many more there were."""
        if after >= r.seq:
            return [], 0
        missed = self._broker.recent(r.name, self._keep, after=after)
        first = missed[0].seq if missed else r.seq + 1
        return list(missed), max(0, first - after - 1)

    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]:
        """The last ``count`` messages of ``room`` (numbered below ``before``), oldest first."""
        return self._broker.recent(room, count, before)

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding all of ``words``, newest first."""
        return self._broker.search(room, words, limit)

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
