"""A sender's run published at once: each broker's ``publish_many`` and the hub's run through it.

Every broker numbers a run as its room's next messages, one after the other, as
``publish`` one by one would (memory, SQLite in a real file, Redis through a real
server); the hub keeps a run in one broker call and still gives each line its own
number, receipt and place, and tells the sender of each line its store could not keep.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import Member

from chatserver.backends.roomlog import MemoryBroker
from chatserver.backends.store import SqliteStore
from chatserver.cluster.link import Link
from chatserver.cluster.redislog import RedisBroker
from chatserver.core.frames import Frame, receipt_frames
from chatserver.core.hub import LocalHub
from chatserver.core.rooms import LATEST, Latest
from chatserver.rules.executor import itself, receipt
from chatserver.rules.said import chat_messages
from common import messages as m
from common.rooms import room_key


def _msg(room: str, text: str, seq: int = 0) -> m.ChatMessage:
    return m.ChatMessage(seq=seq, ts=1.0, room=room, nick="alice", text=text)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def broker(request, tmp_path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryBroker()
    elif request.param == "sqlite":
        store = SqliteStore(tmp_path / "run.sqlite3", room_key=room_key)
        yield store
        store.close()
    else:
        link = Link(request.getfixturevalue("redis_server").url)
        yield RedisBroker(link, "n1")
        link.close()


def test_a_run_is_numbered_after_what_was_published_one_by_one(broker):
    one = broker.publish(_msg("#a", "one"))
    at = broker.publish_many([_msg("#a", "two", seq=7), _msg("#a", "three", seq=7), _msg("#a", "four")])
    after = broker.publish(_msg("#a", "five"))
    assert broker.commit() == set()
    assert (at.seq, at.epoch) == (one.seq + 1, one.epoch)
    assert after.seq == one.seq + 4
    kept = broker.recent("#a", 10)
    assert [(x.seq, x.text) for x in kept] == [
        (one.seq + i, t) for i, t in enumerate(["one", "two", "three", "four", "five"])
    ]


def test_a_run_makes_its_room_and_is_followed(broker):
    at = broker.publish_many([_msg("#new", "a"), _msg("#new", "b")])
    assert at.seq == 1 and at.epoch == broker.room("#new").epoch
    assert [x.text for x in broker.follow({"#new": 0}, 5.0)] == ["a", "b"]


def test_a_closed_store_keeps_none_of_a_run(tmp_path):
    store = SqliteStore(tmp_path / "closed.sqlite3", room_key=room_key)
    store.publish(_msg("#a", "kept"))
    store.commit()
    store.close()
    assert store.publish_many([_msg("#a", "x"), _msg("#a", "y")]) is None


def test_latest_extended_keeps_what_appending_one_by_one_keeps():
    one, run = Latest(), Latest()
    msgs = [_msg("#a", "x" * (i % 7) + "y", seq=i) for i in range(1, LATEST + 40)]
    for x in msgs:
        one.append((x.seq, x))
    run.extend(msgs[:10])
    run.extend(msgs[10:])
    assert list(run) == list(one) and len(run) == LATEST


class Heard(Member):
    """A member whose bytes are read back as the messages they carry."""

    def got(self) -> list[m.Message]:
        return [m.decode(line) for line in self.data.splitlines()] + self.frames

    def clear(self) -> None:
        self.data, self.frames = b"", []


class Unkept(MemoryBroker):
    """A broker that can keep nothing (a full disk)."""

    def publish_many(self, msgs):  # noqa: ANN001, ANN201
        return None


@pytest.mark.parametrize("made", [receipt, itself, None])
def test_a_run_gives_each_line_its_number_and_the_sender_its_receipts(made):
    hub = LocalHub(keep=100)
    try:
        alice, bob = Heard("alice"), Heard("bob")
        for sub in (alice, bob):
            hub.enter(sub, sub.nick, "#a", lambda g: None)
        assert hub.flush(5.0)
        alice.clear()
        bob.clear()
        said = chat_messages("#a", "alice")
        hub.publish_many([("#a", said(text=t, action=t == "waves"), made) for t in ("one", "waves", "three")], alice)
        assert hub.flush(5.0)
        heard = [x for x in bob.got() if isinstance(x, m.ChatMessage)]
        assert [(x.text, x.action, x.nick) for x in heard] == [
            ("one", False, "alice"),
            ("waves", True, "alice"),
            ("three", False, "alice"),
        ]
        assert [x.seq for x in heard] == [heard[0].seq, heard[0].seq + 1, heard[0].seq + 2]
        if made is None:
            assert alice.got() == []
        elif made is itself:
            assert alice.got() == heard
        else:
            assert [(x.seq, x.room) for x in alice.got()] == [(x.seq, "#a") for x in heard]
            assert all(isinstance(x, m.Accepted) for x in alice.got())
    finally:
        hub.close()


def test_a_run_the_store_could_not_keep_is_told_line_by_line():
    hub = LocalHub(keep=100, broker=Unkept())
    try:
        alice, bob = Heard("alice"), Heard("bob")
        for sub in (alice, bob):
            hub.enter(sub, sub.nick, "#a", lambda g: None)
        assert hub.flush(5.0)
        alice.clear()
        said = chat_messages("#a", "alice")
        hub.publish_many([("#a", said(text=t, action=False), receipt) for t in ("one", "two")], alice)
        assert hub.flush(5.0)
        assert [(x.code if isinstance(x, m.Error) else None) for x in alice.got()] == ["not_kept", "not_kept"]
        assert [x.text for x in bob.got() if isinstance(x, m.ChatMessage)][-2:] == ["one", "two"]
    finally:
        hub.close()


def test_receipt_frames_as_each_message_would_have_them():
    msgs = [_msg("#a", t, seq=i) for i, t in enumerate(["a", "b", "c"], 1)]
    frames = [Frame(x) for x in msgs]
    mixed = receipt_frames(frames, msgs, [None, itself, receipt])
    assert mixed[0] is None and mixed[1] is frames[1]
    assert isinstance(mixed[2].msg, m.Accepted) and mixed[2].msg.seq == 3
    assert receipt_frames(frames, msgs, [itself] * 3) == frames
    assert receipt_frames(frames, msgs, [None] * 3) == [None] * 3
    accepted = receipt_frames(frames, msgs, [receipt] * 3)
    assert [(f.msg.seq, type(f.msg)) for f in accepted] == [(1, m.Accepted), (2, m.Accepted), (3, m.Accepted)]

    def odd(x: m.Message) -> m.Message:  # (itself for some, a receipt for others)
        return x if x.seq % 2 else receipt(x)

    some = receipt_frames(frames, msgs, [odd] * 3)
    assert some[0] is frames[0] and some[2] is frames[2] and isinstance(some[1].msg, m.Accepted)
