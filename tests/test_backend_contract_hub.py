"""A cluster node makes no Redis call while holding the lock delivery needs (a real redis-server).

One slow Redis call (a name claimed, a joiner's history read) used to
freeze every room on the node: the hub held its one lock across it. Here
such a call is held open by a gate, and a message in another room must
still reach its members meanwhile; the slow joiner is then greeted with
what was said while it waited, exactly once, before anything live.
"""

from __future__ import annotations

import threading

import pytest
from helpers import TIMEOUT, Member, wait_for

from chatserver.cluster.hub import ClusterHub
from chatserver.cluster.link import Link
from chatserver.core.fanout import Frame
from chatserver.core.hub import Greeting
from common import messages as m


class Heard(Member):
    """A member that says when room frames reach it."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.heard = threading.Event()

    def deliver_bytes(self, data: bytes) -> None:
        super().deliver_bytes(data)
        self.heard.set()

    def texts(self) -> list[str]:
        return [getattr(m.decode(line), "text", "") for line in self.data.splitlines()]


class Gate:
    """Stands in for a Redis call: holds each caller until released, and says when one is held."""

    def __init__(self, call) -> None:  # noqa: ANN001
        self.call = call
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        self.entered.set()
        self.release.wait(3 * TIMEOUT)  # (longer than a test waits for delivery: the old hub failed there)
        return self.call(*args, **kwargs)


@pytest.fixture
def hub(redis_server):
    node = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    yield node
    node.close()


def _say(hub: ClusterHub, room: str, sender: Member, text: str) -> None:
    """As a session says it: the sender is acknowledged when the node reads it back (``flush`` waits for that)."""
    hub.publish(
        room,
        lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick=sender.nick, text=text),
        exclude=sender,
        receipt=lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room),
    )


def _in(hub: ClusterHub, room: str, *subs: Member) -> None:
    for sub in subs:
        hub.enter(sub, sub.nick, room, lambda g: None)


def test_a_slow_name_claim_does_not_stop_delivery_in_other_rooms(hub):
    alice, bob = Heard("alice"), Heard("bob")
    _in(hub, "#a", alice, bob)
    gate = hub._presence.claim = Gate(hub._presence.claim)
    carol = Heard("carol")
    entering = threading.Thread(target=hub.enter, args=(carol, "carol", "#b", lambda g: None), daemon=True)
    entering.start()
    assert gate.entered.wait(TIMEOUT)

    _say(hub, "#a", alice, "said while carol's name is claimed")
    assert bob.heard.wait(TIMEOUT), "delivered while another session's Redis call is under way"
    assert entering.is_alive(), "(the claim was still held)"
    assert bob.texts() == ["said while carol's name is claimed"]

    gate.release.set()
    entering.join(TIMEOUT)
    assert not entering.is_alive()
    assert [p.nick for p in hub.members("#b")] == ["carol"]


def test_a_slow_history_read_neither_stops_delivery_nor_loses_what_was_said_meanwhile(hub):
    alice, bob = Heard("alice"), Heard("bob")
    _in(hub, "#a", alice, bob)
    _say(hub, "#a", alice, "before")
    assert hub.flush(TIMEOUT) and bob.texts() == ["before"]
    gate = hub.broker.recent = Gate(hub.broker.recent)
    dave, greetings = Heard("dave"), []
    joining = threading.Thread(
        target=lambda: hub.enter(dave, "dave", "#a", greetings.append, recent=10), name="dave joins", daemon=True
    )
    joining.start()
    assert gate.entered.wait(TIMEOUT)

    _say(hub, "#a", alice, "while dave's history is read")
    assert hub.flush(TIMEOUT), "delivered while a joiner's history is read from Redis"
    assert bob.texts() == ["before", "while dave's history is read"]
    assert joining.is_alive(), "(the history read was still held)"

    gate.release.set()
    joining.join(TIMEOUT)
    assert not joining.is_alive()
    (greeting,) = greetings
    assert isinstance(greeting, Greeting) and greeting.kind == "history"
    assert [x.text for x in greeting.messages] == ["before", "while dave's history is read"]
    assert [x.seq for x in greeting.messages] == [1, 2] and greeting.seq == 2
    _say(hub, "#a", alice, "after")
    assert hub.flush(TIMEOUT)
    assert dave.texts() == ["after"], "what the greeting held is not sent again live"


def test_a_private_message_from_another_node_during_a_slow_join_arrives_after_the_greeting(hub, redis_server):
    """bob's name is claimed in Redis, his greeting waits on a slow history read, and alice on
    another node sends him a private message meanwhile: it reaches him, after his greeting
    (a frame before the welcome would be refused by his session, and the message lost)."""
    other = ClusterHub(Link(redis_server.url), keep=100, heartbeat=5.0)
    try:
        alice = Heard("alice")
        _in(other, "#a", alice)
        gate = hub.broker.recent = Gate(hub.broker.recent)
        bob, got = Heard("bob"), []

        def greet(g: Greeting) -> None:
            got.append("greeting")

        bob.deliver = lambda frame: got.append(frame.msg)  # (what a session is sent, in order)
        joining = threading.Thread(
            target=lambda: hub.enter(bob, "bob", "#a", greet, recent=10), name="bob joins", daemon=True
        )
        joining.start()
        assert gate.entered.wait(TIMEOUT)
        note = m.Private(ts=1.0, nick="alice", to="bob", text="psst")
        assert other.tell("bob", Frame(note)) is not None, "bob's name is claimed: alice is told it went"
        # bob's node has read alice's request: sent to bob (as it was) or kept for him.
        assert wait_for(lambda: got or hub._parked.get(bob))
        gate.release.set()
        joining.join(TIMEOUT)
        assert not joining.is_alive()
        assert hub.flush(TIMEOUT)
        assert got == ["greeting", note], "the greeting, then alice's message"
    finally:
        other.close()


def test_a_greeting_asks_redis_nothing_under_the_lock(hub):
    """The rules build a joiner's welcome under the hub's lock (nothing live may come before
    it), asking for the room's first members, its topic and, for a plain peer, everyone in it:
    the node answers from what it read of the room before taking the lock."""
    under_lock: list[str] = []

    def watch(name: str, call):  # noqa: ANN001, ANN202
        def watched(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if hub._lock._is_owned():
                under_lock.append(name)
            return call(*args, **kwargs)

        return watched

    for name in ("first", "members", "holder", "everyone", "counts"):
        setattr(hub._presence, name, watch(name, getattr(hub._presence, name)))
    hub.broker.room = watch("room", hub.broker.room)
    alice = Heard("alice")
    _in(hub, "#a", alice)
    hub.set_topic("#a", "plans")
    shown = []

    def greet(g: Greeting) -> None:
        people, count = hub.first_members(g.room, 10)
        everyone = [p.nick for p in hub.members(g.room)]
        shown.append(([p.nick for p in people], count, hub.topic(g.room), everyone))

    hub.enter(Heard("bob"), "bob", "#a", greet)
    assert shown == [(["alice", "bob"], 2, "plans", ["alice", "bob"])]
    assert under_lock == [], "no Redis call while the node's lock is held"
    assert hub.first_members("#a", 1)[0][0].nick == "alice" and hub.first_members("#a", 1)[1] == 2


@pytest.mark.parametrize(
    "holder, call",
    [("_presence", "joined"), ("_presence", "first"), ("broker", "room"), ("broker", "ensure")],
)
def test_each_redis_call_of_a_join_held_open_stops_no_delivery_elsewhere(hub, holder, call):
    """The rest of a joiner's Redis calls, each held open in turn (the name's claim and the history
    read: above): the room looked up and taken up, the joiner put in Redis's directory, the room's
    first members read for the welcome. A guard: each was already made outside the lock."""
    alice, bob = Heard("alice"), Heard("bob")
    _in(hub, "#a", alice, bob)
    owner = getattr(hub, holder)
    gate = Gate(getattr(owner, call))
    setattr(owner, call, gate)
    carol = Heard("carol")
    entering = threading.Thread(target=hub.enter, args=(carol, "carol", "#b", lambda g: None), daemon=True)
    entering.start()
    assert gate.entered.wait(TIMEOUT), f"a join calls {call}"

    _say(hub, "#a", alice, f"said while carol's {call} is under way")
    assert bob.heard.wait(TIMEOUT), "delivered while another session's Redis call is under way"
    assert entering.is_alive(), "(the call was still held)"

    gate.release.set()
    entering.join(TIMEOUT)
    assert not entering.is_alive()
    assert [p.nick for p in hub.members("#b")] == ["carol"]
