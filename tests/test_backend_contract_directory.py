"""The room directory's contract, held against one server's (the hub's rooms in memory) and a
cluster's (Redis, a real redis-server): a room's count and crowded mark read in one step, and
the mark changed for exactly one of several callers (so a room hears a crossing once)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from helpers import Member
from test_backend_contract import _fits

from chatserver.backends.ports import RoomDirectory
from chatserver.backends.roomlog import MemoryBroker
from chatserver.cluster.directory import RedisDirectory
from chatserver.cluster.link import Link
from chatserver.cluster.presence import Presence as RedisPresence
from chatserver.cluster.redislog import RedisBroker
from chatserver.core.following import Following
from chatserver.core.roomquota import RoomQuota
from chatserver.core.rooms import NO_READING, LocalDirectory, Room, Rooms


@pytest.fixture(params=["memory", "redis"])
def directory(request) -> Iterator[tuple[RoomDirectory, Callable[[str], object], Callable[[str, str], None]]]:
    """A directory, how to make a room in it, and how to put a person in a room."""
    if request.param == "memory":
        lock = threading.RLock()
        broker = MemoryBroker()
        rooms = Rooms(RoomQuota())
        following = Following(lock, rooms, broker, NO_READING)  # (as the hub takes a room up: outside the lock)

        def make(name: str) -> Room | None:
            return following.follow(name, create=True)

        def join(name: str, nick: str) -> None:
            room = following.follow(name, create=True)
            assert room is not None
            with lock:
                room.members[Member(nick)] = 0  # type: ignore[index]

        yield LocalDirectory(lock, rooms, broker, make), make, join
    else:
        link = Link(request.getfixturevalue("redis_server").url)
        presence = RedisPresence(link, "n1", 60.0)
        presence.heartbeat()
        broker = RedisBroker(link, "n1")
        found = RedisDirectory(link, presence, broker, lambda name: None)
        sids = iter(range(1, 10_000))

        def join(name: str, nick: str) -> None:
            sid = f"n1/{next(sids)}"
            assert presence.claim(nick, sid, "") is not None
            presence.joined(name, nick, sid, [name])

        yield found, lambda name: broker.ensure(name) and None, join
        link.close()


def test_each_directory_has_every_method_of_its_interface(directory):
    found, _, _ = directory
    assert _fits(found, RoomDirectory) == []


def test_a_census_counts_the_room_and_reads_its_mark(directory):
    found, make, join = directory
    assert found.census("#none") == (0, False)
    make("#big")
    for nick in ("a", "b", "c"):
        join("#big", nick)
    assert found.census("#big") == (3, False)
    assert found.mark_crowded("#BIG", True) is True
    assert found.census("#big") == (3, True) and found.size("#big") == 3
    assert found.mark_crowded("#big", True) is False, "marked already: nobody else is told"
    assert found.mark_crowded("#big", False) is True and found.census("#big") == (3, False)


def test_a_room_that_does_not_exist_is_not_marked(directory):
    found, _, _ = directory
    assert found.mark_crowded("#nowhere", True) is False
    assert found.census("#nowhere") == (0, False)


def test_of_many_marking_a_room_at_once_exactly_one_changes_it(directory):
    found, make, _ = directory
    make("#big")
    start, won = threading.Barrier(8), []

    def mark() -> None:
        start.wait()
        won.append(found.mark_crowded("#big", True))

    threads = [threading.Thread(target=mark) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 7 + [True]
