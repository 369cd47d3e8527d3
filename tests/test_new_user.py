"""What a new user ran into, each kept from coming back: the rules in-process (``test_rules.Chat``)."""

from __future__ import annotations

import pytest
from helpers import NativeClient
from test_accounts_client_server import _quit, _register
from test_accounts_page import _register as register_on_page
from test_browser import browser, page  # noqa: F401 - (the browser and its page: fixtures)
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


@pytest.fixture
def accounts_srv(make_server):
    return make_server("--rate-limit", "0", "--accounts", "optional")


def test_after_register_the_terminal_says_it_once_in_its_own_words(accounts_srv, tmp_path):
    """Not also "ann logged in to the account ann": the notice telling ann's rooms, meant for the others."""
    watcher = NativeClient(accounts_srv.port, "watcher")
    term = _register(accounts_srv.address, tmp_path, "ann")  # ("account registered; logged in as ann")
    try:
        told = watcher.expect(lambda f: f.get("event") == "account")
        assert told["text"] == "ann logged in to the account ann", "the others are told"
        watcher.say("after the account notice")  # (in the room's order: after the notice ann's client got)
        term.wait_text("after the account notice")
        assert "logged in to the account" not in term.text, term.text
        assert term.text.count("logged in as ann") == 1, term.text
    finally:
        watcher.close()
        _quit(term)


def test_after_register_the_page_says_it_once_in_its_own_words(page, accounts_srv):  # noqa: F811
    watcher = NativeClient(accounts_srv.port, "watcher")
    try:
        register_on_page(page, accounts_srv, "ann")  # ("account registered; logged in as ann")
        assert watcher.expect(lambda f: f.get("event") == "account")["text"] == "ann logged in to the account ann"
        watcher.say("after the account notice")  # (in the room's order: after the notice the page got)
        page.wait_text("after the account notice")
        assert "logged in to the account" not in page.messages_text(), page.messages_text()
        assert page.messages_text().count("logged in as ann") == 1, page.messages_text()
    finally:
        watcher.close()


def test_after_leave_the_same_page_comes_back_as_a_guest_who_marks_nothing(page, accounts_srv):  # noqa: F811
    """The page's "logged in" is account.js's alone: markers.js kept a copy, which "Leave" did not clear
    (the server's "loggedout" comes after the page has left), so the guest that came next sent read
    markers, and the server's refusal ("log in first") was the first thing it saw."""
    register_on_page(page, accounts_srv, "ann")
    page.el("#leave").click()
    page.wait(lambda: page.el("#nick").is_displayed())
    page.el("#nick").clear()
    page.login("guest")
    other = NativeClient(accounts_srv.port, "other")
    try:
        other.say("seen by a guest")
        page.wait_text("other: seen by a guest")
        page.say("/away back soon")  # (answered after anything the line above made the page send)
        page.wait_text("away")
        assert "log in first" not in page.messages_text(), page.messages_text()
    finally:
        other.close()
