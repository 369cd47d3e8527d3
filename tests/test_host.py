"""``chatserver --interactive``: the host takes part through the real client."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import trustme
from helpers import READY, ROOT, NativeClient, client_process, program, python_env, wait_for
from terminal import Terminal


class HostServer:
    """``chatserver --interactive`` in a pseudo-terminal."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        env = {**python_env(), **(env or {})}
        env["TERM"] = "xterm"
        argv = [*program("chatserver"), "--interactive", "--name", "Server", "--host", "127.0.0.1", "--port", "0"]
        self.term = Terminal([*argv, *args], env=env)
        self.term.wait_text("Server is waiting for a connection...")
        self.port = int(READY.search(self.term.text).group(2))
        self.address = f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.term.child.pid


def _tty_client(address: str, name: str) -> Terminal:
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), address, "--name", name], env=env)
    term.wait_text("Connected to the server.")
    return term


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _hello(port: int, nick: str, password: str | None = None) -> tuple[NativeClient, dict]:
    client = NativeClient(port)
    client.send_json({"type": "hello", "version": 1, "nick": nick, **({"password": password} if password else {})})
    return client, client.expect(lambda f: f["type"] in ("welcome", "error"))


def test_chatserver_never_imports_chatclient():
    for path in sorted((ROOT / "chatserver").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert all(n.split(".")[0] != "chatclient" for n in names), f"{path.name}:{node.lineno} imports chatclient"


def test_the_host_is_the_real_client_in_a_child_process():
    host = HostServer()
    assert wait_for(lambda: len(children(host.pid)) == 1)
    (child,) = children(host.pid)
    argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
    assert argv[1:3] == [b"-m", b"chatclient"] and b"--no-reconnect" in argv
    host.term.send("bye\r")
    assert host.term.wait_exit() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_to_the_server_ends_the_hosts_client_and_every_peer(sig):
    host = HostServer()
    assert wait_for(lambda: len(children(host.pid)) == 1)
    (child,) = children(host.pid)
    peer = client_process(host.address, "--name", "bob")
    assert peer.stdout.readline() == "Connected to the server.\n"
    host.term.wait_text("bob joined")
    os.kill(host.pid, sig)  # the server alone, not its process group
    assert host.term.wait_exit() == 0
    assert "Chat ended." in host.term.text
    assert wait_for(lambda: not alive(child)), "the host's client outlived the server"
    out, err = peer.communicate(timeout=10)
    assert peer.returncode == 0 and out.splitlines()[-1] == "Chat ended.", err
    assert "Server ended the chat" in out


def test_the_host_is_an_operator_nobody_can_kick_and_its_name_is_reserved(tmp_path):
    (tmp_path / "pw").write_text("sesame\n")
    # The host's client needs no password: the socket the server gave it is its credential.
    host = HostServer("--password-file", str(tmp_path / "pw"), "--op", "alice")
    alice, welcome = _hello(host.port, "alice", "sesame")
    assert welcome["type"] == "welcome"
    alice.send_json({"type": "kick", "nick": "Server", "reason": "coup"})
    assert alice.expect(lambda f: f["type"] == "error")["code"] == "not_kickable"
    _, refused = _hello(host.port, "SERVER", "sesame")
    assert refused["type"] == "error" and refused["code"] == "nick_taken"
    bob, _ = _hello(host.port, "bob", "sesame")
    bob.send_json({"type": "nick", "nick": "server"})
    assert bob.expect(lambda f: f["type"] == "error")["code"] == "nick_taken"
    host.term.send("/kick bob enough\r")
    assert bob.expect(lambda f: f["type"] == "notice" and f.get("event") == "kick")["text"] == (
        "you were kicked by Server: enough"
    )
    host.term.send("bye\r")
    assert host.term.wait_exit() == 0


def test_the_host_sees_a_connection_as_host_port_with_ipv6_in_brackets():
    """Not a Python tuple, ``('::1', 54750, 0, 0)``: the address as people write it."""
    host = HostServer("--host", "::1")
    peer = NativeClient(host.port, "bob", host="::1")
    host.term.wait_text(f"Got a connection from [::1]:{peer.sock.getsockname()[1]}")
    host.term.send("/quit\r")
    assert host.term.wait_exit() == 0


def test_host_chat_both_type_while_receiving_and_client_bye_ends_both():
    host = HostServer()
    client = _tty_client(host.address, "bob")
    host.term.wait_for(lambda t: re.search(r"Got a connection from 127\.0\.0\.1:\d+$", t.text, re.M), what="peer")
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


@pytest.mark.parametrize("keys", ["bye\r", "/quit\r", "\x03"], ids=["bye", "quit", "ctrl-c"])
def test_the_host_leaving_ends_the_chat_for_everyone(keys):
    host = HostServer()
    a = client_process(host.address, "--name", "a")
    b = client_process(host.address, "--name", "b")
    assert a.stdout.readline() == "Connected to the server.\n"
    assert b.stdout.readline() == "Connected to the server.\n"
    host.term.wait_text("b joined")
    host.term.send(keys)
    assert host.term.wait_exit() == 0
    assert "Chat ended." in host.term.text
    for proc in (a, b):
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Server ended the chat" in out and out.splitlines()[-1] == "Chat ended."
        assert ("Server: bye" in out) == (keys == "bye\r")


def test_the_host_of_a_tls_server_with_a_password_chats_over_its_private_socket(tmp_path):
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    for name, pem in (("ca", authority.cert_pem), ("cert", issued.cert_chain_pems[0]), ("key", issued.private_key_pem)):
        pem.write_to_path(str(tmp_path / f"{name}.pem"))
    (tmp_path / "pw").write_text("sesame\n")
    files = {name: str(tmp_path / name) for name in ("ca.pem", "cert.pem", "key.pem", "pw")}
    host = HostServer("--tls-cert", files["cert.pem"], "--tls-key", files["key.pem"], "--password-file", files["pw"])
    bob = client_process(host.address, "--cafile", files["ca.pem"], "--password-file", files["pw"], "--name", "bob")
    assert bob.stdout.readline() == "Connected to the server.\n"
    host.term.wait_text("bob joined")
    host.term.send("hello over tls\r")
    got = ""
    while "Server:" not in got:
        got = bob.stdout.readline()
        assert got, "bob's output ended early"
    assert got == "Server: hello over tls\n"
    bob.stdin.write("bye\n")
    bob.stdin.flush()
    assert bob.wait(10) == 0
    assert host.term.wait_exit() == 0


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


def test_only_the_exit_word_of_the_last_peer_ends_the_hosts_chat():
    """--send, a bot at the end of its input, /quit and Ctrl-C leave; only "bye" ends the chat."""
    host = HostServer()
    waiting = b"Server is waiting for a connection..."
    seen = 1

    def waiting_again(after: str) -> None:
        nonlocal seen
        seen += 1
        host.term.wait_for(lambda t: t.raw.count(waiting) >= seen, what=f"waiting again after {after}")
        assert host.term.child.isalive() and "Chat ended." not in host.term.text

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        argv = [*program("chatclient"), host.address, *args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=python_env(), timeout=20)

    assert run("--name", "oneshot", "--send", "hello host").returncode == 0
    host.term.wait_text("oneshot: hello host")
    waiting_again("a one-shot --send")
    assert run("--name", "bot", stdin="beep\n").returncode == 0
    host.term.wait_text("bot: beep")
    waiting_again("a bot's end of input")
    assert run("--name", "quitter", stdin="/quit\n").returncode == 0
    waiting_again("/quit")
    peer = _tty_client(host.address, "ctrlc")
    host.term.wait_text("ctrlc joined")
    # Ctrl-C at the prompt. (One pressed before the prompt is drawn is no longer lost:
    # test_accounts_client_terminal.py's client frozen at 'Connected' holds that; this one is about the host.)
    peer.wait_text("ctrlc>")
    peer.send("\x03")
    peer.wait_exit()
    waiting_again("Ctrl-C")
    last = _tty_client(host.address, "last")
    host.term.wait_text("last joined")
    last.send("bye\r")
    assert last.wait_exit() == 0
    assert host.term.wait_exit() == 0 and "Chat ended." in host.term.text


def test_the_server_log_never_writes_into_the_hosts_chat_screen(tmp_path):
    host = HostServer(env={"XDG_STATE_HOME": str(tmp_path)})
    _, welcome = _hello(host.port, "bob")
    assert welcome["type"] == "welcome"
    host.term.wait_text("bob joined")
    host.term.send("/kick bob spamming\r")  # the server logs a kick as a warning
    host.term.wait_text("bob left (kicked by Server: spamming)")
    host.term.send("bye\r")
    assert host.term.wait_exit() == 0
    screen = host.term.raw.decode(errors="replace")
    assert "WARNING" not in screen and "kicked by Server: spamming\r" not in screen, screen
    log = tmp_path / "chatserver" / "interactive.log"
    assert f"Server log: {log}" in screen, "the host is told where the log goes"
    assert "WARNING chatserver.rules.executor: bob kicked by Server: spamming" in log.read_text()
