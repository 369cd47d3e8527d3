"""The rooms in memory and who is in them: each room's state, made (within quotas), brought back, forgotten.

``Rooms`` is the hub's table of rooms, keyed by ``room_key``. Every method
is called with the hub's lock held (the lock that orders delivery), so it
has no broker to call: the hub takes a room up in its broker outside the
lock (``following.py``) and in through ``add``, on one server as on a
cluster's node, and a room not taken up is ``NotTakenUp`` (``taken``).
Each room remembers its last ``LATEST`` messages delivered, for a joiner
whose history was read outside the lock. A member is recorded with the
room's ``posted`` count when it came: it gets what was queued after. One
who leaves while posts to the room are queued still gets those (``leave``,
then ``recipients``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterator

from chatserver.backends.ports import Broker, RoomInfo
from chatserver.backends.records import StoredRoom
from chatserver.core.fanout import Member, Participant, Post
from chatserver.core.registry import Person, person
from chatserver.core.roomquota import RoomQuota
from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

LOBBY = "#lobby"
MAX_ROOMS = 1000  # rooms in memory at once; an empty one is forgotten to make space
#: Messages a room remembers having delivered (for joiners greeted from a history read outside
#: the lock), and the characters of text they may hold together: 1,000 rooms of long messages
#: cost at most about 64 MB, not 256 messages of 8,000 characters each (2 GB).
LATEST = 256
LATEST_CHARS = 64_000


class TooManyRooms(Exception):
    pass


class NotTakenUp(LookupError):
    """A room published to is not in memory: it is taken up outside the lock (``following.py``), then
    published to again (it was never taken up, or, empty, was let go of in between to make space)."""


@dataclasses.dataclass(frozen=True)
class Reading:
    """What reads the rooms this node follows from a broker in another process (a cluster's
    relay, reading Redis streams); one server's broker is read where it is kept: ``NO_READING``."""

    follow: Callable[[Room], None]  # read the room from ``room.read`` on (lock held)
    unfollow: Callable[[Room], None]  # no longer read it (lock held)
    wake: Callable[[], None]  # a room was taken up: the reader takes it in now (lock not held)


class Room:
    __slots__ = ("name", "epoch", "members", "seq", "posted", "topic", "full", "maker", "crowded", "read", "latest")

    def __init__(self, stored: StoredRoom, read: str = "") -> None:
        self.name = stored.name
        #: This room's numbering: a room made anew (its old self forgotten) counts afresh.
        self.epoch = stored.epoch
        #: member -> ``posted`` when it joined: it gets what was posted after.
        self.members: dict[Participant, int] = {}
        self.seq = stored.seq
        self.posted = 0  # frames queued to the room so far (messages and notices)
        self.topic = stored.topic
        #: Members found ``full`` by the last dispatch (replaced, never mutated).
        self.full: list[Participant] = []
        #: The address that made it ("" for one the log knew): see ``roomquota.py``.
        self.maker = ""
        #: Marked crowded (``RoomDirectory.mark_crowded``: ``rules/crowd.py`` decides).
        self.crowded = False
        #: The broker's position this node has read the room up to (``Broker.ensure``'s form).
        self.read = read
        #: The last messages delivered, (seq, message): a joiner's history read from the broker
        #: outside the lock is completed from these under it (``delivered_after``).
        self.latest = Latest()

    def delivered_after(self, seq: int) -> list[m.ChatMessage] | None:
        """The messages delivered numbered above ``seq``, or None if ``latest`` does not
        hold all of them (lock held)."""
        if self.seq <= seq:
            return []
        found = [msg for n, msg in self.latest if n > seq]
        return found if len(found) == self.seq - seq else None


class Latest:
    """A room's last delivered messages, (seq, message), oldest first: at most ``LATEST`` of them
    and ``LATEST_CHARS`` characters of text (the newest is kept whatever its length)."""

    __slots__ = ("_items", "_chars")

    def __init__(self) -> None:
        self._items: collections.deque[tuple[int, m.ChatMessage, int]] = collections.deque()
        self._chars = 0

    def append(self, item: tuple[int, m.ChatMessage]) -> None:
        seq, msg = item
        size = len(msg.text)
        self._items.append((seq, msg, size))
        self._chars += size
        while len(self._items) > LATEST or (self._chars > LATEST_CHARS and len(self._items) > 1):
            self._chars -= self._items.popleft()[2]

    def extend(self, msgs: list[m.ChatMessage]) -> None:
        """``append`` for each of a run of messages (by their own seq), in one call; what is kept
        is the same (the oldest go first, as many as one by one would drop)."""
        items = self._items
        sizes = [len(msg.text) for msg in msgs]
        items.extend(zip([msg.seq for msg in msgs], msgs, sizes, strict=True))
        self._chars += sum(sizes)
        while len(items) > LATEST or (self._chars > LATEST_CHARS and len(items) > 1):
            self._chars -= items.popleft()[2]

    def __iter__(self) -> Iterator[tuple[int, m.ChatMessage]]:
        return ((seq, msg) for seq, msg, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)


def _no_follow(room: Room) -> None:
    """(One server's broker is read where it is kept: nothing to follow.)"""


NO_READING = Reading(_no_follow, _no_follow, lambda: None)


class Rooms:
    """The rooms in memory (every method: the hub's lock held)."""

    def __init__(self, quota: RoomQuota, max_rooms: int = MAX_ROOMS) -> None:
        self.quota = quota
        self.max_rooms = max_rooms
        self.by_key: dict[str, Room] = {}  # room_key -> room
        #: Who left a room while posts to it were queued, and the last of them it gets.
        self._leavers: dict[Room, list[Member]] = {}
        #: How many of a room's members are a person's second (third...) session: an account's
        #: other devices (the hub's registry counts them; none by default).
        self.extra: Callable[[dict[Participant, int]], int] = lambda members: 0
        #: Whether anyone has several devices now (the registry's set, shared): ``extra`` is
        #: asked only then, one frame less on a welcome's way (``net/threadmemory.py``).
        self.several: set[str] = set()

    def count(self, r: Room) -> int:
        """How many people are in ``r`` (an account's devices count once)."""
        return len(r.members) - self.extra(r.members) if self.several else len(r.members)

    def get(self, name: str) -> Room | None:
        """The room if it is in memory."""
        return self.by_key.get(room_key(name))

    def __iter__(self) -> Iterator[Room]:
        return iter(self.by_key.values())

    def taken(self, name: str) -> Room:
        """The room, taken up (``following.py``, outside the lock); ``NotTakenUp`` if it is not in memory."""
        room = self.by_key.get(room_key(name))
        if room is None:
            raise NotTakenUp(name)
        return room

    def add(self, room: Room, address: str = "") -> Room:
        """Take ``room`` in, made for ``address`` ("" for nobody's: not counted to anyone)."""
        self.by_key[room_key(room.name)] = room
        if address:
            room.maker = address
            self.quota.made(address)
        return room

    def may_make(self, name: str, maker: Participant | None) -> str:
        """The address making room ``name`` ("" for none to count: the lobby, the
        host); ``TooManyRooms`` if its budget or the reserve refuses."""
        if maker is None or maker.is_host or room_key(name) == room_key(LOBBY):
            return ""
        busy = [r for r in self.by_key.values() if r.members]
        mine = sum(1 for r in busy if r.maker == maker.address)
        why = self.quota.refusal(maker.address, mine=mine, busy=len(busy), cap=self.max_rooms)
        if why:
            raise TooManyRooms(why)
        return maker.address

    def make_space(self) -> Room | None:
        """With ``max_rooms`` in memory, drop an empty one and return it for its owner to
        forget (``TooManyRooms`` if none is empty); None if there was space."""
        if len(self.by_key) < self.max_rooms:
            return None
        empty = next((k for k, r in self.by_key.items() if not r.members and k != room_key(LOBBY)), None)
        if empty is None:
            raise TooManyRooms(f"there are {self.max_rooms} rooms already")
        return self.by_key.pop(empty)

    def clear(self) -> None:
        self.by_key.clear()

    # -- who is in them --
    def rooms_of(self, sub: Participant) -> list[str]:
        """The names of the rooms ``sub`` is in."""
        return [r.name for r in self.by_key.values() if sub in r.members]

    def drop(self, sub: Participant) -> None:
        """``sub`` is gone: out of every room (what is queued for it no longer matters)."""
        for room in self.by_key.values():
            room.members.pop(sub, None)

    def leave(self, r: Room, sub: Participant, queued: bool) -> None:
        """``sub`` leaves ``r``; posts already ``queued`` to the room still reach it."""
        since = r.members.pop(sub, None)
        if since is not None and queued and r.posted > since:
            self._leavers.setdefault(r, []).append(Member(sub, since, r.posted))

    def members(self, name: str) -> list[Person]:
        r = self.get(name)
        return [person(sub) for sub in _people(r.members)] if r else []

    def first_members(self, name: str, limit: int) -> tuple[list[Person], int]:
        """The first ``limit`` members (in the order they came) and how many there are: what a
        welcome or ``joined`` names costs the same in a room of 5 and of 5,000."""
        r = self.get(name)
        if r is None:
            return [], 0
        return [person(sub) for sub in itertools.islice(_people(r.members), limit)], self.count(r)

    def first_names(self, name: str, limit: int) -> tuple[list[str], int]:
        """``first_members``' names alone: what a welcome lists, on every join, without a record each.
        (``get`` written out: a welcome asks this at the deepest a connection's thread goes, and
        each frame there is kept by every idle connection: ``net/threadmemory.py``.)"""
        r = self.by_key.get(room_key(name))
        return ([sub.nick for sub in itertools.islice(_people(r.members), limit)], self.count(r)) if r else ([], 0)

    def first_present(self, name: str, limit: int) -> tuple[list[str], list[str], int]:
        """``first_names`` with the away among them: a plain peer's entry, with no record each."""
        r = self.by_key.get(room_key(name))
        if r is None:
            return [], [], 0
        shown = list(itertools.islice(_people(r.members), limit))
        return [sub.nick for sub in shown], [sub.nick for sub in shown if sub.away], self.count(r)

    def listing(self) -> list[RoomInfo]:
        """Rooms with people in them (and the lobby), by name."""
        found = [
            RoomInfo(r.name, self.count(r), r.topic)
            for k, r in self.by_key.items()
            if r.members or k == room_key(LOBBY)
        ]
        return sorted(found, key=lambda info: room_key(info.name))

    def recipients(self, posts: list[Post]) -> dict[object, list[Member]]:
        """For each room in a batch taken by the dispatcher: its members as of now, and
        who left since but was there when some of these were queued; each gets what was
        queued while it was a member. (Every post a leaver is owed is in this batch or
        an earlier one: the record is done with.)"""
        members: dict[object, list[Member]] = {}
        for post in posts:
            r = post.room
            if r is not None and r not in members:
                assert isinstance(r, Room)
                here = [Member(sub, since) for sub, since in r.members.items()]
                members[r] = self._leavers.get(r, []) + here  # (older first)
        self._leavers.clear()
        return members


def _people(members: dict[Participant, int]) -> Iterator[Participant]:
    """One session per person: an account's other devices in the room are not listed again."""
    seen: set[str] = set()
    for sub in members:
        if sub.account is None:  # (a guest has one session: no key to make, a frame less deep)
            yield sub
        elif (key := nick_key(sub.nick)) not in seen:
            seen.add(key)
            yield sub


class LocalDirectory:
    """``ports.RoomDirectory`` for one server: its rooms in memory, read under the hub's lock."""

    def __init__(
        self, lock: threading.RLock, rooms: Rooms, broker: Broker, follow: Callable[[str], Room | None]
    ) -> None:
        self._lock = lock
        self._rooms = rooms
        self._broker = broker  # (a room's topic when it is not in memory)
        self._follow = follow  # the room, taken up (made if new; lock not held)
        self._saving = threading.Lock()  # topics kept one at a time (never taken under the hub's lock)

    def look(self, room: str) -> None:
        """(A greeting's questions are answered under the lock from memory: nothing to read before.)"""

    def greeting(self, seen: object | None) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def joined(self, room: str, nick: str, sid: str, rooms: list[str]) -> bool:
        """(The hub's rooms are this directory: a member is in it once the hub has it; the hub
        asks its own rooms whether another device was there: ``Names.others``.)"""
        return False

    def left(self, room: str, nick: str, sid: str, rooms: list[str] | None) -> bool:
        """(As ``joined``: the hub asks its own rooms whether another device is still there.)"""
        return True

    def others_in(self, room: str, nick: str, sid: str) -> bool:
        """(The hub asks its own rooms: ``Names.others``.)"""
        return False

    def members(self, room: str) -> list[Person]:
        with self._lock:
            return self._rooms.members(room)

    def first_members(self, room: str, limit: int) -> tuple[list[Person], int]:
        with self._lock:
            return self._rooms.first_members(room, limit)

    def first_names(self, room: str, limit: int) -> tuple[list[str], int]:
        with self._lock:
            return self._rooms.first_names(room, limit)

    def first_present(self, room: str, limit: int) -> tuple[list[str], list[str], int]:
        with self._lock:
            return self._rooms.first_present(room, limit)

    def size(self, room: str) -> int:
        with self._lock:
            r = self._rooms.get(room)
            return self._rooms.count(r) if r is not None else 0

    def census(self, room: str) -> tuple[int, bool]:
        with self._lock:
            r = self._rooms.get(room)
            return (self._rooms.count(r), r.crowded) if r is not None else (0, False)

    def mark_crowded(self, room: str, crowded: bool) -> bool:
        with self._lock:
            r = self._rooms.get(room)
            if r is None or r.crowded == crowded:
                return False
            r.crowded = crowded
            return True

    def set_topic(self, room: str, topic: str) -> None:
        """The room's topic, kept by the broker outside the hub's lock (topics set at once are
        kept in the order they were set: ``_saving``)."""
        r = self._follow(room)
        assert r is not None
        with self._saving:
            with self._lock:
                r.topic = topic
                stored = StoredRoom(r.name, r.epoch, r.seq, r.topic)
            self._broker.save_room(stored)

    def topic(self, room: str) -> str:
        with self._lock:
            r = self._rooms.get(room)
            if r is not None:
                return r.topic
        found = self._broker.room(room)  # (a room not in memory, as kept)
        return found.topic if found else ""

    def rooms(self) -> list[RoomInfo]:
        with self._lock:
            return self._rooms.listing()
