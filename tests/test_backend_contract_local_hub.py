"""One server's hub makes no broker call while holding the lock delivery needs (memory and a real SQLite file).

A broker call about one room (taking it up, keeping its topic, reading its
history) is held open by a gate here, as a slow disk or a slow Redis would
hold it; a message in another room must still reach its members meanwhile,
and once the call is let go, what was asked is done, once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from helpers import TIMEOUT
from test_backend_contract_hub import Heard

from chatserver.backends.ports import Broker
from chatserver.backends.store import SqliteStore
from chatserver.core.hub import LocalHub
from common import messages as m
from common.rooms import room_key

#: The broker's calls about one room that a gate can hold.
ROOM_CALLS = ("room", "ensure", "save_room", "recent", "forget")


class GatedBroker:
    """A broker whose calls about the rooms in ``gated`` wait until ``release`` is set (and say,
    through ``entered``, that one is waiting); every other call goes straight through."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.gated: set[str] = set()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> object:
        call = getattr(self._broker, name)
        if name not in ROOM_CALLS:
            return call

        def gated(first, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            name_ = first.name if hasattr(first, "name") else first
            if room_key(name_) in self.gated:
                self.entered.set()
                self.release.wait(3 * TIMEOUT)  # (longer than a test waits for delivery: the old hub failed there)
            return call(first, *args, **kwargs)

        return gated


@pytest.fixture(params=["memory", "sqlite"])
def gated(request, tmp_path) -> Iterator[tuple[LocalHub, GatedBroker]]:
    if request.param == "memory":
        from chatserver.backends.roomlog import MemoryBroker

        real: Broker = MemoryBroker()
    else:
        real = SqliteStore(tmp_path / "chat.db", room_key=room_key)
    broker = GatedBroker(real)
    hub = LocalHub(keep=100, broker=broker)  # type: ignore[arg-type]
    yield hub, broker
    broker.release.set()
    hub.close()


def _say(hub: LocalHub, room: str, sender: Heard, text: str) -> None:
    hub.publish(
        room,
        lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick=sender.nick, text=text),
        exclude=sender,
        receipt=lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room),
    )


def _talking(hub: LocalHub) -> tuple[Heard, Heard]:
    alice, bob = Heard("alice"), Heard("bob")
    for sub in (alice, bob):
        hub.enter(sub, sub.nick, "#a", lambda g: None)
    return alice, bob


def _held(broker: GatedBroker, act) -> threading.Thread:  # noqa: ANN001
    """``act()`` on a thread of its own, once it waits at the gate."""
    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    assert broker.entered.wait(TIMEOUT), "the broker was asked about the gated room"
    return thread


def test_a_message_kept_in_a_room_not_taken_up_yet_does_not_stop_delivery_elsewhere(gated):
    """A private conversation between two accounts is kept in a room of its own, taken up on its
    first message: its broker calls are made outside the lock (they were made under it)."""
    hub, broker = gated
    alice, bob = _talking(hub)
    conversation = "@alice @carol"
    broker.gated.add(room_key(conversation))
    keeping = _held(
        broker,
        lambda: hub.publish(
            conversation, lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=conversation, nick="alice", text="psst")
        ),
    )

    _say(hub, "#a", alice, "said while the conversation is taken up")
    assert bob.heard.wait(TIMEOUT), "delivered while another room is taken up in the broker"
    assert keeping.is_alive(), "(the broker call was still held)"

    broker.release.set()
    keeping.join(TIMEOUT)
    assert not keeping.is_alive()
    assert hub.flush(TIMEOUT)
    assert [(x.seq, x.text) for x in hub.recent(conversation, 10)] == [(1, "psst")], "kept, once"
    assert bob.texts() == ["said while the conversation is taken up"]


def test_a_topic_is_kept_outside_the_lock(gated):
    hub, broker = gated
    alice, bob = _talking(hub)
    broker.gated.add(room_key("#a"))
    setting = _held(broker, lambda: hub.set_topic("#a", "plans"))

    broker.gated.clear()  # (the room's messages are not held: only the topic's save, under way)
    _say(hub, "#a", alice, "said while the topic is kept")
    assert bob.heard.wait(TIMEOUT), "delivered while the room's topic is being kept"
    assert setting.is_alive(), "(the save was still held)"

    broker.release.set()
    setting.join(TIMEOUT)
    assert not setting.is_alive()
    assert hub.topic("#a") == "plans"
    hub.flush(TIMEOUT)
    stored = broker.room("#a")
    assert stored is not None and stored.topic == "plans", "the broker keeps it"


def test_a_history_read_does_not_stop_delivery(gated):
    hub, broker = gated
    alice, bob = _talking(hub)
    _say(hub, "#a", alice, "one")
    _say(hub, "#a", alice, "two")
    assert hub.flush(TIMEOUT)
    alice.data, _ = b"", alice.heard.clear()  # (her receipts)
    broker.gated.add(room_key("#a"))
    found: list = []
    reading = _held(broker, lambda: found.append(hub.history("#a", 1)))

    broker.gated.clear()
    _say(hub, "#b", bob, "elsewhere")  # (another room: taken up, published, while #a's history is read)
    _say(hub, "#a", bob, "three")
    assert alice.heard.wait(TIMEOUT) and hub.flush(TIMEOUT), "delivered while a history is read"
    assert reading.is_alive(), "(the read was still held)"

    broker.release.set()
    reading.join(TIMEOUT)
    ((messages, lost),) = found
    assert [x.text for x in messages] == ["two"], "what came after seq 1, up to the room's seq when asked"
    assert lost == 0
    assert alice.texts() == ["three"]


def test_lines_read_together_for_rooms_not_taken_up_are_each_published_once_in_order(gated):
    """A sender's lines read together (``publish_many``) for a room in memory and one that is not yet:
    the second is taken up outside the lock, and no line is published twice or out of order."""
    hub, _ = gated
    alice, bob = _talking(hub)

    def line(room: str, text: str):  # noqa: ANN202
        build = lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room=room, nick="alice", text=text)  # noqa: E731
        return room, build, lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room)

    hub.publish_many([line("#a", "one"), line("#new", "two"), line("#a", "three"), line("#new", "four")], alice)
    assert hub.flush(TIMEOUT)
    assert [(x.seq, x.text) for x in hub.recent("#a", 10)] == [(1, "one"), (2, "three")]
    assert [(x.seq, x.text) for x in hub.recent("#new", 10)] == [(1, "two"), (2, "four")]
    receipts = [m.decode(line) for line in alice.data.splitlines()]
    assert [(x.room, x.seq) for x in receipts] == [("#a", 1), ("#new", 1), ("#a", 2), ("#new", 2)], "in order"
    hub.publish_many([line("#new", "five"), line("#new", "six")], alice)  # (one room, taken up: one turn)
    assert hub.flush(TIMEOUT)
    assert [x.text for x in hub.recent("#new", 10)] == ["two", "four", "five", "six"]
    assert bob.texts() == ["one", "three"]
