"""What a new user ran into, each kept from coming back: the rules in-process (``test_rules.Chat``)."""

from __future__ import annotations

import pytest
from test_rules import Chat

from common import messages as m


@pytest.fixture
def plain():
    """A server run without ``--room-operators``: a room's maker is nobody special in it."""
    chat_ = Chat()
    yield chat_
    chat_.hub.close()


@pytest.fixture
def makers_rule():
    """A server run with ``--room-operators``: a room's maker is its first operator."""
    chat_ = Chat(room_operators=True)
    yield chat_
    chat_.hub.close()


def _refusal(chat_: Chat, nick: str) -> m.Error:
    (refused,) = chat_.got(nick).of(m.Error)
    return refused


def test_a_rooms_maker_refused_a_mode_is_told_who_may_and_why_the_maker_may_not(plain):
    alice = plain.person("alice")
    plain.act(alice, m.Join("#den"))  # alice made #den
    plain.act(alice, m.RoomMode("#den", "+t"))
    refused = _refusal(plain, "alice")
    assert refused.code == "not_operator"
    assert "only the operators of #den" in refused.message, refused.message
    assert "server operator" in refused.message, refused.message
    assert "--room-operators" in refused.message and "maker" in refused.message, refused.message


def test_with_room_operators_the_refusal_does_not_blame_the_server_setting(makers_rule):
    alice, bob = makers_rule.person("alice"), makers_rule.person("bob")
    makers_rule.act(alice, m.Join("#den"))
    makers_rule.act(bob, m.Join("#den"))
    makers_rule.act(alice, m.RoomMode("#den", "+t"))
    assert makers_rule.got("alice").errors() == [], "the maker is the room's operator here"
    makers_rule.act(bob, m.RoomMode("#den", "+m"))
    refused = _refusal(makers_rule, "bob")
    assert "only the operators of #den" in refused.message and "server operator" in refused.message, refused.message
    assert "--room-operators" not in refused.message, refused.message
