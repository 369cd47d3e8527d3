"""Who is in a room, as a plain peer's entry lists it (``first_present``): the same on one server and on a cluster node.

A plain peer is told the first names of its room, those of them away, and
the count of the rest on every entry; ``first_present`` answers that with
names alone (no ``Person`` record each, the cost py-spy found in the plain
hello). It must say what ``first_members`` says, on every directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import Member

from chatserver.core.hub import LocalHub


@pytest.fixture(params=["local", "cluster"])
def hub(request) -> Iterator[LocalHub]:
    if request.param == "local":
        node = LocalHub()
    else:
        from chatserver.cluster.hub import ClusterHub
        from chatserver.cluster.link import Link

        redis_server = request.getfixturevalue("redis_server")
        node = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    yield node
    node.close()


def test_first_present_names_the_first_the_away_among_them_and_the_count(hub):
    people = [Member(nick) for nick in ("alice", "bob", "carol", "dave")]
    for p in people:
        hub.enter(p, p.nick, "#a", lambda g: None)
    people[1].away = "lunch"
    hub.changed(people[1])
    people[3].away = "gone"
    hub.changed(people[3])

    shown, count = hub.first_members("#a", 3)
    assert hub.first_present("#a", 3) == ([p.nick for p in shown], [p.nick for p in shown if p.away], count)
    assert hub.first_present("#a", 3) == (["alice", "bob", "carol"], ["bob"], 4)
    assert hub.first_present("#nowhere", 3) == ([], [], 0)
