"""The terminal client and a login held by the server's throttle (issue 23): the client waits as long as
the server says and tries again, saying so, instead of ending; and the toolbar names the account. A real
server (in this process, its throttle on a clock the test moves) and real client processes."""

from __future__ import annotations

import subprocess

from helpers import ServerProcess, client_env, logins_file, program, register
from terminal import Terminal
from test_accounts_server import arrive
from test_reconnect import read_until

from chatclient.logins import Login, Logins


def remember(tmp_path, port: int, nick: str, token: str) -> None:
    """The client run with ``client_env(tmp_path)`` keeps ``token`` for the server, as after a login."""
    Logins(logins_file(tmp_path)).remember([("127.0.0.1", port)], Login(nick, token))


def test_a_login_held_at_start_is_waited_for_and_tried_again(clocked, tmp_path):
    server, clock = clocked
    port = server.address[1]
    remember(tmp_path, port, "bob", register(port, "bob").token)
    wrong, refused = arrive(port, nick="bob", account_password="guess 1234")  # from this address: held 1 s
    assert refused["code"] == "bad_login"
    wrong.close()
    proc = subprocess.Popen(
        [*program("chatclient"), f"127.0.0.1:{port}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=client_env(tmp_path),
    )  # fmt: skip
    try:
        held = read_until(proc, "then trying again")
        assert "too many wrong logins: try again in 1 s; waiting 1 s, then trying again" in held[-1]
        assert not any("Connected" in line for line in held)
        clock.now += 2  # the hold is over: the client's next try is let in
        after = read_until(proc, "Connected to the server.")
        assert all("then trying again" in line for line in after[:-1]), after  # (held until then, nothing else)
        proc.stdin.write("/who\n")
        proc.stdin.flush()
        assert "bob" in read_until(proc, "in #lobby:")[-1], "logged in by its kept token, as bob"
    finally:
        proc.stdin.close()
        proc.wait(10)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "refused us" not in err


def test_the_toolbar_names_the_account_logged_in(tmp_path):
    srv = ServerProcess("--rate-limit", "0", "--accounts", "optional")
    try:
        remember(tmp_path, srv.port, "carol", register(srv.port, "carol").token)
        term = Terminal([*program("chatclient"), srv.address], env=client_env(tmp_path))
        term.wait_text("carol>")
        term.wait_for(lambda t: "logged in as carol" in t.lines[-1], what="the account in the toolbar")
        term.send("/logout\r")
        term.wait_for(lambda t: "logged in as" not in t.lines[-1], what="a guest's toolbar")
        term.send("/quit\r")
        assert term.wait_exit() == 0
    finally:
        code, err = srv.stop()
    assert code == 0, err
