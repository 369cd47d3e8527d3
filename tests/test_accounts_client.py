"""The terminal client's accounts against a scripted server (exact frames, a real socket): the real
``chatclient`` in a real pseudo-terminal or in line mode. Passwords asked for unseen and sent only in
their frame; the login token kept 0600 and sent at the next hello; a refused one forgotten."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import termios

import pytest
from fake_server import FakeServer
from helpers import TIMEOUT, client_env, kept_logins, logins_file, program
from terminal import Terminal

from common import messages as m

SECRET = "correct horse 77"


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


def _keep(tmp_path, fake: FakeServer, account: str, token: str) -> None:
    path = logins_file(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({fake.address: {"account": account, "token": token}}))
    path.chmod(0o600)


def _tty(fake: FakeServer, tmp_path, *args: str) -> Terminal:
    return Terminal([*program("chatclient"), fake.address, *args], env=client_env(tmp_path))


def test_register_asks_twice_unseen_and_the_token_is_kept_private(fake, tmp_path):
    term = _tty(fake, tmp_path, "--name", "alice")
    peer = fake.accept()
    hello = peer.greet(accounts="optional")
    assert hello["nick"] == "alice" and "login_token" not in hello
    term.wait_text("alice>")
    term.send("/register\r")
    term.wait_text("Password for your new account")
    term.send(SECRET + "\r")
    term.wait_text("The same again, to be sure:")
    term.send(SECRET + "\r")
    frame = peer.expect(lambda f: f["type"] == "register")
    assert frame["password"] == SECRET
    peer.send_msg(m.LoggedIn(account="alice", token="tok-alice-1", registered=True))
    term.wait_text("logged in as alice")
    kept = logins_file(tmp_path)
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert kept_logins(tmp_path) == {fake.address: {"account": "alice", "token": "tok-alice-1"}}
    term.send("/quit\r")
    peer.expect(lambda f: f["type"] == "quit")
    peer.send_msg(m.Bye(reason="quit"))
    assert term.wait_exit() == 0
    assert SECRET.encode() not in term.raw  # never on the screen, not even as it was typed
    assert "tok-alice" not in term.text
    history = (tmp_path / "state" / "chatclient" / "history").read_text()
    assert SECRET not in history and "/register" not in history


def test_two_different_passwords_send_nothing(fake, tmp_path):
    term = _tty(fake, tmp_path, "--name", "alice")
    peer = fake.accept()
    peer.greet()
    term.wait_text("alice>")
    term.send("/register\r")
    term.wait_text("Password for your new account")
    term.send(SECRET + "\r")
    term.wait_text("The same again")
    term.send(SECRET + "x\r")
    term.wait_text("/register not sent: the two passwords differ")
    term.send("/passwd\r")
    term.wait_text("Current password")
    term.send("old-password\r")
    term.wait_text("New password")
    term.send("short\r")
    term.wait_for(lambda t: t.cursor_line().startswith("The same again"), what="the new password asked twice")
    term.send("short\r")  # (asked before the refusal: a second entry never reaches the chat line)
    term.wait_text("a password has at least 6 characters")
    term.send("hello\r")
    said = peer.expect(lambda f: f["type"] in ("say", "register", "passwd"))
    assert said["type"] == "say" and said["text"] == "hello"  # (neither account command went out)
    term.send("/quit\r")
    peer.expect(lambda f: f["type"] == "quit")
    peer.send_msg(m.Bye(reason="quit"))
    assert term.wait_exit() == 0


def test_a_kept_login_logs_in_by_itself_and_logout_forgets_it(fake, tmp_path):
    _keep(tmp_path, fake, "alice", "tok-alice-2")
    term = _tty(fake, tmp_path)  # no --name: the kept login's account, nobody asked for a name
    peer = fake.accept()
    hello = peer.greet(accounts="optional")
    assert hello["nick"] == "alice" and hello["login_token"] == "tok-alice-2"
    peer.send_msg(m.LoggedIn(account="alice", token="tok-alice-2"))
    term.wait_text("logged in as alice (remembered for this server")
    term.send("/logout\r")
    assert peer.expect(lambda f: f["type"] == "logout").get("all") in (None, False)
    assert kept_logins(tmp_path) == {}  # at once, before the server answers
    peer.send_msg(m.LoggedOut(account="alice"))
    term.wait_text("logged out of alice")
    history = (tmp_path / "state" / "chatclient" / "history").read_text()
    assert "/logout" in history  # (nothing secret in it)
    term.send("/quit\r")
    peer.expect(lambda f: f["type"] == "quit")
    peer.send_msg(m.Bye(reason="quit"))
    assert term.wait_exit() == 0


def test_another_name_asked_for_does_not_send_the_kept_token(fake, tmp_path):
    _keep(tmp_path, fake, "alice", "tok-alice-3")
    term = _tty(fake, tmp_path, "--name", "bob")
    peer = fake.accept()
    hello = peer.greet()
    assert hello["nick"] == "bob" and "login_token" not in hello
    term.wait_text("bob>")
    term.send("/quit\r")
    peer.expect(lambda f: f["type"] == "quit")
    peer.send_msg(m.Bye(reason="quit"))
    assert term.wait_exit() == 0
    assert kept_logins(tmp_path)[fake.address]["token"] == "tok-alice-3"  # (still kept for alice)


def test_a_token_refused_at_hello_is_forgotten_and_the_client_goes_on_as_a_guest(fake, tmp_path):
    _keep(tmp_path, fake, "alice", "tok-revoked")
    term = _tty(fake, tmp_path)
    peer = fake.accept()
    hello = peer.expect(lambda f: f["type"] == "hello")
    assert hello["login_token"] == "tok-revoked"
    peer.send_msg(m.Error(code="bad_login", message="wrong account name, password or login token"))
    peer.close()  # (a server may hang up on it: the client comes again on a new connection)
    again = fake.accept()
    hello = again.greet(nick="alice")
    assert "login_token" not in hello and "account_password" not in hello
    term.wait_text("The server refused the remembered login for alice")
    term.wait_text("alice>")
    assert kept_logins(tmp_path) == {}
    term.send("/quit\r")
    again.expect(lambda f: f["type"] == "quit")
    again.send_msg(m.Bye(reason="quit"))
    assert term.wait_exit() == 0


def test_a_token_refused_after_the_welcome_is_forgotten_with_a_clear_line(fake, tmp_path):
    _keep(tmp_path, fake, "alice", "tok-stale")
    term = _tty(fake, tmp_path)
    peer = fake.accept()
    peer.greet()
    peer.send_msg(m.Error(code="bad_login", message="wrong account name, password or login token"))
    term.wait_text("the server refused the remembered login for alice")
    term.wait_text("you are a guest (/login alice to log in again)")
    assert kept_logins(tmp_path) == {}
    term.send("/quit\r")
    peer.expect(lambda f: f["type"] == "quit")
    peer.send_msg(m.Bye(reason="quit"))
    assert term.wait_exit() == 0


def test_line_mode_takes_the_password_from_the_next_line_with_a_warning(fake, tmp_path):
    proc = subprocess.Popen(
        [*program("chatclient"), fake.address, "--name", "bot"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(tmp_path),
    )
    try:
        peer = fake.accept()
        peer.greet()
        proc.stdin.write(f"/login alice\n{SECRET}\nhello\n")
        proc.stdin.flush()
        login = peer.expect(lambda f: f["type"] == "login")
        assert login == {"type": "login", "name": "alice", "password": SECRET}
        assert peer.expect(lambda f: f["type"] == "say")["text"] == "hello"  # (the password was no message)
        peer.send_msg(m.LoggedIn(account="alice", token="tok-bot"))
        peer.send_msg(m.Accepted(seq=1, room="#lobby", ts=1.0))
        proc.stdin.close()
        peer.expect(lambda f: f["type"] == "quit")
        peer.send_msg(m.Bye(reason="quit"))
        assert proc.wait(TIMEOUT) == 0
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "the password is read from standard input (no terminal)" in err
    assert "no --tls: the password goes to the server unencrypted" in err
    assert SECRET not in out and SECRET not in err
    assert "logged in as alice" in out
    assert kept_logins(tmp_path)[fake.address] == {"account": "alice", "token": "tok-bot"}


def test_line_mode_on_a_terminal_reads_the_password_with_the_echo_off(fake, tmp_path):
    """Input a terminal, output a pipe (``chatclient | tee log``): line mode, and the password line
    is typed unseen, the terminal's echo off meanwhile and on again after."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [*program("chatclient"), fake.address, "--name", "teed"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=client_env(tmp_path),
    )
    os.close(slave)
    try:
        peer = fake.accept()
        peer.greet()
        os.write(master, b"/login alice\n")
        prompt = b""
        while b"(not shown): " not in prompt:
            prompt += proc.stderr.read1(1024)
        assert not termios.tcgetattr(master)[3] & termios.ECHO
        os.write(master, SECRET.encode() + b"\n")
        assert peer.expect(lambda f: f["type"] == "login")["password"] == SECRET
        assert termios.tcgetattr(master)[3] & termios.ECHO  # (back as it was)
        os.write(master, b"\x04")  # end of input
        peer.expect(lambda f: f["type"] == "quit")
        peer.send_msg(m.Bye(reason="quit"))
        assert proc.wait(TIMEOUT) == 0
        echoed = b""
        with contextlib.suppress(OSError):  # (EIO once the client closed its end)
            while chunk := os.read(master, 4096):
                echoed += chunk
        assert b"/login alice" in echoed and SECRET.encode() not in echoed
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
