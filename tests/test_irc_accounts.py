"""IRC accounts: SASL PLAIN on the IRC port, logging in to accounts made by native clients (real sockets).

A real server process with the ``irc`` library's client logging in with SASL;
raw lines for the exchange's edges (chunks of 400, aborts, a mechanism not
offered); and the login throttle on an in-process server whose clock the test
moves, as ``test_accounts_server.py`` does for native clients.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time

import irc.client
import pexpect
import pytest
from helpers import TIMEOUT, ManualClock, NativeClient, ServerProcess, wait_for
from irc_helpers import RawIrc, words_of
from test_irc_clients import _read, require

from chatserver.accounts import hashing
from chatserver.accounts.service import Accounts
from chatserver.backends.accounts import MemoryAccounts
from chatserver.config import ServerConfig
from chatserver.net.irc.port import IrcPort
from chatserver.net.server import ChatServer

PASSWORD = "correct horse 1"


def register(port: int, nick: str, password: str = PASSWORD) -> None:
    """Make ``nick`` an account from a native client, which then leaves."""
    client = NativeClient(port, nick)
    client.send_json({"type": "register", "password": password})
    made = client.expect(lambda f: f["type"] in ("loggedin", "error"))
    assert made["type"] == "loggedin", made
    client.send_json({"type": "quit"})
    client.read_until_closed()


def plain(account: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()


def respond(client: RawIrc, whole: str) -> None:
    """A response in chunks of 400 (``+`` after a last chunk of exactly 400), as the spec says."""
    chunks = [whole[i : i + 400] for i in range(0, len(whole), 400)]
    for chunk in chunks:
        client.line("AUTHENTICATE " + chunk)
    if not chunks or len(chunks[-1]) == 400:
        client.line("AUTHENTICATE +")


def sasl_start(port: int) -> RawIrc:
    """A raw client that asked for ``sasl`` and began a PLAIN exchange (``AUTHENTICATE +`` read)."""
    client = RawIrc(port)
    client.line("CAP LS 302")
    client.line("CAP REQ :sasl")
    assert client.numeric("CAP")[3] == "LS"
    assert client.numeric("CAP")[3] == "ACK"
    client.line("AUTHENTICATE PLAIN")
    assert client.numeric("AUTHENTICATE")[1:] == ["AUTHENTICATE", "+"]
    return client


class SaslClient:
    """The ``irc`` library's client logging in with SASL PLAIN (its ``sasl_login``), events collected."""

    def __init__(self, port: int, nick: str, account: str, password: str) -> None:
        self.reactor = irc.client.Reactor()
        self.events: list[irc.client.Event] = []
        self.reactor.add_global_handler("all_events", lambda conn, event: self.events.append(event), -10)
        self.conn = self.reactor.server().connect("127.0.0.1", port, nick, password=password, sasl_login=account)

    def wait(self, *types: str, timeout: float = TIMEOUT) -> irc.client.Event:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.type in types:
                    del self.events[: i + 1]
                    return event
            assert time.monotonic() < deadline, f"none of {types} came"
            self.reactor.process_once(0.05)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err
    assert PASSWORD not in err, "no password in the log"


def test_a_library_client_logs_in_with_sasl_and_gets_its_registered_name(srv):
    register(srv.port, "bob")
    guest = RawIrc(srv.irc_port)
    guest.line("NICK bob")
    guest.line("USER u 0 * :a guest")
    refused = guest.numeric("433")
    assert refused[3] == "bob", "without logging in, a registered name is refused"
    guest.close()

    client = SaslClient(srv.irc_port, "bob", "bob", PASSWORD)
    assert client.wait("saslsuccess", "saslfail", "login_failed").type == "saslsuccess"
    welcome = client.wait("welcome", "nicknameinuse")
    assert welcome.type == "welcome" and welcome.target == "bob", "the registered name is its owner's"
    client.wait("endofnames")

    alice = NativeClient(srv.port, "alice")
    client.conn.privmsg("#lobby", "logged in from irc")
    said = alice.expect(lambda f: f["type"] == "message" and f.get("nick") == "bob")
    assert said["text"] == "logged in from irc"
    client.close()
    alice.close()


def test_weechat_logs_in_with_sasl_and_joins_under_its_registered_name(srv, tmp_path):
    weechat = require("weechat-headless", "weechat-headless")
    register(srv.port, "weeuser")
    native = NativeClient(srv.port, "termy")
    native.send_json({"type": "join", "room": "#wee"})
    native.expect(lambda f: f["type"] == "joined")
    home = tmp_path / "weechat"
    server = f"127.0.0.1/{srv.irc_port} -notls -nicks=weeuser"
    sasl = "-sasl_mechanism=plain -sasl_username=weeuser"
    commands = ";".join(
        [
            "/set logger.file.auto_log on",
            "/set logger.file.flush_delay 0",
            f"/server add lan {server} {sasl}",
            f'/set irc.server.lan.sasl_password "{PASSWORD}"',  # (quoted: it has spaces)
            "/set irc.server.lan.autojoin #wee",
            "/connect lan",
        ]
    )
    proc = subprocess.Popen(
        [weechat, "--dir", str(home), "-r", commands],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        joined = native.expect(lambda f: f.get("event") == "join" and f.get("room") == "#wee")
        assert joined["nick"] == "weeuser", "logged in: the registered name is its owner's (a guest gets 433)"
        log = home / "logs" / "irc.server.lan.weechatlog"
        assert wait_for(lambda: "SASL authentication successful" in _read(log)), _read(log)
    finally:
        proc.terminate()
        proc.wait(10)
        native.close()


def test_irssi_logs_in_with_sasl_and_arrives_under_its_registered_name(srv, tmp_path):
    irssi = require("irssi", "irssi")
    register(srv.port, "irsuser")
    native = NativeClient(srv.port, "termi")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text(
        f'servers = ( {{ address = "127.0.0.1"; chatnet = "lan"; port = "{srv.irc_port}"; use_tls = "no"; '
        'autoconnect = "yes"; } );\n'
        'chatnets = { lan = { type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "irsuser"; '
        f'sasl_password = "{PASSWORD}"; }}; }};\n'
        'settings = { core = { real_name = "tester"; user_name = "tester"; nick = "irsuser"; }; };\n'
    )
    child = pexpect.spawn(
        irssi,
        ["--home", str(home)],
        env={**os.environ, "HOME": str(tmp_path), "TERM": "xterm"},
        dimensions=(40, 120),
        encoding="utf-8",
    )
    try:
        joined = native.expect(lambda f: f.get("event") == "join" and f.get("room") == "#lobby")
        assert joined["nick"] == "irsuser", "logged in with SASL: the registered name (a guest gets 433, then irsuser_)"
    finally:
        child.sendline("/quit")
        child.close(force=True)
        native.close()


def test_sasl_with_another_nick_takes_the_accounts_name_and_a_second_device_shares_it(srv):
    register(srv.port, "carol")
    client = sasl_start(srv.irc_port)
    client.line("AUTHENTICATE " + plain("carol", PASSWORD, authzid="carol"))
    logged = client.numeric("900")
    assert logged[3].startswith("carol!") and logged[4] == "carol"
    assert client.numeric("903")
    client.line("AUTHENTICATE PLAIN")
    assert client.numeric("907")[1] == "907", "logged in once"
    client.line("NICK someone")
    client.line("USER u 0 * :a tester")
    client.line("CAP END")
    assert client.numeric("001")[2] == "carol", "the session takes the account's name, as a native login does"

    second = sasl_start(srv.irc_port)  # (a second device of the account: the same person, issue 23)
    second.line("AUTHENTICATE " + plain("carol", PASSWORD))
    second.numeric("903")
    second.line("NICK carol")
    second.line("USER u 0 * :a tester")
    second.line("CAP END")
    assert second.numeric("001")[2] == "carol", "a second device shares the account's name"
    client.close()
    second.close()


def test_authenticate_chunks_aborts_and_refusals(srv):
    accented = "é" * 145  # ("dave\0dave\0" and 290 bytes: 300, exactly 400 base64 characters)
    register(srv.port, "dave", accented)
    client = sasl_start(srv.irc_port)
    whole = plain("dave", accented, authzid="dave")
    assert len(whole) == 400
    client.line("AUTHENTICATE " + whole)
    client.line("AUTHENTICATE +")  # (a last chunk of exactly 400: "+" ends it)
    assert client.numeric("900")[4] == "dave"
    client.close()

    long = "ü" * 200  # (408 bytes: 544 characters, in two chunks)
    register(srv.port, "erin", long)
    client = sasl_start(srv.irc_port)
    whole = plain("erin", long)
    client.line("AUTHENTICATE " + whole[:400])
    client.line("AUTHENTICATE " + whole[400:])
    assert client.numeric("900")[4] == "erin"
    client.close()

    client = sasl_start(srv.irc_port)
    client.line("AUTHENTICATE *")
    assert client.numeric("906")[1] == "906"
    client.line("AUTHENTICATE SCRAM-SHA-1")
    assert client.numeric("908")[3] == "PLAIN,SCRAM-SHA-256"
    assert client.numeric("904")[1] == "904"
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    client.line("AUTHENTICATE " + "A" * 450)
    assert client.numeric("905")[1] == "905"
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    client.line("AUTHENTICATE not*base64")
    assert "not a PLAIN response" in client.numeric("904")[-1]
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    respond(client, plain("dave", accented, authzid="erin"))
    assert client.numeric("904")[1] == "904", "nobody acts as another account"
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    for _ in range(10):  # (chunks without end: refused, not kept growing)
        client.line("AUTHENTICATE " + "QUFB" * 100)
    assert "too long" in client.numeric("904")[-1]
    client.line("NICK frank")
    client.line("USER u 0 * :a tester")
    client.line("CAP END")
    assert client.numeric("001")[2] == "frank", "after failures, registration as a guest goes on"
    client.close()


def test_sasl_after_registration_logs_a_guest_in_and_a_second_login_is_907(srv):
    register(srv.port, "gail")
    watcher = RawIrc(srv.irc_port, "watcher")
    client = RawIrc(srv.irc_port, "guesty", caps="sasl")
    client.line("AUTHENTICATE PLAIN")  # (SASL 3.2: at any time, here as a guest)
    assert client.numeric("AUTHENTICATE")[1:] == ["AUTHENTICATE", "+"]
    client.line("AUTHENTICATE " + plain("gail", PASSWORD))
    lines = [words_of(line) for line in client.until(lambda w: w[1:2] == ["NICK"], timeout=10)]
    numerics = [w[1] for w in lines if w[1].isdigit()]
    assert numerics[:2] == ["900", "903"], "logged in (then what the login does)"
    assert lines[-1][0].startswith(":guesty!") and lines[-1][2] == "gail", "the session takes the account's name"
    assert words_of(watcher.until(lambda w: w[1:2] == ["NICK"])[-1])[2] == "gail", "others see the rename"
    client.line("WHOIS gail")
    assert client.numeric("330")[4] == "gail", "logged in to it"
    client.line("AUTHENTICATE PLAIN")
    assert client.numeric("907")[1] == "907", "logged in already: no switch on the same connection"
    client.close()
    watcher.close()


@pytest.fixture
def clocked():
    clock = ManualClock()
    accounts = Accounts(MemoryAccounts(), params=hashing.CHEAP, clock=clock)
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, rate_limit=0, no_web=True), accounts=accounts)
    server.start()
    irc_port = IrcPort(server, "127.0.0.1", 0)
    irc_port.start()
    yield server, irc_port.address[1], clock
    server.shutdown(timeout=0.5)


def test_wrong_passwords_get_904_and_are_throttled_as_native_logins(clocked, caplog):
    server, port, clock = clocked
    register(server.address[1], "bob")
    client = sasl_start(port)
    client.line("AUTHENTICATE " + plain("bob", "guess 1234"))
    assert "wrong account name or password" in client.numeric("904")[-1]
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    client.line("AUTHENTICATE " + plain("bob", PASSWORD))
    held = client.numeric("904")[-1]
    assert "try again in 1 s" in held, "held, even with the right password"
    native = NativeClient(server.address[1])
    native.send_json({"type": "hello", "version": 1, "nick": "bob", "account_password": PASSWORD})
    assert native.expect(lambda f: f["type"] in ("welcome", "error"))["code"] == "throttled", "the same throttle"
    native.close()
    clock.now += 2
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    client.line("AUTHENTICATE " + plain("bob", PASSWORD))
    assert client.numeric("900")[4] == "bob"
    client.line("NICK bob")
    client.line("USER u 0 * :a tester")
    client.line("CAP END")
    assert client.numeric("001")[2] == "bob"
    store = server.accounts.store
    assert len(store._tokens) == 2, "the native client's login and this session's"
    client.close()
    assert wait_for(lambda: len(store._tokens) == 1), "the token made for the IRC session is revoked at its end"
    assert store.drop_tokens("bob") == 1
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "guess 1234" not in logged and PASSWORD not in logged


def test_sasl_is_listed_with_its_mechanisms_only_where_there_are_accounts(clocked):
    _, port, _ = clocked
    client = RawIrc(port)
    client.line("CAP LS 302")
    assert "sasl=PLAIN,SCRAM-SHA-256" in client.numeric("CAP")[-1].split()
    client.line("CAP LS")
    assert "sasl" in client.numeric("CAP")[-1].split()
    client.close()

    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, rate_limit=0, no_web=True, accounts="off"))
    server.start()
    try:
        irc_port = IrcPort(server, "127.0.0.1", 0)
        irc_port.start()
        client = RawIrc(irc_port.address[1])
        client.line("CAP LS 302")
        assert not any(c.startswith("sasl") for c in client.numeric("CAP")[-1].split())
        client.line("AUTHENTICATE PLAIN")
        assert "no accounts" in client.numeric("904")[-1]
        client.close()
    finally:
        server.shutdown(timeout=0.5)


def test_register_makes_an_account_before_and_after_connecting(srv):
    newbie = RawIrc(srv.irc_port)
    newbie.line("CAP LS 302")
    assert "draft/account-registration=before-connect" in newbie.numeric("CAP")[-1].split()
    newbie.line("CAP REQ :draft/account-registration")
    newbie.numeric("CAP")
    newbie.line("NICK newbie")
    newbie.line("REGISTER * * " + "abc")
    assert newbie.numeric("FAIL")[1:5] == ["FAIL", "REGISTER", "WEAK_PASSWORD", "*"]
    newbie.line(f"REGISTER * * :{PASSWORD}")
    assert newbie.numeric("REGISTER")[1:4] == ["REGISTER", "SUCCESS", "newbie"]
    newbie.line("USER u 0 * :a tester")
    newbie.line("CAP END")
    assert newbie.numeric("001")[2] == "newbie", "arrived logged in to the account made"
    guest = RawIrc(srv.irc_port)
    guest.line("NICK newbie2")
    guest.line("USER u 0 * :a guest")
    guest.numeric("001")
    guest.line(f"REGISTER newbie * :{PASSWORD}")
    assert guest.numeric("FAIL")[3] == "ACCOUNT_NAME_MUST_BE_NICK"
    guest.line("REGISTER * * :" + PASSWORD)
    assert guest.numeric("REGISTER")[1:4] == ["REGISTER", "SUCCESS", "newbie2"], "after connecting, as /register"
    guest.line("REGISTER * * :" + PASSWORD)
    assert guest.numeric("FAIL")[3] == "ALREADY_AUTHENTICATED", "the rules logged it in"
    holder = RawIrc(srv.irc_port, "holder")  # (a guest, connected)
    landgrab = RawIrc(srv.irc_port)
    landgrab.line("NICK holder")
    landgrab.line("REGISTER * * :" + PASSWORD)
    assert landgrab.numeric("FAIL")[3] == "ACCOUNT_EXISTS", "not a name someone connected holds"
    holder.line("REGISTER * * :" + PASSWORD)
    assert holder.numeric("REGISTER")[2] == "SUCCESS", "the third from this address: the next waits"
    fourth = RawIrc(srv.irc_port, "fourth")
    fourth.line("REGISTER * * :" + PASSWORD)
    assert fourth.numeric("FAIL")[3] == "TEMPORARILY_UNAVAILABLE", "a few accounts an hour per address"
    for client in (newbie, guest, holder, landgrab, fourth):
        client.close()
    native = NativeClient(srv.port)
    native.send_json({"type": "hello", "version": 1, "nick": "newbie2", "account_password": PASSWORD})
    welcome = native.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome", "the account made over IRC: a native login with its password"
    assert native.expect(lambda f: f["type"] in ("loggedin", "error"))["account"] == "newbie2"
    native.close()


def test_register_before_connecting_needs_the_servers_password_first(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("server secret\n")
    server = ServerProcess("--rate-limit", "0", "--password-file", str(secret))
    try:
        early = RawIrc(server.irc_port)
        early.line("CAP LS 302")
        listed = early.numeric("CAP")[-1].split()
        assert "draft/account-registration" in listed, "offered, but not before connecting"
        early.line("NICK early")
        early.line(f"REGISTER * * :{PASSWORD}")
        assert early.numeric("FAIL")[1:4] == ["FAIL", "REGISTER", "COMPLETE_CONNECTION_REQUIRED"]
        early.line("PASS :server secret")
        early.line("USER u 0 * :a tester")
        early.line("CAP END")
        assert early.numeric("001")[2] == "early", "the server's password checked as it registers"
        early.line(f"REGISTER * * :{PASSWORD}")
        assert early.numeric("REGISTER")[1:4] == ["REGISTER", "SUCCESS", "early"], "once connected: made"
        early.close()
    finally:
        code, err = server.stop()
    assert code == 0, err
