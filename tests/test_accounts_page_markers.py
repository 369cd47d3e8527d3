"""The page shares read markers with its account's other devices (issue 23), in the real browser the suite
uses (headless Chromium, Selenium), against a real server: another device's marker takes what it read off
the page's unread count, and the page reading a room tells the other device so."""

from __future__ import annotations

import pytest
from helpers import NativeClient, hello
from test_accounts_page import _register
from test_browser import browser, page  # noqa: F401 - (the browser and its page: fixtures)


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0", "--accounts", "optional")


def device(srv, token: str) -> NativeClient:
    """Another device of the page's account (a terminal-protocol client logged in with its token), in #dev."""
    client = hello(srv.port, nick="whoever", login_token=token)
    welcome = client.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome", welcome
    client.send_json({"type": "join", "room": "#dev"})
    client.expect(lambda f: f["type"] == "joined" and f["room"] == "#dev")
    return client


def test_a_marker_from_another_device_clears_the_badge_and_reading_on_the_page_tells_it(page, srv):  # noqa: F811
    kept = _register(page, srv, "alice")
    page.say("/join #dev")
    page.wait(lambda: page.el("#room").text == "#dev")
    phone = device(srv, kept["token"])
    bob = NativeClient(srv.port, "bob")
    try:
        bob.send_json({"type": "join", "room": "#dev"})
        bob.expect(lambda f: f["type"] == "joined")
        page.open_entry("#my-rooms", "#lobby")
        page.wait(lambda: page.el("#room").text == "#lobby")
        bob.say("one")
        bob.say("two")
        two = phone.expect(lambda f: f["type"] == "message" and f["text"] == "two")
        page.wait(lambda: page.badge("#my-rooms", "#dev") == "2")
        # Read on the phone: the page no longer counts it.
        phone.send_json({"type": "markread", "target": "#dev", "ts": two["ts"]})
        page.wait(lambda: page.badge("#my-rooms", "#dev") == "")
        assert not page.driver.title.startswith("("), page.driver.title
        # Something newer than the marker stays unread.
        bob.say("three")
        three = phone.expect(lambda f: f["type"] == "message" and f["text"] == "three")
        page.wait(lambda: page.badge("#my-rooms", "#dev") == "1")
        # Read on the page: the phone is told how far.
        page.open_entry("#my-rooms", "#dev")
        page.wait_text("bob: three")
        told = phone.expect(lambda f: f["type"] == "markread" and f["target"] == "#dev" and f["ts"] >= three["ts"])
        assert told["ts"] == three["ts"], told
        # Live in the room shown: marked as it comes (a second apart at most, the last one too).
        bob.say("four")
        four = phone.expect(lambda f: f["type"] == "message" and f["text"] == "four")
        told = phone.expect(lambda f: f["type"] == "markread" and f["target"] == "#dev" and f["ts"] >= four["ts"])
        assert told["ts"] == four["ts"], told
    finally:
        phone.close()
        bob.close()


def test_a_private_conversation_is_marked_as_its_account(page, srv):  # noqa: F811
    kept = _register(page, srv, "alice")
    phone = device(srv, kept["token"])
    carol = NativeClient(srv.port, "carol")
    try:
        carol.send_json({"type": "register", "password": "carol secret 9"})
        assert carol.expect(lambda f: f["type"] in ("loggedin", "error"))["type"] == "loggedin"
        carol.send_json({"type": "privmsg", "to": "alice", "text": "psst"})
        psst = phone.expect(lambda f: f["type"] == "private" and f["text"] == "psst")
        page.wait(lambda: page.badge("#privates", "@carol") == "1!")
        phone.send_json({"type": "markread", "target": "@carol", "ts": psst["ts"]})
        page.wait(lambda: page.badge("#privates", "@carol") == "")
        carol.send_json({"type": "privmsg", "to": "alice", "text": "again"})
        again = phone.expect(lambda f: f["type"] == "private" and f["text"] == "again")
        page.open_entry("#privates", "@carol")
        page.wait_text("[private from carol] again")
        told = phone.expect(lambda f: f["type"] == "markread" and f["target"] == "@carol" and f["ts"] >= again["ts"])
        assert told["ts"] == again["ts"], told
    finally:
        phone.close()
        carol.close()


def test_a_guest_page_sends_no_marker(page, srv):  # noqa: F811
    page.open(srv)
    page.login("guesty")
    bob = NativeClient(srv.port, "bob")
    try:
        page.wait(lambda: "bob" in page.el("#people").text)
        bob.say("hello guest")
        page.wait_text("bob: hello guest")
        page.say("/me is here")  # (a marker refused would say "log in first" before this line)
        page.wait_text("guesty is here")
        assert "log in first" not in page.messages_text()
    finally:
        bob.close()
