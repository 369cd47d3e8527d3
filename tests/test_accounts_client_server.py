"""The terminal client's accounts against a real server with accounts (a real subprocess, real
sockets): register in a pseudo-terminal, logged in by itself after a restart of the client, /passwd,
/logout revoking the token, a refused token forgotten, a registered name asking for its password,
and line mode reading the password from the next line."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess

import pytest
from helpers import TIMEOUT, NativeClient, ServerProcess, client_env, hello, kept_logins, logins_file, program
from terminal import Terminal

ACCOUNTS = ("--accounts", "optional")
SECRET = "terminal secret 9"


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0", *ACCOUNTS)


def _tty(address: str, tmp_path, *args: str) -> Terminal:
    """The client in a pseudo-terminal, for ``address`` (a server's, or a cluster's list)."""
    return Terminal([*program("chatclient"), address, *args], env=client_env(tmp_path))


def _quit(term: Terminal) -> None:
    term.send("/quit\r")
    assert term.wait_exit() == 0


def _token_answer(srv: ServerProcess, token: str) -> str:
    """What the server answers a hello carrying ``token``: "loggedin", or the error's code."""
    client = hello(srv.port, nick="probe", login_token=token)
    try:
        frame = client.expect(lambda f: f["type"] in ("error", "loggedin"))
        return frame.get("code", frame["type"])
    finally:
        client.close()


def _register(address: str, tmp_path, nick: str) -> Terminal:
    term = _tty(address, tmp_path, "--name", nick)
    term.wait_text(f"{nick}>")
    term.send("/register\r")
    term.wait_text("Password for your new account")
    term.send(SECRET + "\r")
    term.wait_text("The same again, to be sure:")
    term.send(SECRET + "\r")
    term.wait_text(f"account registered; logged in as {nick}")
    return term


def test_register_then_logged_in_by_itself_after_a_restart_then_logout_revokes(srv, tmp_path):
    term = _register(srv.address, tmp_path, "alice")
    assert stat.S_IMODE(os.stat(logins_file(tmp_path)).st_mode) == 0o600
    token = kept_logins(tmp_path)[srv.address]["token"]
    assert kept_logins(tmp_path)[srv.address]["account"] == "alice"
    _quit(term)
    assert SECRET.encode() not in term.raw
    assert SECRET not in (tmp_path / "state" / "chatclient" / "history").read_text()
    # The client again, no name given: the kept login's, logged in at hello.
    watcher = NativeClient(srv.port, "watcher")
    again = _tty(srv.address, tmp_path)
    again.wait_text("logged in as alice (remembered for this server")
    again.wait_text("alice>")
    watcher.expect(lambda f: f.get("event") == "join" and f.get("nick") == "alice")
    again.send("/logout\r")
    again.wait_text("logged out of alice")
    assert kept_logins(tmp_path) == {}
    assert _token_answer(srv, token) == "bad_login"  # revoked on the server too
    _quit(again)


def test_passwd_asks_the_old_and_twice_the_new(srv, tmp_path):
    term = _register(srv.address, tmp_path, "bob")
    term.send("/passwd\r")
    term.wait_text("Current password")
    term.send(SECRET + "\r")
    term.wait_text("New password")
    term.send("a brand new one\r")
    term.wait_text("The same again")
    term.send("a brand new one\r")
    term.wait_text("the password of bob is changed")
    _quit(term)
    assert b"a brand new one" not in term.raw
    client = hello(srv.port, nick="bob", account_password="a brand new one")
    assert client.expect(lambda f: f["type"] in ("error", "loggedin"))["type"] == "loggedin"


def test_a_refused_token_is_forgotten_and_the_client_goes_on_as_a_guest(srv, tmp_path):
    path = logins_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({srv.address: {"account": "mallory", "token": "lct_forged"}}))
    term = _tty(srv.address, tmp_path)
    term.wait_text("The server refused the remembered login for mallory")
    term.wait_text("going on as a guest")
    term.wait_text("mallory>")
    assert kept_logins(tmp_path) == {}
    _quit(term)


def test_a_registered_name_asks_for_its_password_at_the_start(srv, tmp_path):
    _quit(_register(srv.address, tmp_path, "carol"))
    logins_file(tmp_path).unlink()  # (another device: nothing kept)
    term = _tty(srv.address, tmp_path, "--name", "carol")
    term.wait_text("Password of the account carol (Enter: choose another name):")
    term.send(SECRET + "\r")
    term.wait_text("logged in as carol: this device stays logged in")
    assert kept_logins(tmp_path)[srv.address]["account"] == "carol"
    _quit(term)
    assert SECRET.encode() not in term.raw


def test_line_mode_logs_in_with_the_next_line_and_keeps_the_token(srv, tmp_path):
    owner = NativeClient(srv.port, "dave")
    owner.send_json({"type": "register", "password": SECRET})
    owner.expect(lambda f: f["type"] == "loggedin")
    owner.send_json({"type": "quit"})
    owner.close()
    proc = subprocess.run(
        [*program("chatclient"), srv.address, "--name", "dave-bot"],
        input=f"/login dave\n{SECRET}\n",
        capture_output=True,
        text=True,
        env=client_env(tmp_path),
        timeout=TIMEOUT * 2,
    )
    assert proc.returncode == 0, proc.stderr
    assert "the password is read from standard input (no terminal)" in proc.stderr
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert "logged in as dave" in proc.stdout
    assert kept_logins(tmp_path)[srv.address]["account"] == "dave"


def test_logged_in_again_after_the_server_restarts(tmp_path):
    """The reconnect's hello carries the login token: back logged in, on a server that restarted
    (its accounts in its SQLite file), with nothing typed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])  # (the client reconnects to the same address)
    args = ("--rate-limit", "0", *ACCOUNTS, "--store", str(tmp_path / "chat.sqlite3"), "--port", port)
    srv = ServerProcess(*args)
    try:
        term = _register(srv.address, tmp_path, "erin")
        srv.stop()
        term.wait_text("reconnecting")
        srv = ServerProcess(*args)
        term.wait_text("reconnected as erin", timeout=30)
        term.wait_text("logged in as erin (remembered for this server")
        assert kept_logins(tmp_path)[srv.address]["account"] == "erin"
        _quit(term)
    finally:
        srv.stop()


def test_with_accounts_required_a_newcomer_makes_an_account_as_it_arrives(tmp_path):
    srv = ServerProcess("--rate-limit", "0", "--accounts", "required")
    try:
        term = _tty(srv.address, tmp_path, "--name", "frank")
        term.wait_text("Password of the account frank (a new account if the name is nobody's")
        term.send(SECRET + "\r")
        term.wait_text("logged in as frank")
        term.wait_text("frank>")
        assert kept_logins(tmp_path)[srv.address]["account"] == "frank"
        _quit(term)
        assert SECRET.encode() not in term.raw
        again = _tty(srv.address, tmp_path)  # and next time, in by itself
        again.wait_text("logged in as frank (remembered for this server")
        _quit(again)
    finally:
        srv.stop()


def test_logged_out_then_the_server_restarts_asks_for_the_accounts_password(tmp_path):
    """After /logout the session keeps its name, an account's, as a guest; a reconnect is then
    refused it (name_registered): the client asks for the account's password, unseen, instead of
    trying again and again, and is logged in again with it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    args = ("--rate-limit", "0", *ACCOUNTS, "--store", str(tmp_path / "chat.sqlite3"), "--port", port)
    srv = ServerProcess(*args)
    try:
        term = _register(srv.address, tmp_path, "hank")
        term.send("/logout\r")
        term.wait_text("logged out of hank")
        srv.stop()
        term.wait_text("reconnecting")
        srv = ServerProcess(*args)
        term.wait_text("'hank' is registered (the account hank)", timeout=30)
        term.wait_text("Password:")
        term.send(SECRET + "\r")
        term.wait_text("reconnected as hank")
        term.wait_text("logged in as hank: this device stays logged in")
        assert kept_logins(tmp_path)[srv.address]["account"] == "hank"
        _quit(term)
        assert SECRET.encode() not in term.raw
    finally:
        srv.stop()
