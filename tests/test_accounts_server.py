"""Accounts through real sockets: a real server process on a real SQLite file, restarted; nc users;
and the login throttle on an in-process server whose clock the test moves (real loopback sockets)."""

from __future__ import annotations

import time

from helpers import TIMEOUT, LineSocket, NativeClient, PlainClient, ServerProcess, ask_who, hello

PASSWORD = "correct horse 1"


def answer(client: NativeClient, *kinds: str) -> dict:
    """The next frame of one of ``kinds`` (or an error)."""
    return client.expect(lambda f: f["type"] in (*kinds, "error"))


def arrive(port: int, **fields) -> tuple[NativeClient, dict]:
    """A hello, retried while the name is still held by a session the server is closing
    (bounded: a refusal of another kind is the answer); the client and its welcome."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        client = hello(port, version=1, **fields)
        first = answer(client, "welcome")
        if first["type"] == "welcome" or first["code"] != "nick_taken" or time.monotonic() > deadline:
            return client, first
        client.close()


def test_register_restart_then_log_in_with_password_and_with_token(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        bob = NativeClient(srv.port, "bob")
        assert bob.welcome["accounts"] == "optional"
        bob.send_json({"type": "register", "password": PASSWORD})
        made = answer(bob, "loggedin")
        assert made["type"] == "loggedin" and made["account"] == "bob" and made["registered"]
        token = made["token"]
        for other in ("BOB", "ВОВ"):  # (the second in Cyrillic capitals)
            client, refused = arrive(srv.port, nick=other)
            assert refused["type"] == "error" and refused["code"] == "name_registered", other
            assert "registered" in refused["message"]
            client.close()
        bob.send_json({"type": "quit"})
        bob.read_until_closed()
    finally:
        code, err = srv.stop()
    assert code == 0 and PASSWORD not in err and token not in err, "no password or token in the log"

    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        stranger, refused = arrive(srv.port, nick="bob")
        assert refused["code"] == "name_registered", "still registered after the restart"
        stranger.close()
        by_password, welcome = arrive(srv.port, nick="bob", account_password=PASSWORD)
        assert welcome["type"] == "welcome" and welcome["nick"] == "bob"
        login = answer(by_password, "loggedin")
        assert login["account"] == "bob" and login["token"] != token
        by_password.send_json({"type": "quit"})
        by_password.read_until_closed()
        by_token, welcome = arrive(srv.port, nick="whoever", login_token=token)
        assert welcome["type"] == "welcome" and welcome["nick"] == "bob", "the token's account names the session"
        assert answer(by_token, "loggedin")["token"] == token
        by_token.send_json({"type": "logout"})
        assert answer(by_token, "loggedout")["account"] == "bob"
        by_token.send_json({"type": "quit"})
        by_token.read_until_closed()
        replayed, refused = arrive(srv.port, nick="bob", login_token=token)
        assert refused["type"] == "error" and refused["code"] == "bad_login", "a revoked token fails"
        replayed.close()
    finally:
        code, err = srv.stop()
    assert PASSWORD not in err and token not in err


def test_a_plain_user_registers_and_another_logs_in_on_the_next_line():
    srv = ServerProcess("--rate-limit", "0")
    try:
        watcher = NativeClient(srv.port, "watcher")
        carol = PlainClient(srv.port, "carol")
        carol.send(b"/register\n")
        asked = carol.expect_line(lambda line: b"on the next line" in line)[-1]
        assert b"password" in asked and b"no TLS" not in asked, "from this machine: nothing crosses a network"
        carol.send(PASSWORD.encode() + b"\n")
        carol.expect_line(lambda line: b"logged in to the account carol" in line)
        carol.send(b"/quit\n")
        carol.read_until_closed()
        deadline = time.monotonic() + TIMEOUT
        while "carol" in ask_who(watcher)["nicks"] and time.monotonic() < deadline:
            pass  # (each /who is a round trip: until the server let carol's session go)
        guest = PlainClient(srv.port, "guest7")
        guest.send(b"/login carol\n")
        guest.expect_line(lambda line: b"on the next line" in line)
        guest.send(PASSWORD.encode() + b"\n")
        seen = guest.expect_line(lambda line: b"logged in to the account carol" in line)
        assert any(b"guest7 is now known as carol" in line for line in seen)
        guest.send(b"/nick guest8\n/msg watcher hi\n")
        watcher.expect(lambda f: f["type"] == "private" and f["text"] == "hi")
        watcher.send_json({"type": "who"})
        frames = [watcher.frame()]
        while frames[-1]["type"] != "users":
            frames.append(watcher.frame())
        assert all(PASSWORD not in str(f) for f in frames), "the password is no one's message"
    finally:
        code, err = srv.stop()
    assert PASSWORD not in err


def test_wrong_passwords_are_throttled_with_growing_delays(clocked, caplog):
    server, clock = clocked
    port = server.address[1]
    bob = NativeClient(port, "bob")
    bob.send_json({"type": "register", "password": PASSWORD})
    assert answer(bob, "loggedin")["type"] == "loggedin"
    waits = []
    for _ in range(3):
        wrong, refused = arrive(port, nick="bob", account_password="guess 1234")
        assert refused["code"] == "bad_login"
        wrong.close()
        right, held = arrive(port, nick="bob", account_password=PASSWORD)  # (held: even the right one)
        assert held["code"] == "throttled" and "try again in" in held["message"]
        right.close()
        waits.append(held["message"].rpartition("try again in ")[2])
        clock.now += 2 ** len(waits)
    assert waits == ["1 s", "2 s", "4 s"]
    bob.send_json({"type": "quit"})
    bob.read_until_closed()
    back, welcome = arrive(port, nick="bob", account_password=PASSWORD)
    assert welcome["type"] == "welcome", "the delay over, the right password works"
    assert not any("guess 1234" in r.getMessage() or PASSWORD in r.getMessage() for r in caplog.records)
    back.close()


def test_a_msg_to_an_away_account_outlives_a_restart_and_history_with_it(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        tokens = {}
        for name in ("alice", "bob"):
            client = NativeClient(srv.port, name)
            client.send_json({"type": "register", "password": PASSWORD})
            tokens[name] = answer(client, "loggedin")["token"]
            if name == "bob":
                client.send_json({"type": "quit"})
                client.read_until_closed()
            else:
                alice = client
        alice.send_json({"type": "privmsg", "to": "bob", "text": "while you were out"})
        assert answer(alice, "private")["text"] == "while you were out"
        alice.expect(lambda f: f["type"] == "notice" and f.get("event") == "kept")
        alice.send_json({"type": "quit"})
        alice.read_until_closed()
    finally:
        srv.stop()
    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        bob, welcome = arrive(srv.port, nick="bob", login_token=tokens["bob"])
        assert welcome["type"] == "welcome"
        summary = bob.expect(lambda f: f["type"] == "notice" and f.get("event") == "away_messages")
        assert summary["text"] == "1 private message while you were away"
        kept = answer(bob, "private")
        assert (kept["nick"], kept["text"], kept["replay"]) == ("alice", "while you were out", "away")
        assert kept["ts"] < time.time()
        bob.send_json({"type": "history", "nick": "alice"})
        head = bob.expect(lambda f: f["type"] == "notice" and f.get("event") == "history")
        assert "between you and alice" in head["text"]
        again = answer(bob, "private")
        assert (again["nick"], again["to"], again["text"], again["replay"]) == (
            "alice",
            "bob",
            "while you were out",
            "history",
        )
    finally:
        srv.stop()


def test_accounts_required_guests_refused_newcomers_register_at_hello_nc_too():
    srv = ServerProcess("--rate-limit", "0", "--accounts", "required")
    try:
        guest, refused = arrive(srv.port, nick="guest")
        assert refused["type"] == "error" and refused["code"] == "accounts_required"
        guest.close()
        erin, welcome = arrive(srv.port, nick="erin", account_password=PASSWORD)
        assert welcome["type"] == "welcome" and welcome["accounts"] == "required"
        made = answer(erin, "loggedin")
        assert made["account"] == "erin" and made["registered"], "accounts only: a new name's account is made"
        nc = LineSocket(srv.port)
        nc.send(b"dave\n")
        nc.expect_line(lambda line: b"a password for the new account dave" in line)
        nc.send(PASSWORD.encode() + b"\n")
        nc.expect_line(lambda line: line.startswith(b"* welcome"))
        nc.expect_line(lambda line: b"made and logged in to the account dave" in line)
        nc.send(b"/quit\n")
        nc.read_until_closed()
        again = LineSocket(srv.port)
        again.send(b"dave\n")  # (a registered name asks for its password, held or not)
        asked = again.expect_line(lambda line: b"dave" in line)[-1]
        assert b"is registered: its password" in asked
        again.send(b"not the password\n")
        again.expect_line(lambda line: b"wrong account name or password" in line)
        again.close()
    finally:
        code, err = srv.stop()
    assert code == 0 and PASSWORD not in err


def test_an_irc_client_asking_for_a_registered_nick_is_told_it_is_in_use():
    srv = ServerProcess("--rate-limit", "0")
    try:
        bob = NativeClient(srv.port, "bob")
        bob.send_json({"type": "register", "password": PASSWORD})
        assert answer(bob, "loggedin")["type"] == "loggedin"
        bob.send_json({"type": "quit"})
        bob.read_until_closed()
        irc = LineSocket(srv.irc_port)
        irc.send(b"NICK BOB\r\nUSER bob 0 * :Bob\r\n")
        refused = irc.expect_line(lambda line: b" 433 " in line or b" 001 " in line)[-1]
        assert b" 433 " in refused and b"registered" in refused, "not welcomed: another nick is needed"
        irc.send(b"NICK bobby\r\n")
        irc.expect_line(lambda line: b" 001 " in line)
        irc.close()
    finally:
        srv.stop()


def test_op_given_to_an_account_survives_a_restart(tmp_path):
    path = tmp_path / "chat.sqlite3"
    ops = tmp_path / "ops.txt"
    ops.write_text("operators only\n")
    ops.chmod(0o600)
    srv = ServerProcess("--rate-limit", "0", "--store", str(path), "--op", "admin", "--op-password-file", str(ops))
    try:
        admin, welcome = arrive(srv.port, nick="admin", password="operators only")
        assert welcome["type"] == "welcome"
        admin.send_json({"type": "register", "password": PASSWORD})
        assert answer(admin, "loggedin")["account"] == "admin"
        bob = NativeClient(srv.port, "bob")
        bob.send_json({"type": "register", "password": PASSWORD})
        token = answer(bob, "loggedin")["token"]
        bob.send_json({"type": "bans"})
        assert bob.expect(lambda f: f["type"] == "error")["code"] == "not_operator", "not an operator yet"
        admin.send_json({"type": "op", "nick": "bob"})
        bob.expect(lambda f: f["type"] == "notice" and f.get("event") == "op")
    finally:
        srv.stop()
    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        bob, welcome = arrive(srv.port, nick="bob", login_token=token)
        assert welcome["type"] == "welcome"
        bob.send_json({"type": "bans"})
        listed = bob.expect(lambda f: f["type"] == "error" or (f["type"] == "notice" and f.get("event") == "bans"))
        assert listed["type"] == "notice", "an operator again, after the restart, by the account"
    finally:
        srv.stop()


def test_a_banned_account_is_refused_when_its_token_comes_under_another_name(tmp_path):
    ops = tmp_path / "ops.txt"
    ops.write_text("operators only\n")
    ops.chmod(0o600)
    srv = ServerProcess("--rate-limit", "0", "--op", "admin", "--op-password-file", str(ops))
    try:
        bob = NativeClient(srv.port, "bob")
        bob.send_json({"type": "register", "password": PASSWORD})
        token = answer(bob, "loggedin")["token"]
        bob.send_json({"type": "quit"})
        bob.expect(lambda f: f["type"] == "bye")
        admin, welcome = arrive(srv.port, nick="admin", password="operators only")
        assert welcome["type"] == "welcome"
        admin.send_json({"type": "ban", "nick": "bob", "duration": 0})
        admin.expect(lambda f: f["type"] == "notice" and "bob" in f.get("text", ""))
        back, refused = arrive(srv.port, nick="someone-else", login_token=token)
        assert refused["type"] == "error" and refused["code"] == "banned", refused
    finally:
        srv.stop()


def test_an_op_name_s_account_logs_in_without_the_operators_password(tmp_path):
    """``--op admin``: once admin is an account, its login (a token, or its password) proves the name as the
    operators' password does, and the rights come with it; without a login the password is still asked, and
    another account's token under the name gets that account, not the rights (a new user's irssi with SASL
    and terminal with a kept token were stopped at 'needs an operator's password')."""
    ops = tmp_path / "ops.txt"
    ops.write_text("operators only\n")
    ops.chmod(0o600)
    srv = ServerProcess("--rate-limit", "0", "--op", "admin", "--op-password-file", str(ops))
    try:
        admin, welcome = arrive(srv.port, nick="admin", password="operators only")
        assert welcome["type"] == "welcome"
        admin.send_json({"type": "register", "password": PASSWORD})
        token = answer(admin, "loggedin")["token"]
        bob = NativeClient(srv.port, "bob")
        bob.send_json({"type": "register", "password": PASSWORD})
        bobs = answer(bob, "loggedin")["token"]
        again, welcome = arrive(srv.port, nick="admin", login_token=token)
        assert welcome["type"] == "welcome" and welcome["nick"] == "admin", welcome
        again.send_json({"type": "bans"})
        listed = again.expect(lambda f: f["type"] == "error" or (f["type"] == "notice" and f.get("event") == "bans"))
        assert listed["type"] == "notice", "an operator by the account's login"
        by_password, welcome = arrive(srv.port, nick="admin", account_password=PASSWORD)
        assert welcome["type"] == "welcome", welcome
        bare, asked = arrive(srv.port, nick="admin")
        assert asked["type"] == "error" and asked["code"] == "password_required", asked
        other, welcome = arrive(srv.port, nick="admin", login_token=bobs)
        assert welcome["type"] == "welcome" and welcome["nick"] == "bob", welcome
        other.send_json({"type": "bans"})
        assert other.expect(lambda f: f["type"] == "error")["code"] == "not_operator"
    finally:
        srv.stop()


def test_an_op_name_nobody_registered_is_not_made_an_account_without_the_operators_password(tmp_path):
    """With ``--accounts required`` a hello with a password makes the account; for an ``--op`` name that would
    be an operator made by whoever typed the name first: the operators' password is asked first."""
    ops = tmp_path / "ops.txt"
    ops.write_text("operators only\n")
    ops.chmod(0o600)
    srv = ServerProcess("--rate-limit", "0", "--accounts", "required", "--op", "admin", "--op-password-file", str(ops))
    try:
        grab, asked = arrive(srv.port, nick="admin", account_password=PASSWORD)
        assert asked["type"] == "error" and asked["code"] == "password_required", asked
    finally:
        srv.stop()
