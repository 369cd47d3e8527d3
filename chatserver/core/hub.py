"""The hub's facade: rooms, names and delivery put together behind ``Hub``, for one server and a node alike.

Sessions never talk to each other directly: they claim a nickname, join
rooms and publish to them, all through the hub. It owns nothing itself but
the lock that orders delivery, and puts together:

- ``names.py``: this node's sessions and the names they hold in presence
  (``backends/ports.py``' ``Presence``: memory, or Redis on a cluster's node);
- ``rooms.py``: the rooms in memory and who is in them;
- ``following.py``: a room taken up in the broker outside the lock, and let go of;
- ``joining.py``: entering (a name and a room in one step) and joining, the
  history read outside the lock and the greeting completed under it;
- ``delivery.py``: publication (stamped, kept by the broker: memory, SQLite
  or Redis; queued for the dispatcher, ``dispatcher.py`` and ``fanout.py``);
- ``interface.py``: the ``Hub`` the rules and sessions are written against,
  and the ``Greeting`` a joiner gets.

A cluster's node is this same hub given Redis ones (``cluster/hub.py``).
The names other modules imported from here before the split are still
importable from here.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Iterable

from chatserver.backends.memory import Leases, MemoryPresence
from chatserver.backends.ports import Broker, Presence, RoomDirectory
from chatserver.backends.records import Unavailable
from chatserver.backends.roomlog import DEFAULT_KEEP, HISTORY_BYTES, MemoryBroker
from chatserver.core.delivery import NOT_KEPT, PUBLISH_WAIT, Delivery, Publish, Publisher
from chatserver.core.fanout import Frame, Participant
from chatserver.core.following import Following, TakingUp
from chatserver.core.interface import Arrival, Greet, Greeting, Hub
from chatserver.core.joining import Joining
from chatserver.core.names import Names, Peers
from chatserver.core.registry import NickTaken, Person
from chatserver.core.roomquota import RoomQuota
from chatserver.core.rooms import (
    LOBBY,
    MAX_ROOMS,
    NO_READING,
    LocalDirectory,
    Reading,
    Room,
    RoomInfo,
    Rooms,
    TooManyRooms,
)
from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

__all__ = [
    "LOBBY",
    "MAX_ROOMS",
    "NOT_KEPT",
    "PUBLISH_WAIT",
    "Arrival",
    "Greet",
    "Greeting",
    "Hub",
    "LocalHub",
    "NickTaken",
    "Peers",
    "Publish",
    "Room",
    "RoomInfo",
    "TooManyRooms",
]


class LocalHub:
    """The hub: one lock orders every room's messages; one dispatcher thread delivers them."""

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
        delivery: Callable[[Delivery], Publisher] | None = None,
        directory: RoomDirectory | None = None,
        reading: Reading = NO_READING,
        obey: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        self._lock = threading.RLock()  # greet() may ask for members while joining
        self.node = node
        if presence is None:  # one server: its names in memory, on a lease that never ends
            presence = MemoryPresence(Leases(), node, math.inf)
            presence.heartbeat()
        self._presence: Presence = presence
        self._keep = keep  # messages replayed to a reconnecting client, at most
        self._broker: Broker = broker if broker is not None else MemoryBroker(keep, history_bytes)
        self._names = Names(self._lock, node, presence, peers, lambda sub, frame: self.send_to(sub, frame))
        self._rooms = Rooms(RoomQuota(), max_rooms)
        self._rooms.extra = self._names.registry.extra_in  # (an account's devices: one person)
        self._rooms.several = self._names.registry.several
        #: The rooms taken up in the broker (outside the lock) and let go of.
        self._following = Following(self._lock, self._rooms, self._broker, reading)
        #: Who is in a room, its topic, the rooms in use (a node's: Redis).
        self._directory: RoomDirectory = (
            directory
            if directory is not None
            else LocalDirectory(
                self._lock, self._rooms, self._broker, lambda name: self._following.follow(name, create=True)
            )
        )
        local = self._local = Delivery(self._lock, self._broker, self._rooms, self._names.registry.holder)
        #: How messages reach members: ``local`` (one server: its rooms taken up outside the lock
        #: first), or what ``delivery`` makes of it (a cluster's node: through Redis, read back, then
        #: through ``local``); called last.
        self._delivery: Publisher = delivery(local) if delivery is not None else TakingUp(local, self._following)
        self._joining = Joining(
            self._lock,
            names=self._names,
            rooms=self._rooms,
            broker=self._broker,
            directory=self._directory,
            follow=self._following.follow,
            delivery=lambda: self._delivery,
            greet=self._greet,
            unregister=self.unregister,
            keep=keep,
            node=node,
            peers=peers,
            obey=obey if obey is not None else (lambda fields: None),
        )
        #: What other nodes asked of a session being greeted; sessions whose end presence
        #: was not told yet (``Joining``'s, which ``unregister`` and a node's recovery use).
        self._parked, self._departed = self._joining.parked, self._joining.departed
        #: A session gone from here -> the rooms (keys) its person is still in through another device, as
        #: the directory's leave said in the same step (``staying`` reads it once: never asked again after).
        self._stayed: weakref.WeakKeyDictionary[Participant, set[str]] = weakref.WeakKeyDictionary()
        # The ``Hub``'s ways in and its publication are its collaborators' own methods, not
        # written again here: entering and joining (``joining.py``); publishing, announcing,
        # a frame for one session and waiting for delivery (the delivery: ``delivery.py``, or
        # a cluster's relay).
        self.enter = self._joining.enter
        # Who is in a room, as a greeting asks it under ``enter``: the directory's own, with no
        # frame here to delegate (the deepest a connection's thread goes is kept by every idle
        # connection: ``net/threadmemory.py``).
        self.first_members = self._directory.first_members
        self.first_names = self._directory.first_names
        self.first_present = self._directory.first_present
        self.join = self._joining.join
        self.publish = self._delivery.publish
        self.publish_many = self._delivery.publish_many
        self.announce = self._delivery.announce
        self.send_to = self._delivery.send_to
        self.send_many_to = self._delivery.send_many_to
        self.flush = self._delivery.flush

    @property
    def quota(self) -> RoomQuota:
        """Who may make a room (the server sets its own)."""
        return self._rooms.quota

    @quota.setter
    def quota(self, quota: RoomQuota) -> None:
        self._rooms.quota = quota

    # -- names (``names.py``) --
    def rename(self, sub: Participant, new: str, *, alone: bool = False) -> str:
        """Give ``sub`` the nickname ``new`` (``NickTaken`` if not free); returns the old one.
        The rooms it is in then know it by its new name (the directory: outside the lock).
        ``alone``: its person's other devices keep the old name (``Names.rename``)."""
        old = self._names.rename(sub, new, alone=alone)
        if nick_key(old) != nick_key(new):
            with self._lock:
                sid, rooms = self._names.sid(sub), self._rooms.rooms_of(sub)
            for name in rooms:
                self._directory.left(name, old, sid, None)
                self._directory.joined(name, new, sid, rooms)
        return old

    def closing(self) -> None:
        """The server is stopping: the sessions about to end are not leaving the chat.
        Their names are not released: a cluster's presence keeps them, so that a client
        resuming on another node takes its name over (no "joined" there) and one that does
        not come back is cleared away with the node, as having left, by the node that
        notices the lease is gone."""
        self._names.closing = True

    def changed(self, sub: Participant) -> None:
        """``sub``'s away text, operator rights or resume token changed: presence holds them."""
        self._names.changed(sub)

    def unregister(self, sub: Participant) -> set[str]:
        """``sub`` is gone: its name and rooms let go of. Returns the keys of the rooms its person
        is still in through another of its devices (so ``sub`` leaving them is not the person
        leaving them), decided here in the same turn of the lock as ``sub``'s going: of two
        devices ending at once, one is told the other stays, never both that none does. (A
        device on another node: the directory's leave says, atomically, whether the name
        is still in each room.)"""
        with self._lock:
            self._parked.pop(sub, None)
            rooms = self._rooms.rooms_of(sub)
            keys = {room_key(name): name for name in rooms}
            here = {room_key(n) for other in self._names.others(sub) for n in self._rooms.rooms_of(other)}
            staying = {k for k in keys if k in here}
            sid = self._unregister_locked(sub)
            if sid is None or self._names.closing:  # (a stopping node's names lapse with it: see closing)
                return staying
        try:
            stayed = self._forget(sub.nick, sid, rooms)  # (its devices on other nodes: each leave says it)
        except Unavailable:
            with self._lock:
                self._departed.append((sub.nick, sid, rooms))  # (told once presence is back: ``_forget``)
            return staying
        self._stayed[sub] = stayed
        return staying | stayed

    def _forget(self, nick: str, sid: str, rooms: list[str]) -> set[str]:
        """``nick`` (session ``sid``) left ``rooms`` and the chat: the directory and presence are told.
        The keys of those another session of ``nick`` is still in (each leave says it, atomically)."""
        stayed = {room_key(name) for name in rooms if not self._directory.left(name, nick, sid, None)}
        self._presence.release(nick, sid)
        return stayed

    def _unregister_locked(self, sub: Participant) -> str | None:
        """``sub`` is gone from this node: its name and rooms here; its session id (lock held)."""
        self._rooms.drop(sub)
        return self._names.drop(sub)

    def find(self, nick: str) -> Person | None:
        return self._names.find(nick)

    def named(self, account: str) -> str | None:
        """The name ``account``'s person goes by here (a ``/nick`` may have renamed it), or None."""
        return self._names.named(account)

    def echo(self, sub: Participant, frame: Frame, *, plain: bool = True) -> None:
        """``frame``, which ``sub`` sent, for its person's other devices (``names.py``)."""
        self._names.echo(sub, frame, plain=plain)

    def staying(self, sub: Participant, rooms: Iterable[str]) -> set[str]:
        """Of ``rooms``, the keys of those ``sub``'s person is still in through another of its devices
        (here, or on another node): ``sub`` leaving one of them is not the person leaving it."""
        wanted = {room_key(name): name for name in rooms}
        if sub.account is None or not wanted:  # (a guest has one session)
            return set()
        with self._lock:
            here = {room_key(n) for other in self._names.others(sub) for n in self._rooms.rooms_of(other)}
            sid = self._names.sids.get(sub, "")  # ("" once it is gone: every session left there is another)
        stayed = self._stayed.pop(sub, None)  # (gone: its own leave said it; two ending at once, one is last)
        if stayed is not None:
            return {k for k in wanted if k in here or k in stayed}
        return {k for k, name in wanted.items() if k in here or self._directory.others_in(name, sub.nick, sid)}

    def sessions(self) -> list[Person]:
        return self._names.sessions()

    def tell(self, nick: str, frame: Frame) -> Person | None:
        """``frame`` for ``nick`` alone, in its turn; who got it, or None if nobody has that name."""
        return self._names.tell(nick, frame)

    def set_op(self, nick: str, op: bool) -> Person | None:
        """Make ``nick`` an operator, or no longer one; who, or None if nobody has that name."""
        return self._names.set_op(nick, op)

    def kick(self, nick: str, why: str) -> Person | None:
        """End ``nick``'s session, telling it ``why`` first; who, or None if nobody has that name."""
        return self._names.kick(nick, why)

    def move(
        self, nick: str, room: str, join: bool, *, by: str = "", reason: str = "", skip: Participant | None = None
    ) -> Person | None:
        """Ask every device of ``nick``'s person but ``skip`` to join ``room``, or to leave it (``by``:
        kicked out of it by ``by``), each in its own turn; who, or None if nobody has that name."""
        return self._names.move(nick, room, join, by=by, reason=reason, skip=skip)

    def person_rooms(self, sub: Participant) -> list[str]:
        """The rooms ``sub``'s person is in through its other devices on this node (a device
        arriving joins them too), in the order the first of them joined them. With none here, a
        device on another node is asked for its rooms: they are asked of ``sub`` after (``move``)."""
        if sub.account is None:
            return []
        with self._lock:
            here = list(dict.fromkeys(n for other in self._names.others(sub) for n in self._rooms.rooms_of(other)))
        if not here:
            self._names.rooms_elsewhere(sub)
        return here

    # -- rooms (``rooms.py``), taken up in the broker outside the lock --
    def _greet(self, greet: Greet, greeting: Greeting) -> None:
        """``greet(greeting)``, what it sends queued to the dispatcher even when it is idle (lock
        held): encoded on the connection's own thread, a greeting's frames left that thread's
        malloc cache (glibc's tcache, kept until the thread ends) holding some KiB per idle
        connection for good, once a big room's joins were no longer announced."""
        self._local.greeting = True
        try:
            greet(greeting)
        finally:
            self._local.greeting = False

    def part(self, room: str, sub: Participant) -> bool:
        """``sub`` leaves ``room`` (its other rooms are kept); what was queued
        to the room while it was there still reaches it, before anything sent
        to it alone after this. Returns whether its person is still in ``room``
        through another of its devices, decided in the same turn of the lock
        as its leaving here (of two devices leaving at once, one is the last)."""
        with self._lock:
            r = self._rooms.get(room)
            if r is not None:
                self._rooms.leave(r, sub, self._delivery.dispatcher.pending)
            staying = r is not None and any(other in r.members for other in self._names.others(sub))
            sid = self._names.sids.get(sub)
            rooms = self._rooms.rooms_of(sub) if sid is not None else []
        if sid is not None:  # (one that is gone left every room with its name)
            last = self._directory.left(room, sub.nick, sid, rooms)  # (outside the lock: a node's is Redis)
            staying = staying or not last  # (a device on another node: the leave says it, atomically)
        return staying

    def epoch(self, room: str) -> str:
        """The numbering of ``room`` ("" for a room that does not exist)."""
        with self._lock:
            r = self._rooms.get(room)
            return r.epoch if r else ""

    def members(self, room: str) -> list[Person]:
        return self._directory.members(room)

    def size(self, room: str) -> int:
        """How many are in ``room`` now, in O(1) (``rules/crowd.py`` asks on every join and leave)."""
        return self._directory.size(room)

    def census(self, room: str) -> tuple[int, bool]:
        """How many are in ``room`` and whether it is marked crowded, in one O(1) read."""
        return self._directory.census(room)

    def mark_crowded(self, room: str, crowded: bool) -> bool:
        """Mark ``room`` crowded or not; True if this call changed it (one caller in the whole chat)."""
        return self._directory.mark_crowded(room, crowded)

    def set_topic(self, room: str, topic: str) -> None:
        self._directory.set_topic(room, topic)

    def topic(self, room: str) -> str:
        return self._directory.topic(room)

    def rooms(self) -> list[RoomInfo]:
        """Rooms with people in them (and the lobby), by name."""
        return self._directory.rooms()

    def close(self) -> None:
        """At shutdown: deliver what is queued, keep what was staged, close the log."""
        self.flush(timeout=1.0)
        with self._lock:
            self._broker.commit()
            self._broker.close()

    # -- history --
    def history(self, room: str, after: int) -> tuple[list[m.Message], int]:
        """Messages of ``room`` numbered above ``after``, and how many of those
        are no longer kept (more were missed than the history holds)."""
        with self._lock:
            r = self._rooms.get(room)
            seq = r.seq if r is not None else 0
        if after >= seq:
            return [], 0
        missed = self._broker.recent(room, self._keep, before=seq + 1, after=after)  # (outside the lock)
        first = missed[0].seq if missed else seq + 1
        return list(missed), max(0, first - after - 1)

    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]:
        """The last ``count`` messages of ``room`` (numbered below ``before``), oldest first."""
        return self._broker.recent(room, count, before)

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding all of ``words``, newest first."""
        return self._broker.search(room, words, limit)
