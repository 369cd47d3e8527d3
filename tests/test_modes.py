"""The three classic uses: reverse server, acknowledgment server, host chat."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading

import pytest
from helpers import (
    READY,
    NativeClient,
    ServerProcess,
    client_process,
    program,
    python_env,
)
from terminal import Terminal


def send_once(address: str, text: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program("chatclient"), address, "--send", text, *extra],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=20,
    )


@pytest.fixture
def reverse_server():
    srv = ServerProcess("--mode", "reverse")
    yield srv
    srv.stop()


@pytest.fixture
def ack_server():
    srv = ServerProcess("--mode", "ack")
    yield srv
    srv.stop()


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
        conn, _ = listener.accept()
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


# --- chatserver --interactive -------------------------------------------------


class HostServer:
    """``chatserver --interactive`` in a pseudo-terminal."""

    def __init__(self) -> None:
        env = python_env()
        env["TERM"] = "xterm"
        argv = [*program("chatserver"), "--interactive", "--name", "Server", "--host", "127.0.0.1", "--port", "0"]
        self.term = Terminal(argv, env=env)
        self.term.wait_text("Server is waiting for a connection...")
        self.port = int(READY.search(self.term.text).group(2))
        self.address = f"127.0.0.1:{self.port}"


def _tty_client(address: str, name: str) -> Terminal:
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), address, "--name", name], env=env)
    term.wait_text("Connected to the server.")
    return term


def test_host_chat_both_type_while_receiving_and_client_bye_ends_both():
    host = HostServer()
    client = _tty_client(host.address, "bob")
    host.term.wait_text("Got a connection from ('127.0.0.1', ")
    host.term.wait_text("bob joined")
    # Both start typing; each receives the other's message mid-line.
    host.term.send("hello bo")
    client.send("hi serv")
    host.term.wait_for(lambda t: t.cursor_line().endswith("Server> hello bo"), what="host half line")
    client.wait_for(lambda t: t.cursor_line().endswith("bob> hi serv"), what="client half line")
    host.term.send("b\r")
    client.wait_text("Server: hello bob")
    client.wait_for(lambda t: t.cursor_line().endswith("bob> hi serv"), what="client's half line after the message")
    client.send("er\r")
    host.term.wait_text("bob: hi server")
    host.term.wait_text("You: hello bob")
    client.wait_text("You: hi server")
    client.send("bye\r")
    assert client.wait_exit() == 0
    assert "Chat ended." in client.text
    assert host.term.wait_exit() == 0, "with one peer, the peer's bye ends the host too"
    assert "Chat ended." in host.term.text
    assert "Traceback" not in host.term.raw.decode(errors="replace")


def test_host_bye_ends_the_chat_for_everyone():
    host = HostServer()
    a = client_process(host.address, "--name", "a")
    b = client_process(host.address, "--name", "b")
    assert a.stdout.readline() == "Connected to the server.\n"
    assert b.stdout.readline() == "Connected to the server.\n"
    host.term.wait_text("b joined")
    host.term.send("bye\r")
    assert host.term.wait_exit() == 0
    assert "Chat ended." in host.term.text
    for proc in (a, b):
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Server: bye" in out and out.splitlines()[-1] == "Chat ended."


def test_with_several_peers_a_client_bye_ends_only_its_session():
    host = HostServer()
    a = client_process(host.address, "--name", "a")
    b = client_process(host.address, "--name", "b")
    assert a.stdout.readline() == "Connected to the server.\n"
    host.term.wait_text("b joined")
    a.stdin.write("bye\n")
    a.stdin.flush()
    assert a.wait(10) == 0
    host.term.wait_text("a left")
    assert host.term.child.isalive(), "the host stays for the remaining peer"
    host.term.send("still here?\r")
    got = ""
    while "Server: still here?" not in got:
        got = b.stdout.readline()
        assert got, "b's output ended early"
    host.term.send("bye\r")
    assert host.term.wait_exit() == 0
    out, _ = b.communicate(timeout=10)
    assert b.returncode == 0 and out.splitlines()[-1] == "Chat ended."


def test_interactive_needs_chat_mode_and_a_valid_name():
    for args in (["--mode", "reverse"], ["--name", "my server"]):
        proc = subprocess.run(
            [*program("chatserver"), "--interactive", "--port", "0", *args],
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=10,
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_host_in_line_mode_never_blocks_the_server_on_its_output():
    """The host's stdout is a pipe nobody reads for a while: others keep chatting."""
    host = subprocess.Popen(
        [
            *program("chatserver"),
            "--interactive",
            "--name",
            "Host",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--rate-limit",
            "0",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=python_env(),
    )
    try:
        port = int(READY.search(host.stdout.readline().decode()).group(2))
        a, b = NativeClient(port, "a"), NativeClient(port, "b")
        for i in range(3000):  # ~300 KB for the host's unread pipe (64 KB)
            a.say(f"{i} " + "x" * 90)
        assert [f["text"].split()[0] for f in b.messages(3000, timeout=30)] == [str(i) for i in range(3000)]
        late = NativeClient(port, "late")  # registration still works
        assert late.welcome["type"] == "welcome"
        host.stdin.write(b"bye\n")
        host.stdin.flush()
        out = host.stdout.read().decode()  # drains the pipe; the host then ends the chat
        assert host.wait(10) == 0
        assert "Chat ended." in out
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
