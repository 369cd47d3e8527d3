"""A person's rooms across its devices, in the rules and the hub without sockets (issue 23).

Two devices of one account ending at the same moment, a room joined or left
on one device reaching the others, a kick out of one room: the decisions
the hub and the rules make, with real threads where the race is the point.
"""

from __future__ import annotations

import threading

import pytest
from test_accounts_rules import chat_with_accounts, registered
from test_rules import Chat, Outlet, _At

from common import messages as m


@pytest.fixture
def chat():
    chat_ = chat_with_accounts()
    yield chat_
    chat_.hub.close()


def device(chat: Chat, token: str) -> tuple[_At, Outlet]:
    """Another device of the token's account, logged in at hello."""
    outlet = Outlet()
    p = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert p.register("whoever", login_token=token), outlet.got
    chat.flush()
    outlet.got.clear()
    return p, outlet


def leaves(outlet: Outlet, nick: str) -> list[m.Notice]:
    return [n for n in outlet.of(m.Notice) if n.event == "leave" and n.nick == nick]


def test_two_devices_ended_at_once_tell_the_room_once(chat):
    phone, done = registered(chat, "bob")
    laptop, _ = device(chat, done.token)
    carol = chat.person("carol")
    hub = chat.hub
    both_gone = threading.Barrier(2, timeout=5)
    real = hub.unregister

    def unregister_then_wait(sub):
        """Both devices gone from the hub before either asks who stays: the race of a kick of
        the person, whose two sessions end on their own threads at the same moment."""
        answer = real(sub)
        both_gone.wait()
        return answer

    hub.unregister = unregister_then_wait  # type: ignore[method-assign]
    ends = [threading.Thread(target=d.unregister, args=("connection lost",)) for d in (phone, laptop)]
    for t in ends:
        t.start()
    for t in ends:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in ends)
    told = leaves(chat.got("carol"), "bob")
    assert len(told) == 1, f"the last one out tells the room, once: {told}"
    assert carol.registered
