"""The room directory in Redis: who is in a room on any node, its topic, and the rooms in use.

``ports.RoomDirectory`` for a cluster's node, read from Redis presence
(``presence.py``: ``lanchat:members:ROOM``, ``lanchat:order:ROOM``) and
the broker (``redislog.py``: the room's hash). Never under the node's lock,
except for what a joiner's greeting asks while the node holds it (its first
members, their count, the topic, for a plain peer everyone): those are read
before the lock (``look``) and answered from that ``Glance`` while this
thread greets the joiner.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from chatserver.backends.ports import RoomInfo
from chatserver.backends.records import StoredRoom
from chatserver.cluster import keys
from chatserver.cluster.link import Link
from chatserver.cluster.presence import Presence
from chatserver.cluster.redislog import RedisBroker
from chatserver.core.registry import Person
from chatserver.core.rooms import LOBBY, Room
from common import messages as m
from common.limits import bound
from common.nicks import nick_key
from common.rooms import room_key

#: The first members a welcome or ``joined`` names, at most: read with the joiner's history, before the lock.
GLANCE = max(bound(m.Welcome), bound(m.Joined))


# KEYS: the room's hash. ARGV: the mark ("1" crowded, "0" not). 1 if this call changed it.
_MARK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local was = redis.call('HGET', KEYS[1], 'crowded') or '0'
if was == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'crowded', ARGV[1])
return 1
"""


@dataclasses.dataclass(frozen=True)
class Glance:
    """What a greeting shows of its room besides messages (its first members, their count, its
    topic), read from Redis before the lock is taken: greet() runs under it and asks for them."""

    room: str  # its key
    first: list[Person]
    count: int
    topic: str


class RedisDirectory:
    """``ports.RoomDirectory`` in Redis (see the module's docstring)."""

    def __init__(
        self, link: Link, presence: Presence, broker: RedisBroker, follow: Callable[[str], Room | None]
    ) -> None:
        self._link = link
        self._follow = follow  # the room, followed by this node from now on (made if new; lock not held)
        self._presence = presence
        self._broker = broker
        #: The ``Glance`` of the room this thread is greeting a joiner of, while it does.
        self._joining = threading.local()
        self._mark = link.redis.register_script(_MARK)

    def look(self, room: str) -> Glance:
        """The room as a greeting shows it (Redis: never under the lock)."""
        first, count = self._presence.first(room, GLANCE)
        found = self._broker.room(room)
        return Glance(room_key(room), first, count, found.topic if found else "")

    @contextmanager
    def greeting(self, seen: Glance | None) -> Iterator[None]:
        """While this thread greets a joiner: what its greeting asks of the room comes from ``seen``."""
        self._joining.glance = seen
        try:
            yield
        finally:
            self._joining.glance = None

    def _glanced(self, room: str) -> Glance | None:
        """The ``Glance`` of ``room`` if this thread is greeting a joiner of it."""
        seen: Glance | None = getattr(self._joining, "glance", None)
        return seen if seen is not None and seen.room == room_key(room) else None

    def joined(self, room: str, nick: str, sid: str, rooms: list[str]) -> bool:
        return self._presence.joined(room, nick, sid, rooms)

    def left(self, room: str, nick: str, sid: str, rooms: list[str] | None) -> bool:
        return self._presence.left(room, nick, sid, rooms)

    def others_in(self, room: str, nick: str, sid: str) -> bool:
        return self._presence.others_in(room, nick, sid)

    def members(self, room: str) -> list[Person]:
        """Everyone in ``room``, by name (a plain joiner's greeting lists them under the lock: from
        its ``Glance`` when that holds the whole room; a room larger than that is read from Redis)."""
        seen = self._glanced(room)
        if seen is not None and seen.count <= len(seen.first):
            return sorted(seen.first, key=lambda p: nick_key(p.nick))
        return self._presence.members(room)

    def first_members(self, room: str, limit: int) -> tuple[list[Person], int]:
        """The first ``limit`` in the order they came, bounded (the joiner's greeting asks
        under the lock, and is answered from its ``Glance``)."""
        seen = self._glanced(room)
        if seen is not None and (limit <= GLANCE or seen.count <= GLANCE):
            return seen.first[:limit], seen.count
        return self._presence.first(room, limit)

    def first_names(self, room: str, limit: int) -> tuple[list[str], int]:
        shown, count = self.first_members(room, limit)
        return [p.nick for p in shown], count

    def first_present(self, room: str, limit: int) -> tuple[list[str], list[str], int]:
        shown, count = self.first_members(room, limit)
        return [p.nick for p in shown], [p.nick for p in shown if p.away], count

    def size(self, room: str) -> int:
        """Presence's count of ``room`` across the cluster: one HLEN, O(1)."""
        return self._presence.counts([room_key(room)])[0]

    def census(self, room: str) -> tuple[int, bool]:
        """The room's count (one HLEN) and its crowded mark (one HGET), in one round trip."""
        key = room_key(room)

        def read(r) -> list:  # noqa: ANN001
            p = r.pipeline(transaction=False)
            p.hlen(keys.members(key))
            p.hget(keys.room(key), "crowded")
            return p.execute()

        count, mark = self._link.call(read)  # type: ignore[misc]
        return int(count), mark == "1"

    def mark_crowded(self, room: str, crowded: bool) -> bool:
        """One script: the mark changes for one caller of the whole cluster (a room Redis does
        not know is left alone: a hash of a mark alone would pass for a room)."""
        key = keys.room(room_key(room))
        return bool(self._link.call(lambda r: self._mark(keys=[key], args=["1" if crowded else "0"])))

    def set_topic(self, room: str, topic: str) -> None:
        r = self._follow(room)
        assert r is not None
        self._broker.save_room(StoredRoom(r.name, r.epoch, r.seq, topic))
        r.topic = topic  # (one store; nothing on a node reads it under the lock: topics are read from Redis)

    def topic(self, room: str) -> str:
        seen = self._glanced(room)
        if seen is not None:
            return seen.topic
        found = self._broker.room(room)
        return found.topic if found else ""

    def rooms(self) -> list[RoomInfo]:
        names = sorted(self._link.call(lambda r: r.smembers(keys.ROOMS)))  # type: ignore[arg-type]
        counts = self._presence.counts(names)
        found = []
        for stored, count in zip(self._broker.rooms(names), counts, strict=True):
            if stored is not None and (count or room_key(stored.name) == room_key(LOBBY)):
                found.append(RoomInfo(stored.name, count, stored.topic))
        return sorted(found, key=lambda info: room_key(info.name))
