"""The plain-line format: a person's line can never read as the server's."""

from __future__ import annotations

import socket
import time

import pytest
from helpers import TIMEOUT, NativeClient, PlainClient, ServerProcess, ask_history, ask_who
from hypothesis import given
from hypothesis import strategies as st

from common import messages as m
from common.nicks import nick_problem
from common.plain import render_plain

SERVER_LINES = [
    m.Notice(text="alice joined #lobby", ts=1.0, event="join", nick="alice"),
    m.Notice(text="two\nlines", ts=1.0),
    m.Users(room="#lobby", nicks=["a", "b"], away=["b"]),
    m.Joined(room="#dev", topic="t", users=["a"], replay=0),
    m.RoomList(names=["#lobby"], counts=[1], topics=[""]),
    m.Welcome(version=1, server="s", nick="n", room="#lobby", users=[]),
    m.Error(code="x", message="bad"),
    m.Bye(reason="kicked by alice: flooding"),
    m.Accepted(seq=3, ts=1.0, room="#lobby"),
]


@pytest.mark.parametrize("msg", SERVER_LINES, ids=lambda msg: msg.TYPE)
def test_every_server_line_starts_with_a_star(msg):
    assert all(line.startswith("* ") for line in render_plain(msg).split("\n"))


@given(
    nick=st.text(min_size=1, max_size=12).filter(lambda n: nick_problem(n) is None),
    text=st.text(max_size=40),
    action=st.booleans(),
    replay=st.sampled_from([None, "history", "missed"]),
)
def test_no_line_a_person_wrote_starts_like_the_servers(nick, text, action, replay):
    msg = m.ChatMessage(seq=1, ts=1.0, room="#lobby", nick=nick, text=text, action=action, replay=replay)
    private = m.Private(nick=nick, to="bob", text=text, ts=1.0)
    for rendered in (render_plain(msg), render_plain(private)):
        for line in rendered.split("\n"):
            assert not line.startswith("*"), (nick, text, line)


def test_actions_start_with_the_nick():
    msg = m.ChatMessage(seq=1, ts=1.0, room="#lobby", nick="bob", text="waves", action=True)
    assert render_plain(msg) == "bob waves"


def test_forged_notices_from_plain_clients_read_as_what_they_are(server):
    """Issue 11 #12: nick "you" + "/me were kicked by alice: flooding" was
    byte for byte a kick notice; any nick + "/me joined #lobby" a join."""
    watcher = PlainClient(server.port, "watcher")
    refused = PlainClient(server.port, "you")
    assert refused.welcome.startswith(b"* error:") and b"reserved" in refused.welcome
    mallory = PlainClient(server.port, "mallory")
    watcher.expect_line(lambda line: line == b"* mallory joined #lobby")  # the real notice
    mallory.send(b"/me were kicked by alice: flooding\r\n")
    mallory.send(b"/me joined #lobby\r\n")
    assert watcher.read_line() == b"mallory were kicked by alice: flooding"
    assert watcher.read_line() == b"mallory joined #lobby"
    for nick in ("*", "(private)", "(history)"):
        bad = PlainClient(server.port, nick)
        assert bad.welcome.startswith(b"* error:"), nick


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` to the chat port at once, as a browser's request would arrive; all it answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        out = b""
        deadline = time.monotonic() + TIMEOUT
        while chunk := sock.recv(65536):
            out += chunk
            assert time.monotonic() < deadline, out
        return out


def test_a_web_page_cannot_post_through_the_chat_port():
    """What a cross-origin fetch(..., {method: "POST", body}) sends: refused, nothing registered or said."""
    srv = ServerProcess("--rate-limit", "0")
    try:
        watcher = NativeClient(srv.port, "watcher")
        body = b"mallory\r\nhello from some web page\r\n"
        request = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nOrigin: http://evil.example\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        answer = _raw_exchange(srv.port, request)
        head, _, text = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert (
            text
            == f"this is a chat server's port, for chatclient or nc; its chat page is at http://127.0.0.1:{srv.web_port}/\n".encode()
        )
        # Another request line comes after a nickname that could not be had: the Host line ends it.
        answer = _raw_exchange(srv.port, b"not a name\r\nHost: 127.0.0.1\r\nmallory\r\nhello again\r\n")
        assert b"HTTP/1.1 400 Bad Request\r\n" in answer and b"hello again" not in answer, answer
        assert ask_who(watcher)["nicks"] == ["watcher"]
        watcher.say("after")
        watcher.expect(lambda f: f["type"] == "accepted")
        assert [(f["nick"], f["text"]) for f in ask_history(watcher)] == [("watcher", "after")]  # the only line
    finally:
        code, err = srv.stop()
    assert code == 0 and "an HTTP request on the chat port" in err


def test_without_a_page_the_answer_says_there_is_none():
    srv = ServerProcess("--no-web", "--mode", "reverse")
    try:
        answer = _raw_exchange(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert answer.endswith(b"\r\n\r\nthis is a chat server's port, for chatclient or nc; it serves no web page\n")
    finally:
        srv.stop()
