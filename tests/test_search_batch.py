"""The frames answering one command go to the hub in one call, in order (in-process, no sockets).

A /search answers with up to a hundred frames; each used to take its own turn
of the hub's lock through ``send_to``. Here the hub's two ways of sending to
one session are counted: one command's answers are one ``send_many_to``.
"""

from __future__ import annotations

import pytest
from test_rules import Chat

from chatserver.core.frames import Frame
from chatserver.core.hub import LOBBY
from chatserver.core.posts import Post
from common import messages as m


class Calls:
    """Counts what reaches the hub's ``send_to`` and ``send_many_to`` (then does it)."""

    def __init__(self, hub) -> None:
        self.one: list[m.Message] = []
        self.many: list[list[m.Message]] = []
        send_to, send_many_to = hub.send_to, hub.send_many_to

        def one(sub, frame) -> None:
            self.one.append(frame.msg)
            send_to(sub, frame)

        def many(sub, frames) -> None:
            self.many.append([f.msg for f in frames])
            send_many_to(sub, frames)

        hub.send_to, hub.send_many_to = one, many


@pytest.fixture
def room():
    chat_ = Chat()
    yield chat_
    chat_.hub.close()


def _said(room: Chat, count: int):
    alice, _ = room.person("alice"), room.person("bob")
    for i in range(count):
        room.act(alice, m.Say(f"fish {i}"))
    room.got("alice").got.clear()
    return alice


def test_a_search_answers_in_one_hub_call_with_its_frames_in_order(room):
    alice = _said(room, 30)
    calls = Calls(room.hub)
    room.act(alice, m.Search("fish"))
    assert calls.one == [], "no answer frame goes on its own"
    assert len(calls.many) == 1
    got = room.got("alice").got
    assert got == calls.many[0]
    assert [type(x) for x in got] == [m.Notice] + [m.ChatMessage] * 30 + [m.Notice]
    assert [x.text for x in got[1:-1]] == [f"fish {i}" for i in range(30)], "oldest first"
    assert {x.replay for x in got[1:-1]} == {"search"}


def test_a_history_answers_in_one_hub_call(room):
    alice = _said(room, 12)
    calls = Calls(room.hub)
    room.act(alice, m.History(count=10))
    assert calls.one == [] and len(calls.many) == 1
    got = room.got("alice").got
    assert [x.text for x in got if isinstance(x, m.ChatMessage)] == [f"fish {i}" for i in range(2, 12)]
    assert got[0].text == f"the last 10 message(s) of {LOBBY}"


def test_a_lone_answer_still_goes_by_send_to(room):
    alice = _said(room, 1)
    calls = Calls(room.hub)
    room.act(alice, m.Ping("t"))
    assert calls.one == [m.Pong("t")] and calls.many == []


def test_frames_sent_together_wait_behind_what_is_queued_for_the_session(room):
    """While the dispatcher has something in hand, the frames are queued after it, in order."""
    alice = _said(room, 1)
    delivery = room.hub._local
    with room.hub._lock:
        delivery.greeting = True  # (as a greeting does: what is sent for a session is queued)
        delivery.dispatcher.queue(Post(None, 0, Frame(m.Notice(text="first", ts=1.0)), to=alice))
        delivery.send_many_to(alice, [Frame(m.Notice(text=f"n{i}", ts=1.0)) for i in range(5)])
        delivery.greeting = False
        assert room.outlets["alice"].got == [], "nothing overtook the queue"
    assert room.got("alice").notices() == ["first", "n0", "n1", "n2", "n3", "n4"]


def test_frames_sent_together_are_not_handed_over_under_the_hub_lock(room):
    """Even with the dispatcher idle, they are queued: encoded and handed out after the lock is let go."""
    alice = _said(room, 1)
    room.flush()
    with room.hub._lock:
        room.hub.send_many_to(alice, [Frame(m.Notice(text=f"n{i}", ts=1.0)) for i in range(5)])
        assert room.outlets["alice"].got == [], "nothing handed over while the lock is held"
    assert room.got("alice").notices() == ["n0", "n1", "n2", "n3", "n4"]
