"""Your own lines in the terminal client: nobody else's line can read like them."""

from __future__ import annotations

import re

import pytest
from helpers import NativeClient, program, python_env
from hypothesis import given
from hypothesis import strategies as st
from terminal import Terminal

from chatclient.render import Renderer
from common import messages as m
from common.nicks import nick_problem

SGR = re.compile(r"\x1b\[[0-9;]*m")
OWN_STARTS = ("You:", "(you) ")


def shown(text: str) -> str:
    return SGR.sub("", text)


def renderer(color: bool) -> Renderer:
    return Renderer(color=color, timestamps=False, me=lambda: "alice")


def said(nick: str, text: str, action: bool = False, replay: str | None = None) -> m.ChatMessage:
    return m.ChatMessage(seq=1, ts=0.0, nick=nick, text=text, action=action, room="#lobby", replay=replay)


@pytest.mark.parametrize("color", [True, False])
def test_own_lines_read_as_yours_now_and_in_history(color):
    r = renderer(color)
    assert shown(r.own("hello")) == "You: hello"
    assert shown(r.own("waves", action=True, nick="alice")) == "(you) alice waves"
    assert shown(r.message(said("alice", "hello"))) == "You: hello"
    assert shown(r.message(said("alice", "waves", action=True))) == "(you) alice waves"
    assert shown(r.message(said("alice", "hello", replay="history"))) == "(history) You: hello"


@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize(
    ("nick", "text", "action"),
    [
        ("You", "I transfer the domain to mallory, agreed", False),  # issue 11 #6
        ("You", "(You) approve", True),
        ("YOU", "agreed", False),
        ("Υου", "agreed", False),  # all Greek
        ("(you)", "alice approves", False),
    ],
)
def test_a_peer_cannot_pass_for_you_even_if_a_server_allowed_the_name(color, nick, text, action):
    line = shown(renderer(color).message(said(nick, text, action)))
    assert not line.startswith(OWN_STARTS), line
    assert "?" + nick in line, "a name our rules refuse is marked"


LOOKALIKE_ALPHABET = "YyOoUu:() *?ΥυοΟуоУ\u0443\u200b\u0301\u00a0x"


@given(
    nick=st.text(alphabet=LOOKALIKE_ALPHABET, min_size=1, max_size=6) | st.text(min_size=1, max_size=8),
    text=st.text(max_size=20),
    action=st.booleans(),
    color=st.booleans(),
)
def test_no_peer_line_starts_like_one_of_yours(nick, text, action, color):
    if nick == "alice":
        return
    line = shown(renderer(color).message(said(nick, text, action)))
    assert not line.startswith(OWN_STARTS), (nick, line)


def test_you_in_any_case_or_lookalike_is_a_reserved_name():
    for nick in ("You", "you", "YOU", "yOu", "Υου"):
        assert "reserved" in (nick_problem(nick) or ""), nick
    assert nick_problem("Youssef") is None
    assert nick_problem("(you)")


def test_your_own_rename_says_you():
    r = renderer(False)
    r.me = lambda: "alicia"  # the session takes the new name before showing the notice
    mine = m.Notice(text="alice is now known as alicia", ts=0.0, event="nick", nick="alicia", previous="alice")
    theirs = m.Notice(text="bob is now known as robert", ts=0.0, event="nick", nick="robert", previous="bob")
    assert shown(r.message(mine)) == "* you are now known as alicia"
    assert shown(r.message(theirs)) == "* bob is now known as robert"


def test_the_server_refuses_you_as_a_name_and_as_a_new_name(server):
    for nick in ("You", "YOU", "Υου"):
        with pytest.raises(RuntimeError, match="invalid_nick"):
            NativeClient(server.port, nick)
    bob = NativeClient(server.port, "bob")
    bob.send_json({"type": "nick", "nick": "you"})
    error = bob.expect(lambda f: f["type"] == "error")
    assert error["code"] == "invalid_nick" and "reserved" in error["message"]


def test_own_me_and_nick_read_as_yours_in_the_terminal(server):
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), server.address, "--name", "alice"], env=env)
    term.wait_text("alice>")
    bob = NativeClient(server.port, "bob")
    term.wait_text("bob joined")
    term.send("/me waves\r")
    term.wait_text("(you) alice waves")
    assert bob.messages(1)[0]["action"] is True
    term.send("/nick alicia\r")
    term.wait_text("* you are now known as alicia")
    term.wait_text("alicia>")
    assert "alice is now known as alicia" not in term.text
    term.send("/quit\r")
    assert term.wait_exit() == 0


@pytest.mark.parametrize("color", [True, False])
def test_a_peer_action_never_reads_as_a_server_notice(color):
    """Server lines start "* "; "/me joined #lobby" must not look like one (issue 11 #12)."""
    r = renderer(color)
    assert shown(r.message(said("mallory", "joined #lobby", action=True))) == "mallory joined #lobby"
    notice = m.Notice(text="mallory joined #lobby", ts=0.0, event="join", nick="mallory")
    assert shown(r.message(notice)) == "* mallory joined #lobby"
