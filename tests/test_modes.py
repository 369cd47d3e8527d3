"""Two classic uses: the reverse server and the acknowledgment server (the host chat: test_host.py)."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading

import pytest
from helpers import (
    WEB_READY,
    NativeClient,
    ServerProcess,
    client_process,
    program,
    python_env,
    send_once,
)

from common.paths import store_file


@pytest.fixture
def reverse_server(make_server):
    return make_server("--mode", "reverse")


@pytest.fixture
def ack_server(make_server):
    return make_server("--mode", "ack")


@pytest.mark.parametrize(
    "text, reversed_text",
    [
        ("Hello, world", "dlrow ,olleH"),
        ("crème brûlée", "eélûrb emèrc"),
        ("e\u0301te\u0301", "e\u0301te\u0301"),  # combining accents stay on their letter
        ("日本語のテキスト", "トスキテの語本日"),
        ("hi 👋🏽 👨‍👩‍👧 🇫🇷", "🇫🇷 👨‍👩‍👧 👋🏽 ih"),  # skin tone, ZWJ family and flag stay whole
    ],
)
def test_reverse_send(reverse_server, text, reversed_text):
    proc = send_once(reverse_server.address, text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reversed_text + "\n"


def test_reverse_replies_only_to_sender(reverse_server):
    other = NativeClient(reverse_server.port, "other")
    me = NativeClient(reverse_server.port, "me")
    assert me.welcome["mode"] == "reverse" and me.welcome["exit_words"] == ["bye", "end"]
    me.say("abc")
    reply = me.frame()
    assert (reply["type"], reply["text"]) == ("reply", "cba") and isinstance(reply["seq"], int)
    other.say("xyz")
    assert other.frame()["text"] == "zyx", "other's next frame is its own reply: nothing was broadcast to it"


def test_reverse_line_mode_end_word_finishes(reverse_server):
    proc = client_process(reverse_server.address, "--name", "rev")
    out, err = proc.communicate("stressed\nEnd.\nnot sent\n", timeout=15)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "Connected to the server."
    assert "desserts" in lines
    assert "tnes ton" not in out, "nothing after 'end' is sent"
    assert lines[-1] == "Chat ended."


def test_reverse_plain_client_needs_no_name(reverse_server):
    raw = socket.create_connection(("127.0.0.1", reverse_server.port), timeout=10)
    raw.sendall("straw\nÉcole\n".encode())
    raw.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := raw.recv(4096):
        data += chunk
    assert data.decode().split("\r\n")[:2] == ["warts", "elocÉ"]


def test_ack_names_what_was_received_to_sender_only(ack_server):
    watcher = NativeClient(ack_server.port, "watcher")
    proc = send_once(ack_server.address, 'say "hi"')
    assert proc.returncode == 0, proc.stderr
    ack = proc.stdout.strip()
    assert ack.startswith("ACK ") and ack.endswith(': "say \\"hi\\""')
    watcher.say("mine")
    reply = watcher.frame()
    assert reply["type"] == "reply" and reply["text"].endswith(': "mine"')
    assert int(reply["text"].split()[1].rstrip(":")) > int(ack.split()[1].rstrip(":")), "server sequence grows"


def test_ack_keeps_an_action_an_action(ack_server):
    proc = send_once(ack_server.address, "/me waves")
    assert proc.returncode == 0, proc.stderr
    ack = proc.stdout.strip()
    assert ack.startswith("ACK ") and ack.endswith(': /me "waves"'), ack
    said = send_once(ack_server.address, "waves")
    assert said.stdout.strip().endswith(': "waves"'), "a plain message is not an action"


def test_send_in_chat_mode_confirms_delivery(server):
    watcher = NativeClient(server.port, "watcher")
    proc = send_once(server.address, "deploy done", "--name", "ci")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Message delivered (#")
    msg = watcher.messages(1)[0]
    assert (msg["nick"], msg["text"]) == ("ci", "deploy done")


def test_send_to_nothing_fails_once_and_clearly():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = send_once(f"127.0.0.1:{port}", "anyone?")
    assert proc.returncode == 1
    assert proc.stderr == f"chatclient: could not connect to 127.0.0.1:{port}: connection refused\n"


def test_connection_reset_is_one_clear_line():
    """A server that accepts, then resets the connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def reset_after_hello() -> None:
        # Every connection: the hello's, then the client's HTTP probe of a server that
        # dropped it (left unanswered, the probe would wait out its 5 s timeout).
        for probe in (False, True):
            listener.settimeout(10 if probe else None)  # (a client that probes no more: no wait for ever)
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            conn.recv(1024)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    t = threading.Thread(target=reset_after_hello)
    t.start()
    proc = send_once(f"127.0.0.1:{port}", "hello")
    t.join(5)
    listener.close()
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "connection reset" in proc.stderr
    assert "Traceback" not in proc.stderr


KEPT_LINE = re.compile(r"nothing is kept \((reverse|ack) mode")


@pytest.mark.parametrize("mode", ["reverse", "ack"])
def test_reverse_and_ack_keep_nothing_and_serve_no_page_beside_a_chat_server(mode):
    """A chat server holds the default store; a reverse or ack server beside
    it starts anyway, opens no store (with its own --name neither) and serves no page."""
    chat = ServerProcess("--store", str(store_file("chatserver")))  # the default store, in use
    state = store_file("chatserver").parent
    kept_before = sorted(p.name for p in state.iterdir())
    try:
        for extra in ((), ("--name", "echoes")):
            other = ServerProcess("--mode", mode, *extra)
            try:
                assert other.web_port is None
                seen = []  # the start lines after the ready line, up to the one saying where chat is kept
                match = None
                while match is None:
                    line = other._readline(5)
                    assert line, f"no 'nothing is kept' line; saw {seen!r}"
                    seen.append(line)
                    match = KEPT_LINE.search(line)
                assert not any(WEB_READY.search(line) for line in seen), seen
                assert sorted(p.name for p in state.iterdir()) == kept_before, "no store opened"
                client = NativeClient(other.port, "tester")
                client.say("abc")
                reply = client.expect(lambda f: f["type"] == "reply")["text"]
                assert reply == ("cba" if mode == "reverse" else 'ACK 1: "abc"')
            finally:
                code, err = other.stop()
            assert code == 0, err
    finally:
        chat.stop()


@pytest.mark.parametrize("flag", [["--store", "memory"], ["--web-port", "0"], ["--retain-days", "3"]])
def test_reverse_mode_refuses_flags_that_ask_to_keep_or_serve(flag):
    proc = subprocess.run(
        [*program("chatserver"), "--mode", "reverse", "--port", "0", *flag],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=20,
    )
    assert proc.returncode == 2
    assert f"--mode reverse keeps nothing and serves no page: leave out {flag[0]}" in proc.stderr
