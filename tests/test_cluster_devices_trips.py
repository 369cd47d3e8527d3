"""Redis round trips of a node's operations on an account's devices, counted (not timed): every
packet of commands this thread sends to a real redis-server is one round trip (a pipeline or a
script is one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import Member
from redis.connection import AbstractConnection

from chatserver.backends.records import Person
from chatserver.cluster import keys
from chatserver.cluster.hub import ClusterHub
from chatserver.cluster.link import Link
from chatserver.cluster.presence import Presence


class Trips:
    """How many round trips this thread made to Redis, and what each began with (for a failure's message)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    @property
    def count(self) -> int:
        return len(self.sent)


@contextmanager
def counted() -> Iterator[Trips]:
    """Round trips this thread makes meanwhile (the node's own threads are not counted)."""
    trips = Trips()
    me = threading.current_thread()
    send = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # noqa: ANN001, ANN202
        if threading.current_thread() is me:
            packed = b"".join(command) if isinstance(command, list) else command
            trips.sent.append(bytes(packed[:60]))
        return send(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]


class Device(Member):
    account = "nora"


@pytest.fixture
def hub(redis_server):
    node = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    yield node
    node.close()


def test_a_device_joining_a_room_asks_redis_once_whether_the_person_is_there(hub):
    phone, laptop = Device("nora"), Device("nora")
    hub.enter(phone, "nora", "#lobby", lambda g: None)
    hub.enter(laptop, "nora", "#lobby", lambda g: None)
    hub.join("#warm", phone, lambda g: None)  # (scripts loaded, connections made: not counted)
    hub.join("#dev", phone, lambda g: None)
    with counted() as trips:
        hub.join("#dev", laptop, lambda g: None)
    # the room followed already; the join (which says whether the phone was there); the history; the glance
    # (first members, the room's hash)
    assert trips.count == 3, trips.sent


def test_who_holds_a_name_with_devices_on_two_nodes_is_one_round_trip(redis_server):
    link = Link(redis_server.url)
    try:
        a, b = Presence(link, "A", 60.0), Presence(link, "B", 60.0)
        a.heartbeat()
        b.heartbeat()
        nora = Person("nora", account="nora")
        a.claim("nora", "A/1", "ta", p=nora)
        b.claim("nora", "B/1", "tb", p=nora)
        b.holder("nora")  # (the script loaded: not counted)
        with counted() as trips:
            held = b.holder("NORA")
        assert (held.node, held.sid, held.devices, held.person.account) == ("A", "A/1", (("B", "B/1"),), "nora")
        assert trips.count == 1, trips.sent  # (the name, its node's lease, its devices' leases: one script)
        link.redis.delete(keys.alive("B"))
        assert b.holder("nora").devices == (), "a device on a dead node is not one"
        link.redis.delete(keys.alive("A"))
        assert b.holder("nora") is None, "the node holding it is dead"
    finally:
        link.close()


def test_two_devices_ending_at_once_on_two_nodes_leave_the_room_once(redis_server):
    """Each node takes its device out of the room, and only then asks whether the person is still
    there: the one whose leave was the last out says the person left, the other does not."""
    one = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    two = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    try:
        phone, laptop = Device("nora"), Device("nora")
        one.enter(phone, "nora", "#lobby", lambda g: None)
        two.enter(laptop, "nora", "#lobby", lambda g: None)
        warm = Device("warm")
        one.enter(warm, "warm", "#lobby", lambda g: None)
        one.unregister(warm)  # (its scripts loaded: not counted)
        one.staying(warm, ["#lobby"])
        with counted() as trips:
            one.unregister(phone)  # (both gone before either asks: as when both end at once)
        two.unregister(laptop)
        with counted() as asked:
            stayed = [one.staying(phone, ["#lobby"]), two.staying(laptop, ["#lobby"])]
        assert (trips.count, asked.count) == (2, 0), (
            trips.sent,
            asked.sent,
        )  # (leave the room, the name: not asked again)
        assert sorted(map(len, stayed)) == [0, 1], f"exactly one is the last out: {stayed}"
    finally:
        one.close()
        two.close()


def test_two_devices_parting_a_room_at_once_on_two_nodes_leave_it_once(redis_server):
    """Two devices of a person part one room at the same moment, one on each node (each the
    other's follower, as ``/part`` on both at once makes them): exactly one is the last out, and
    each knows it from its own leave, in one round trip (no ``others_in`` asked after it)."""
    one = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    two = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    try:
        phone, laptop = Device("nora"), Device("nora")
        one.enter(phone, "nora", "#lobby", lambda g: None)
        two.enter(laptop, "nora", "#lobby", lambda g: None)
        one.join("#side", phone)
        two.join("#side", laptop)
        warm = Device("warm")
        one.enter(warm, "warm", "#lobby", lambda g: None)
        one.join("#side", warm)
        one.part("#side", warm)  # (its scripts loaded: not counted)
        with counted() as trips:
            first = one.part("#side", phone)
        second = two.part("#side", laptop)
        assert sorted([first, second]) == [False, True], "exactly one is the last out"
        assert trips.count == 1, trips.sent
    finally:
        one.close()
        two.close()


class Asked(Device):
    """A device that records what other nodes ask of it, and on which thread."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.asks: list[tuple[str, bool, str]] = []

    def asked(self, room: str, join: bool, by: str, reason: str) -> None:
        self.asks.append((room, join, threading.current_thread().name))


def test_what_another_node_asks_of_a_device_is_done_in_the_order_asked(hub):
    """A join then a part of one room, asked by another node back to back: done in that order,
    one after the other on the node's one errand thread (a thread each could do the part first,
    and leave the device in a room its person left)."""
    laptop = Asked("nora")
    hub.enter(laptop, "nora", "#lobby", lambda g: None)
    sid = hub._names.sids[laptop]
    with hub._lock:  # (as the relay's reader calls it)
        for join in ("1", "0", "1", "0"):
            hub._obey({"t": "move", "sid": sid, "room": "#side", "join": join})
    done = threading.Event()
    hub._errands.put((done.set, ()))
    assert done.wait(10)
    assert [(room, join) for room, join, _ in laptop.asks] == [("#side", j) for j in (True, False, True, False)]
    assert len({thread for _, _, thread in laptop.asks}) == 1
