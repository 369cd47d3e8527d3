"""The page lists the private conversations kept for its account (issue 23), in the real browser the suite
uses (headless Chromium, Selenium), against a real server: a fresh visit logged in by its kept token lists
them in the side panel, the most recent first, and opening one shows its history."""

from __future__ import annotations

import pytest
from helpers import NativeClient, register
from test_accounts_page import _register
from test_browser import browser, page  # noqa: F401 - (the browser and its page: fixtures)

PASSWORD = "other secret 7"


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0", "--accounts", "optional")


def private(client: NativeClient, to: str, text: str) -> None:
    client.send_json({"type": "privmsg", "to": to, "text": text})
    assert client.expect(lambda f: f["type"] in ("private", "error"))["type"] == "private"


def privates_listed(page) -> list[str]:  # noqa: F811
    return page.driver.execute_script(
        "return [...document.querySelectorAll('#privates .name')].map(e => e.textContent)"
    )


def test_a_fresh_visit_lists_the_kept_conversations_and_opens_one_with_its_history(page, srv):  # noqa: F811
    _register(page, srv, "alice")
    bob, carol = (register(srv.port, nick, PASSWORD, stay=True).client for nick in ("bob", "carol"))
    try:
        private(bob, "alice", "hello from bob")
        page.wait(lambda: page.badge("#privates", "@bob") == "1!")
        page.say("/msg bob and back to bob")
        bob.expect(lambda f: f["type"] == "private" and f["text"] == "and back to bob")
        private(carol, "alice", "carol was here")
        page.wait(lambda: page.badge("#privates", "@carol") == "1!")
        # A fresh visit (no session kept, as after a browser restart): only the login token.
        page.driver.execute_script("localStorage.removeItem('lanchat.session')")
        page.driver.refresh()
        page.wait(lambda: page.state() == "online")
        page.wait_text("logged in as alice (remembered in this browser")
        page.wait(lambda: privates_listed(page) == ["@carol", "@bob"])  # the most recent first
        assert "hello from bob" not in page.messages_text(), "nothing of the conversation shown before it is opened"
        page.open_entry("#privates", "@bob")
        page.wait_text("hello from bob")
        page.wait_text("and back to bob")
        shown = page.messages_text()
        assert shown.index("hello from bob") < shown.index("and back to bob"), "oldest first"
        assert "private message(s) between you and bob" not in shown, "the history's own notices are unsaid"
        assert "carol was here" not in shown, "each conversation in its own view"
        assert page.el("#room").text == "@bob"
        private(bob, "alice", "live after the history")  # a live message lands after it, once
        page.wait_text("live after the history")
        assert page.messages_text().count("hello from bob") == 1
    finally:
        bob.close()
        carol.close()


def test_a_guest_has_no_kept_conversation_listed(page, srv):  # noqa: F811
    page.open(srv)
    page.login("guesty")
    page.say("/privates")
    page.wait_text("log in first")
    assert privates_listed(page) == []
