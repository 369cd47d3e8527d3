"""One contract for every backend: the same assertions against memory, SQLite (a real file) and Redis (a real server).

A broker numbers each room's messages in one order under a stable epoch,
reads them back by position and lets a follower wait for the next; a
moderation store keeps bans, mutes and grants; a secret store gives one
secret; presence holds names on node leases that end by the backend's
clock (injected here). The hub cannot tell the implementations apart, so
each must pass every test here unchanged.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from chatserver.backends.memory import Leases, MemoryModeration, MemoryPresence, MemorySecret
from chatserver.backends.ports import Broker, ModerationStore, Presence, SecretStore
from chatserver.backends.records import Gone, Person, StoredGrant, StoredRoom, StoredSanction
from chatserver.backends.roomlog import MemoryBroker
from chatserver.backends.store import SqliteStore
from chatserver.cluster.link import Link
from chatserver.cluster.presence import Presence as RedisPresence
from chatserver.cluster.redislog import RedisBroker
from chatserver.cluster.redisstores import RedisModeration, RedisSecret
from common import messages as m
from common.rooms import room_key

LEASE = 15.0
FOLLOW_WAIT = 10.0  # a follower's wait that must end well before this, when a message comes


@dataclasses.dataclass
class Kit:
    """One backend's implementations, and how to get a fresh handle on the same data."""

    broker: Broker
    moderation: ModerationStore
    secrets: SecretStore
    reopen_secrets: Callable[[], SecretStore]
    durable: bool  # the secret outlives the process


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kit(request, tmp_path) -> Iterator[Kit]:
    if request.param == "memory":
        yield Kit(MemoryBroker(), MemoryModeration(), MemorySecret(), MemorySecret, durable=False)  # (a new process)
    elif request.param == "sqlite":
        path = tmp_path / "contract.sqlite3"
        store = SqliteStore(path, room_key=room_key)
        opened = [store]

        def reopen() -> SecretStore:
            opened[-1].close()
            opened.append(SqliteStore(path, room_key=room_key))
            return opened[-1]

        yield Kit(store, store, store, reopen, durable=True)
        opened[-1].close()
    else:
        server = request.getfixturevalue("redis_server")
        link = Link(server.url)
        broker, moderation = RedisBroker(link, "n1"), RedisModeration(link, "n1")
        yield Kit(broker, moderation, RedisSecret(link), lambda: RedisSecret(link), durable=True)
        link.close()


def _msg(room: str, text: str, nick: str = "alice", seq: int = 0) -> m.ChatMessage:
    return m.ChatMessage(seq=seq, ts=1000.0, room=room, nick=nick, text=text)


def _room(broker: Broker, name: str) -> StoredRoom:
    broker.save_room(StoredRoom(name, "e1", 0, ""))
    found = broker.room(name)
    assert found is not None
    return found


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    names = [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    return {n: inspect.signature(getattr(protocol, n)) for n in names}


def _fits(implementation: object, protocol: type) -> list[str]:
    """What ``implementation`` lacks of ``protocol``: a method, or a parameter (by name, in order)."""
    missing = []
    for name, wanted in _methods(protocol).items():
        method = getattr(implementation, name, None)
        if method is None:
            missing.append(name)
            continue
        have = list(inspect.signature(method).parameters)
        need = [p for p in wanted.parameters if p != "self"]
        if have[: len(need)] != need:
            missing.append(f"{name}{tuple(have)}: wants {tuple(need)}")
    return missing


def test_each_backend_has_every_method_of_its_interfaces(kit):
    assert _fits(kit.broker, Broker) == []
    assert _fits(kit.moderation, ModerationStore) == []
    assert _fits(kit.secrets, SecretStore) == []


# -- the broker --
def test_positions_increase_by_one_under_a_stable_epoch(kit):
    b = kit.broker
    made = _room(b, "#Dev")
    assert made.seq == 0 and made.epoch
    positions = [b.publish(_msg("#Dev", f"line {i}")) for i in range(1, 4)]
    assert [p.seq for p in positions] == [1, 2, 3]
    assert {p.epoch for p in positions} == {made.epoch}
    assert b.commit() == set()
    assert b.room("#dev") == StoredRoom("#Dev", made.epoch, 3, ""), "the room's name as made, any case finds it"


def test_the_broker_numbers_whatever_number_the_message_carries(kit):
    b = kit.broker
    _room(b, "#dev")
    assert b.publish(_msg("#dev", "one", seq=41)).seq == 1
    assert b.publish(_msg("#DEV", "two", seq=1)).seq == 2
    b.commit()
    assert [(x.seq, x.text) for x in b.recent("#dev", 10)] == [(1, "one"), (2, "two")]


def test_rooms_are_numbered_apart(kit):
    b = kit.broker
    for name in ("#a", "#b"):
        _room(b, name)
    assert b.publish(_msg("#a", "x")).seq == 1
    assert b.publish(_msg("#a", "y")).seq == 2
    assert b.publish(_msg("#b", "z")).seq == 1
    b.commit()
    assert [x.text for x in b.recent("#b", 10)] == ["z"]


def test_history_by_position(kit):
    b = kit.broker
    _room(b, "#dev")
    for i in range(1, 11):
        b.publish(_msg("#dev", f"line {i}", nick="bob" if i % 2 else "alice"))
    b.commit()
    seqs = lambda found: [x.seq for x in found]  # noqa: E731
    assert seqs(b.recent("#dev", 3)) == [8, 9, 10], "the latest, oldest first"
    assert seqs(b.recent("#dev", 3, before=5)) == [2, 3, 4]
    assert seqs(b.recent("#dev", 3, after=2)) == [8, 9, 10], "after a position: still the latest of them"
    assert seqs(b.recent("#dev", 10, after=2, before=6)) == [3, 4, 5]
    assert b.recent("#dev", 0) == [] and b.recent("#dev", 5, before=1) == [] and b.recent("#nope", 5) == []
    fifth = b.recent("#dev", 1, before=6)[0]
    assert (fifth.room, fifth.nick, fifth.text, fifth.action) == ("#dev", "bob", "line 5", False)


def test_a_new_topic_keeps_the_numbering(kit):
    b = kit.broker
    made = _room(b, "#dev")
    b.publish(_msg("#dev", "hello"))
    b.commit()
    b.save_room(StoredRoom("#dev", made.epoch, 1, "release friday"))
    assert b.room("#dev") == StoredRoom("#dev", made.epoch, 1, "release friday")
    assert b.publish(_msg("#dev", "next")).seq == 2


def test_a_room_is_followed_as_kept_or_made_once(kit):
    """``ensure``: the hub takes a room up outside its lock, the broker makes it if new."""
    b = kit.broker
    made, _ = b.ensure("#Dev")
    assert (made.name, made.seq, made.topic) == ("#Dev", 0, "") and made.epoch
    again, _ = b.ensure("#DEV")
    assert again == made, "known now: the same room, its numbering kept"
    b.publish(_msg("#dev", "hello"))
    b.commit()
    b.save_room(StoredRoom("#Dev", made.epoch, 1, "release friday"))
    kept, _ = b.ensure("#dev")
    assert kept == StoredRoom("#Dev", made.epoch, 1, "release friday")
    found: list[StoredRoom] = []
    start = threading.Barrier(6)

    def take_up() -> None:
        start.wait()
        found.append(b.ensure("#new")[0])

    threads = [threading.Thread(target=take_up) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({x.epoch for x in found}) == 1, "taken up at once by several: one room"


def test_a_room_numbered_as_far_as_seen_is_not_behind(kit):
    b = kit.broker
    b.ensure("#dev")
    for i in range(3):
        b.publish(_msg("#dev", f"line {i}"))
    b.commit()
    epoch = b.room("#dev").epoch  # type: ignore[union-attr]
    assert b.behind({"#dev": 3}) == [] and b.behind({"#dev": 1}) == []
    assert b.room("#dev").epoch == epoch, "nothing renumbered"  # type: ignore[union-attr]


def test_search_finds_every_word_newest_first(kit):
    b = kit.broker
    for name in ("#a", "#b"):
        _room(b, name)
    for room, text in (("#a", "the build is red"), ("#a", "build green again"), ("#b", "build")):
        b.publish(_msg(room, text))
    b.commit()
    assert [x.seq for x in b.search("#a", "build", 10)] == [2, 1]
    assert [x.seq for x in b.search("#a", "red build", 10)] == [1]
    assert [x.seq for x in b.search("#a", "build", 1)] == [2]
    assert b.search("#a", "", 10) == [] and b.search("#a", "purple", 10) == []


def test_a_follower_gets_what_came_after_its_position(kit):
    b = kit.broker
    _room(b, "#dev")
    _room(b, "#ops")
    for i in range(1, 4):
        b.publish(_msg("#dev", f"line {i}"))
    b.commit()
    assert [x.seq for x in b.follow({"#dev": 1}, 0.0)] == [2, 3], "what is there already, at once"
    assert b.follow({"#dev": 3}, 0.05) == [], "nothing new: empty once the wait is over"


def test_a_waiting_follower_wakes_for_the_next_message(kit):
    b = kit.broker
    _room(b, "#dev")
    _room(b, "#ops")
    got: list[m.ChatMessage] = []
    started = time.monotonic()
    follower = threading.Thread(target=lambda: got.extend(b.follow({"#dev": 0, "#ops": 0}, FOLLOW_WAIT)))
    follower.start()
    b.publish(_msg("#ops", "wake up"))
    b.commit()
    follower.join(FOLLOW_WAIT + 5)
    assert not follower.is_alive()
    assert [(x.room, x.seq, x.text) for x in got] == [("#ops", 1, "wake up")]
    assert time.monotonic() - started < FOLLOW_WAIT, "woken by the message, not by the end of its wait"


# -- moderation --
def _sanction(kind: str, nick: str, reason: str = "spam", until: float = 0.0) -> StoredSanction:
    return StoredSanction(kind, nick, "10.0.0.7", "op", reason, 100.0, until)


def test_moderation_records_are_kept_replaced_and_dropped(kit):
    mod = kit.moderation
    assert mod.sanctions() == [] and mod.grants() == []
    mod.save_sanction(_sanction("ban", "Mallory"))
    mod.save_sanction(_sanction("mute", "mallory", until=200.0))
    mod.save_sanction(_sanction("ban", "MALLORY", reason="again"))  # the same kind on the same nick: replaced
    kept = sorted(mod.sanctions(), key=lambda s: s.kind)
    assert [(s.kind, s.reason, s.until) for s in kept] == [("ban", "again", 0.0), ("mute", "spam", 200.0)]
    assert kept[0] == _sanction("ban", "MALLORY", reason="again"), "every field comes back"
    mod.drop_sanction("ban", "mallory")
    assert [s.kind for s in mod.sanctions()] == ["mute"]
    mod.drop_sanction("ban", "nobody")  # (nothing to drop: no error)

    mod.save_grant(StoredGrant("Bob", "alice", 50.0, "p1"))
    mod.save_grant(StoredGrant("bob", "carol", 60.0, "p2"))
    assert mod.grants() == [StoredGrant("bob", "carol", 60.0, "p2")]
    mod.drop_grant("BOB")
    assert mod.grants() == []


# -- the secret --
def test_the_secret_is_kept(kit):
    first = kit.secrets.secret()
    assert isinstance(first, bytes) and len(first) == 32
    assert kit.secrets.secret() == first
    again = kit.reopen_secrets().secret()
    assert (again == first) is kit.durable


# -- presence --
@pytest.fixture(params=["memory", "redis"])
def nodes(request) -> Iterator[tuple[FakeClock, Callable[[str], Presence]]]:
    """A clock, and the presence of node NAME on one shared backend (the clock is theirs)."""
    clock = FakeClock()
    if request.param == "memory":
        leases = Leases(clock)
        yield clock, lambda node: MemoryPresence(leases, node, LEASE)
    else:
        link = Link(request.getfixturevalue("redis_server").url)
        yield clock, lambda node: RedisPresence(link, node, LEASE, clock=clock)
        link.close()


def test_each_presence_has_every_method_of_its_interface(nodes):
    _, at = nodes
    assert _fits(at("A"), Presence) == []


def test_a_name_is_held_while_its_node_lease_lives(nodes):
    clock, at = nodes
    a, b = at("A"), at("B")
    a.heartbeat()
    b.heartbeat()
    assert a.claim("Alice", "A/1", "tok-a", p=Person("Alice", address="10.0.0.1")) == ("", "")
    assert b.claim("alice", "B/1", "tok-b") is None, "held by a live node"
    held = b.holder("ALICE")
    assert (held.node, held.sid, held.person.nick, held.person.address) == ("A", "A/1", "Alice", "10.0.0.1")

    clock.now += LEASE - 1
    b.heartbeat()
    assert b.holder("alice") is not None and b.dead_nodes() == []
    clock.now += 2  # A's lease is over (B renewed its own)
    assert b.holder("alice") is None, "a dead node holds nothing"
    assert b.dead_nodes() == ["A"]
    assert [p.nick for p in b.everyone()] == []
    assert b.claim("alice", "B/1", "tok-b") == ("A", "A/1"), "the name of a dead node's session is free"
    assert b.holder("alice").node == "B"


def test_take_over_rename_release_and_update(nodes):
    _, at = nodes
    a, b = at("A"), at("B")
    a.heartbeat()
    b.heartbeat()
    a.claim("bob", "A/1", "tok-bob")
    assert b.claim("bob", "B/7", "tok-new", takeover="wrong") is None
    assert b.claim("bob", "B/7", "tok-new", takeover="tok-bob") == ("A", "A/1"), "its token takes it over"
    a.release("bob", "A/1")  # the old session ending late frees nothing
    assert a.holder("bob").sid == "B/7"
    assert b.claim("Bob", "B/7", "tok-new", replacing="B/7") is not None, "its own name in another case"
    b.update("bob", "B/7", away="lunch", op="1")
    b.update("bob", "A/1", away="not mine")  # a session that no longer holds it changes nothing
    held = a.holder("bob").person
    assert (held.nick, held.away, held.op) == ("Bob", "lunch", True)
    assert a.suggest("bob") != "bob" and a.claim(a.suggest("bob"), "A/2", "t") is not None
    b.release("bob", "B/7")
    assert a.holder("bob") is None


def test_who_is_where_and_a_dead_node_reaped(nodes):
    clock, at = nodes
    a, b = at("A"), at("B")
    a.heartbeat()
    b.heartbeat()
    a.claim("carol", "A/1", "t1")
    a.joined("#dev", "carol", "A/1", ["#dev"])
    a.joined("#ops", "carol", "A/1", ["#dev", "#ops"])
    b.claim("dave", "B/1", "t2")
    b.joined("#dev", "dave", "B/1", ["#dev"])
    assert [p.nick for p in a.members("#DEV")] == ["carol", "dave"]
    assert sorted(p.nick for p in b.everyone()) == ["carol", "dave"]
    assert b.counts([room_key("#dev"), room_key("#ops"), room_key("#none")]) == [2, 1, 0]
    b.left("#dev", "dave", "B/9", ["#dev"])  # another session's leave removes nobody
    assert [p.nick for p in a.members("#dev")] == ["carol", "dave"]
    b.left("#dev", "dave", "B/1", [])
    assert [p.nick for p in a.members("#dev")] == ["carol"]

    clock.now += LEASE + 1
    b.heartbeat()
    assert b.members("#dev") == [], "a dead node's members are not shown"
    assert b.reap("A") == [Gone("carol", ["#dev", "#ops"])]
    assert not b.reap("A"), "reaped once"
    assert b.counts([room_key("#dev"), room_key("#ops")]) == [0, 0]
    a.heartbeat()  # A comes back: its old sessions are gone
    assert b.holder("carol") is None


def test_a_retired_node_holds_nothing(nodes):
    _, at = nodes
    a, b = at("A"), at("B")
    a.heartbeat()
    b.heartbeat()
    a.claim("erin", "A/1", "t")
    a.retire()
    assert b.holder("erin") is None and b.dead_nodes() == ["A"]


def test_the_first_in_a_room_are_read_in_the_order_they_came_and_bounded(nodes):
    """What a welcome names: the first few, in the order they came, and the count of all,
    read without fetching the whole room; those who left or whose node died are not named."""
    clock, at = nodes
    a, b = at("A"), at("B")
    a.heartbeat()
    b.heartbeat()
    for i, (node, nick) in enumerate([(a, "zoe"), (b, "yann"), (a, "xena"), (b, "walt"), (a, "vera")]):
        clock.now += 0.01  # (each comes a moment after the one before)
        sid = f"{'A' if node is a else 'B'}/{i}"
        node.claim(nick, sid, f"t{i}")
        node.joined("#big", nick, sid, ["#big"])
    shown, count = b.first("#BIG", 3)
    assert [p.nick for p in shown] == ["zoe", "yann", "xena"] and count == 5
    clock.now += 0.01
    a.joined("#big", "zoe", "A/0", ["#big"])  # (said again, as after an outage: it keeps its place)
    b.left("#big", "yann", "B/1", [])
    shown, count = a.first("#big", 3)
    assert [p.nick for p in shown] == ["zoe", "xena", "walt"] and count == 4
    assert a.first("#big", 0) == ([], 4)
    assert a.first("#nobody", 5) == ([], 0)

    clock.now += LEASE + 1  # A's lease is over; B renews its own
    b.heartbeat()
    shown, count = b.first("#big", 10)
    assert [p.nick for p in shown] == ["walt"], "a dead node's people are not named"
    assert count == 4, "(counted until reaped, as counts does)"
    b.reap("A")
    assert b.first("#big", 10)[1] == 1
