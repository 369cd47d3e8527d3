"""SASL SCRAM-SHA-256 on the IRC port: a real exchange (``scramp``'s client side) against a real server process.

An account keeps a SCRAM credential beside its scrypt hash, made at ``/register``,
``/passwd`` and the next password login; the server checks the client's proof
against it without ever seeing the password, and proves itself in turn.
"""

from __future__ import annotations

import base64

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import RawIrc
from scramp import ScramClient
from test_irc_accounts import PASSWORD, register


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0", "--quiet-lobby")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err
    assert PASSWORD not in err, "no password in the log"


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def scram_start(port: int) -> RawIrc:
    client = RawIrc(port)
    client.line("CAP LS 302")
    listed = client.numeric("CAP")[-1].split()
    assert "sasl=PLAIN,SCRAM-SHA-256" in listed
    client.line("CAP REQ :sasl")
    client.numeric("CAP")
    client.line("AUTHENTICATE SCRAM-SHA-256")
    assert client.numeric("AUTHENTICATE")[1:] == ["AUTHENTICATE", "+"]
    return client


def exchange(client: RawIrc, account: str, password: str) -> tuple[ScramClient, list[str]]:
    """The client's two messages; the words of the server's answer to the second."""
    scram = ScramClient(["SCRAM-SHA-256"], account, password)
    client.line("AUTHENTICATE " + b64(scram.get_client_first()))
    challenge = client.numeric("AUTHENTICATE")[-1]
    scram.set_server_first(base64.b64decode(challenge).decode())
    client.line("AUTHENTICATE " + b64(scram.get_client_final()))
    return scram, client.until(lambda w: w[1] in ("AUTHENTICATE", "904"))[-1].split()


def test_scram_sha_256_logs_in_and_the_server_proves_itself(srv):
    register(srv.port, "bob")
    client = scram_start(srv.irc_port)
    scram, answer = exchange(client, "bob", PASSWORD)
    assert answer[1] == "AUTHENTICATE"
    scram.set_server_final(base64.b64decode(answer[2]).decode())  # (raises if the server's signature is wrong)
    client.line("AUTHENTICATE +")
    assert client.numeric("900")[4] == "bob"
    assert client.numeric("903")[1] == "903"
    client.line("NICK whoever")
    client.line("USER u 0 * :scram user")
    client.line("CAP END")
    assert client.numeric("001")[2] == "bob", "logged in: the account's name"
    client.close()

    wrong = scram_start(srv.irc_port)
    _, answer = exchange(wrong, "bob", "not the password")
    assert answer[1] == "904", "a wrong password's proof fails"
    wrong.line("AUTHENTICATE SCRAM-SHA-256")
    wrong.numeric("AUTHENTICATE")
    wrong.line("AUTHENTICATE " + b64(ScramClient(["SCRAM-SHA-256"], "bob", PASSWORD).get_client_first()))
    assert "try again" in wrong.numeric("904")[-1], "throttled as a wrong PLAIN password is"
    wrong.close()


def test_a_new_password_makes_a_new_scram_credential(srv):
    register(srv.port, "carol")
    native = NativeClient(srv.port)
    native.send_json({"type": "hello", "version": 1, "nick": "carol", "account_password": PASSWORD})
    native.expect(lambda f: f["type"] == "loggedin")
    native.send_json({"type": "passwd", "password": PASSWORD, "new_password": "a new password 2"})
    native.expect(lambda f: f["type"] == "notice" and "is changed" in f["text"])
    native.close()
    client = scram_start(srv.irc_port)
    scram, answer = exchange(client, "carol", "a new password 2")
    scram.set_server_final(base64.b64decode(answer[2]).decode())
    client.line("AUTHENTICATE +")
    assert client.numeric("900")[4] == "carol", "the new password proves it"
    client.close()
    client = scram_start(srv.irc_port)
    _, answer = exchange(client, "carol", PASSWORD)
    assert answer[1] == "904", "the old one no longer does"
    client.close()


def test_a_name_without_an_account_fails_at_the_proof_as_a_wrong_password(srv):
    client = scram_start(srv.irc_port)
    client.line("AUTHENTICATE " + b64("not a client-first message"))
    assert "not a SCRAM-SHA-256 first message" in client.numeric("904")[-1]
    client.line("AUTHENTICATE SCRAM-SHA-256")
    client.numeric("AUTHENTICATE")
    _, answer = exchange(client, "nobody", PASSWORD)  # (answered with a challenge, as for an account)
    assert answer[1] == "904" and "wrong account name or password" in " ".join(answer)
    client.close()


def test_an_account_made_before_gets_its_scram_credential_at_its_next_password_login():
    from scramp import ScramClient as Client
    from scramp import ScramMechanism

    from chatserver.accounts import hashing
    from chatserver.accounts.service import Accounts
    from chatserver.backends.accounts import MemoryAccounts, StoredAccount

    store = MemoryAccounts()
    store.create(StoredAccount("old", hashing.hash_password(PASSWORD, hashing.CHEAP), 1.0))  # (no SCRAM then)
    accounts = Accounts(store, params=hashing.CHEAP)
    assert accounts.scram_credential("old", "10.0.0.1") == ""
    accounts.login_password("old", PASSWORD, "10.0.0.1")
    parts = hashing.scram_parts(accounts.scram_credential("old", "10.0.0.1"))
    assert parts is not None and parts[3] == hashing.SCRAM_ITERATIONS
    server = ScramMechanism("SCRAM-SHA-256").make_server(lambda name: parts)
    client = Client(["SCRAM-SHA-256"], "old", PASSWORD)
    server.set_client_first(client.get_client_first())
    client.set_server_first(server.get_server_first())
    server.set_client_final(client.get_client_final())  # (raises if the proof does not match the credential)
    client.set_server_final(server.get_server_final())


def test_a_scram_login_reads_the_account_once():
    from chatserver.accounts import hashing
    from chatserver.accounts.service import Accounts
    from chatserver.backends.accounts import MemoryAccounts
    from chatserver.config import ServerConfig
    from chatserver.net.irc.port import IrcPort
    from chatserver.net.server import ChatServer

    class Counted(MemoryAccounts):
        """The memory store, counting the reads of an account by its name."""

        reads = 0

        def account(self, key: str):  # noqa: ANN201
            Counted.reads += 1
            return super().account(key)

    accounts = Accounts(Counted(), params=hashing.CHEAP)
    accounts.register("rae", PASSWORD, "10.0.0.9")
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, rate_limit=0, no_web=True), accounts=accounts)
    server.start()
    port = IrcPort(server, "127.0.0.1", 0)
    port.start()
    try:
        client = scram_start(port.address[1])
        before = Counted.reads
        scram, answer = exchange(client, "rae", PASSWORD)
        scram.set_server_final(base64.b64decode(answer[2]).decode())
        client.line("AUTHENTICATE +")
        assert client.numeric("903")[1] == "903"
        assert Counted.reads - before == 1, "the credential, the proof's count and the login from one read"
        client.close()
    finally:
        server.shutdown(timeout=0.5)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sasl_connection(accounts, clock):
    """One connection's SASL driven line by line (``sasl.authenticate``), its replies recorded."""
    from types import SimpleNamespace

    from chatserver.net.irc import sasl

    sent: list[list[str]] = []
    participant = SimpleNamespace(
        server=SimpleNamespace(accounts=accounts),
        address="10.0.0.7",
        account=None,
        registered=False,
        nick="*",
        in_clear=lambda: False,
    )
    d = SimpleNamespace(
        client=SimpleNamespace(nick="*"), sasl=sasl.Sasl(clock=clock), send=lambda s, lines: sent.extend(lines)
    )
    session = SimpleNamespace(participant=participant)
    return (lambda arg: sasl.authenticate(d, session, [arg])), sent, d


@pytest.mark.parametrize("late_at", ["proof", "plus"])
def test_a_scram_exchange_left_waiting_past_its_deadline_logs_nobody_in(late_at):
    """SASL is taken after registration, where no timeout bounds an exchange: one holding the old
    password could start SCRAM, wait for the owner's /passwd or /logout all, and finish with the
    account read at the start. Past the deadline, the exchange is refused."""
    from chatserver.accounts import hashing
    from chatserver.accounts.service import Accounts
    from chatserver.backends.accounts import MemoryAccounts
    from chatserver.net.irc import scram as server_scram

    accounts = Accounts(MemoryAccounts(), params=hashing.CHEAP)
    accounts.register("ivy", PASSWORD, "10.0.0.9")
    clock = _Clock()
    say, sent, d = _sasl_connection(accounts, clock)
    client = ScramClient(["SCRAM-SHA-256"], "ivy", PASSWORD)
    say("SCRAM-SHA-256")
    say(b64(client.get_client_first()))
    client.set_server_first(base64.b64decode(sent[-1][1]).decode())
    if late_at == "proof":
        clock.now += server_scram.DEADLINE + 1
    say(b64(client.get_client_final()))
    if late_at == "plus":
        assert sent[-1][0] == "AUTHENTICATE", "in time: the server's final message"
        clock.now += server_scram.DEADLINE + 1
        say("+")
    assert sent[-1][0] == "904" and "too slow" in sent[-1][-1], sent[-1]
    assert not any(line[0] in ("900", "903") for line in sent), "nobody logged in"
    assert d.sasl.account is None and d.sasl.token is None


def test_a_scram_exchange_in_time_still_logs_in():
    from chatserver.accounts import hashing
    from chatserver.accounts.service import Accounts
    from chatserver.backends.accounts import MemoryAccounts
    from chatserver.net.irc import scram as server_scram

    accounts = Accounts(MemoryAccounts(), params=hashing.CHEAP)
    accounts.register("ivy", PASSWORD, "10.0.0.9")
    clock = _Clock()
    say, sent, d = _sasl_connection(accounts, clock)
    client = ScramClient(["SCRAM-SHA-256"], "ivy", PASSWORD)
    say("SCRAM-SHA-256")
    say(b64(client.get_client_first()))
    client.set_server_first(base64.b64decode(sent[-1][1]).decode())
    clock.now += server_scram.DEADLINE - 1
    say(b64(client.get_client_final()))
    client.set_server_final(base64.b64decode(sent[-1][1]).decode())
    say("+")
    assert [line[0] for line in sent[-2:]] == ["900", "903"]
    assert d.sasl.account == "ivy"
