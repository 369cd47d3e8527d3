"""Rooms taken up and let go of: a room followed in the broker outside the hub's lock, then taken into memory under it.

A room is taken up (``follow``) with one broker call, ``Broker.ensure``,
made outside the hub's lock (a cluster's broker is Redis: one slow call
must not stop delivery), then added to the hub's rooms under the lock;
what reads the room from a broker elsewhere is told (``Reading``: a
cluster's relay follows the room's stream from the position ``ensure``
gave). An empty room dropped to make space is let go of, and the broker
told so after the lock. One room is taken up or let go of at a time (its
own lock, never taken under the hub's), so a broker never forgets a room
another thread is taking up again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

from chatserver.backends.ports import Broker
from chatserver.backends.records import Unavailable
from chatserver.core.delivery import Build, Delivery, Publish, Receipt
from chatserver.core.fanout import Frame, Participant
from chatserver.core.rooms import NotTakenUp, Reading, Room, Rooms, TooManyRooms
from common.rooms import room_key

#: Times a publication takes its room up, at most, before it gives up (each time the room, empty,
#: was let go of to make space for another between being taken up and being published to).
PUBLISH_TRIES = 20

T = TypeVar("T")


class Following:
    """The hub's rooms as the broker follows them (see the module's docstring)."""

    def __init__(self, lock: threading.RLock, rooms: Rooms, broker: Broker, reading: Reading) -> None:
        self._lock = lock  # the hub's
        self._rooms = rooms
        self._broker = broker
        self._reading = reading  # who reads the rooms this node follows (a cluster's relay)
        self._turn = threading.Lock()  # one room taken up or let go of at a time (never under ``_lock``)
        self._unfollowed: list[str] = []  # rooms let go of, to tell the broker after the lock

    def follow(self, name: str, *, create: bool, maker: Participant | None = None) -> Room | None:
        """The room, followed by this node from now on (made in the broker if ``create``; None
        if not and the broker does not know it), its broker calls made outside the hub's lock.
        ``TooManyRooms`` if ``maker``'s address may not make it, or no room here can go."""
        with self._lock:
            room = self._rooms.get(name)
        if room is not None:
            return room
        made = False
        with self._turn:  # (one room taken up or let go of at a time: a broker's forget never races its ensure)
            try:
                with self._lock:
                    room = self._rooms.get(name)
                if room is not None:
                    return room
                known = None if create and maker is None else self._broker.room(name)
                if not create and known is None:
                    return None
                address = ""
                if maker is not None and known is None:
                    with self._lock:
                        address = self._rooms.may_make(name, maker)
                stored, read = self._broker.ensure(name)
                try:
                    with self._lock:
                        room = self._rooms.get(name)
                        if room is None:
                            dropped = self._rooms.make_space()
                            if dropped is not None:
                                self.forget(dropped)
                            room = self._rooms.add(Room(stored, read), address)
                            self._reading.follow(room)
                            made = True
                except TooManyRooms:
                    self._unfollowed.append(name)  # (ensure() followed it in the broker: undone below)
                    raise
            finally:
                self._let_go()
        if made:
            self._reading.wake()  # (a cluster's reader takes the room in now, not after its blocking read)
        return room

    def forget(self, room: Room) -> None:
        """No longer follow ``room`` (dropped from memory, empty); the broker is told by
        ``_let_go``, after the lock (lock held)."""
        self._reading.unfollow(room)
        self._unfollowed.append(room.name)

    def _let_go(self) -> None:
        """Tell the broker this node no longer follows the rooms it let go of (``_turn``
        held, the hub's lock not)."""
        while True:
            with self._lock:
                if not self._unfollowed:
                    return
                name = self._unfollowed.pop()
                if self._rooms.get(name) is not None:
                    continue  # followed again meanwhile
            with contextlib.suppress(Unavailable):  # (a cluster's: the sweep drops a dead position)
                self._broker.forget(name)


class TakingUp:
    """One server's delivery (``delivery.py``'s ``Delivery``), its rooms taken up outside the hub's lock
    first: a room published to that is not in memory (a private conversation kept between two accounts,
    a file shared to a room its sharer left) is read from the broker before the lock, never under it."""

    def __init__(self, local: Delivery, following: Following) -> None:
        self._local = local
        self._following = following
        self.dispatcher = local.dispatcher
        self.announce = local.announce  # (a notice to a room not in memory reaches nobody: nothing to take up)
        self.send_to = local.send_to
        self.send_many_to = local.send_many_to
        self.flush = local.flush

    def publish(
        self, room: str, build: Build, exclude: Participant | None = None, receipt: Receipt | None = None
    ) -> Frame:
        return self._taken_up(room, lambda: self._local.publish(room, build, exclude, receipt))

    def publish_many(self, items: list[Publish], exclude: Participant) -> None:
        """In one turn of the lock when they are all for one room (``NotTakenUp`` comes before the
        first is published, so none is published twice); one by one otherwise."""
        rooms = {room_key(room) for room, _, _ in items}
        if len(rooms) > 1:
            for room, build, receipt in items:
                self.publish(room, build, exclude, receipt)
            return
        self._taken_up(items[0][0], lambda: self._local.publish_many(items, exclude))

    def _taken_up(self, room: str, publish: Callable[[], T]) -> T:
        """``publish()``, ``room`` taken up first if it is not in memory (``NotTakenUp``: raised
        before anything is published). A room in memory costs no more than before: one turn of
        the lock, the publication's own."""
        for _ in range(PUBLISH_TRIES):
            try:
                return publish()
            except NotTakenUp:
                self._following.follow(room, create=True)
        raise TooManyRooms("rooms are being made too fast to publish now: try again")
