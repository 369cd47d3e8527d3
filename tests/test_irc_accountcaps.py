"""IRC accounts as others see them: ``account-tag``, ``extended-join``, ``account-notify`` and ``WHOIS`` 330,
against a real server process (raw lines and the ``irc`` library).

Each person is logged in as the rules know it (``Participant.account``): by SASL before
registration, by ``REGISTER`` after it, or by a native client's login; an IRC client that asked for the capabilities
sees it on the lines of what that person says and does, one that did not sees none of it.
"""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import LibClient, RawIrc, words_of
from test_irc_accounts import PASSWORD, plain, register, respond

CAPS = "account-tag extended-join account-notify"


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0", "--quiet-lobby")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err
    assert PASSWORD not in err, "no password in the log"


def sasl_client(port: int, nick: str, account: str, realname: str) -> RawIrc:
    """A raw client logged in to ``account`` with SASL PLAIN before registering as ``nick``."""
    client = RawIrc(port)
    client.line("CAP LS 302")
    client.line("CAP REQ :sasl")
    client.numeric("CAP")
    client.numeric("CAP")
    client.line(f"NICK {nick}")
    client.line(f"USER u 0 * :{realname}")
    client.line("AUTHENTICATE PLAIN")
    client.numeric("AUTHENTICATE")
    respond(client, plain(account, PASSWORD))
    assert client.numeric("903")[1] == "903"
    client.line("CAP END")
    client.until(lambda w: w[1:2] == ["366"])
    return client


def joined(client: RawIrc, room: str) -> None:
    client.line(f"JOIN {room}")
    client.until(lambda w: w[1:3] == ["366", client.nick or w[2]] or w[1] == "366")


def line_of(client: RawIrc, command: str, nick: str) -> str:
    """The next line with ``command`` whose source is ``nick`` (its tags kept)."""
    return client.until(lambda w: w[1:2] == [command] and w[0].startswith(f":{nick}!"))[-1]


def tags(line: str) -> dict[str, str]:
    if not line.startswith("@"):
        return {}
    return dict(item.partition("=")[::2] for item in line[1:].split(" ", 1)[0].split(";"))


def test_account_tag_extended_join_and_whois_330(srv):
    register(srv.port, "jilles")
    watcher = RawIrc(srv.irc_port, "watcher", caps=CAPS)
    bare = RawIrc(srv.irc_port, "bare")
    native = NativeClient(srv.port, "nat")
    native.send_json({"type": "join", "room": "#chan"})
    native.expect(lambda f: f["type"] == "joined")
    for client in (watcher, bare):
        joined(client, "#chan")

    jilles = sasl_client(srv.irc_port, "whatever", "jilles", "Jill Es")
    jilles.nick = "jilles"
    joined(jilles, "#chan")
    assert words_of(line_of(watcher, "JOIN", "jilles"))[1:] == ["JOIN", "#chan", "jilles", "Jill Es"]
    assert words_of(line_of(bare, "JOIN", "jilles"))[1:] == ["JOIN", "#chan"], "no extended-join: as before"
    join = native.expect(lambda f: f["type"] == "notice" and f.get("event") == "join" and f.get("nick") == "jilles")
    assert join["account"] == "jilles" and join["realname"] == "Jill Es", "a native client is told too"

    guest = RawIrc(srv.irc_port, "guest")
    joined(guest, "#chan")
    assert words_of(line_of(watcher, "JOIN", "guest"))[1:] == ["JOIN", "#chan", "*", "a tester"], "a guest: *"

    jilles.line("PRIVMSG #chan :hello all")
    said = line_of(watcher, "PRIVMSG", "jilles")
    assert tags(said) == {"account": "jilles"} and said.endswith(":hello all")
    assert not line_of(bare, "PRIVMSG", "jilles").startswith("@"), "no account-tag: no tags"
    assert native.expect(lambda f: f["type"] == "message" and f["nick"] == "jilles")["account"] == "jilles"
    guest.line("PRIVMSG #chan :a guest speaks")
    assert not line_of(watcher, "PRIVMSG", "guest").startswith("@"), "a guest's message has no account"
    jilles.line("PRIVMSG watcher :just you")
    assert tags(line_of(watcher, "PRIVMSG", "jilles")) == {"account": "jilles"}, "private messages too"

    bare.line("WHOIS jilles")
    whois = bare.until(lambda w: w[1:2] == ["318"])
    assert [words_of(x)[1:] for x in whois if words_of(x)[1] == "330"] == [
        ["330", "bare", "jilles", "jilles", "is logged in as"]
    ]
    bare.line("WHOIS guest")
    assert not [x for x in bare.until(lambda w: w[1:2] == ["318"]) if words_of(x)[1] == "330"], "a guest: no 330"
    for client in (watcher, bare, jilles, guest, native):
        client.close()


def test_account_notify_tells_logins_and_logouts_after_registration(srv):
    register(srv.port, "kim")
    watcher = RawIrc(srv.irc_port, "watcher", caps=CAPS)
    bare = RawIrc(srv.irc_port, "bare")
    for client in (watcher, bare):
        joined(client, "#chan")

    native = NativeClient(srv.port, "k2")
    native.send_json({"type": "join", "room": "#chan"})
    native.expect(lambda f: f["type"] == "joined")
    line_of(watcher, "JOIN", "k2")
    native.send_json({"type": "login", "name": "kim", "password": PASSWORD})
    native.expect(lambda f: f["type"] == "loggedin")
    assert words_of(line_of(watcher, "NICK", "k2"))[1:] == ["NICK", "kim"], "the login took the account's name"
    assert words_of(line_of(watcher, "ACCOUNT", "kim"))[1:] == ["ACCOUNT", "kim"]
    native.send_json({"type": "logout"})
    native.expect(lambda f: f["type"] == "loggedout")
    assert words_of(line_of(watcher, "ACCOUNT", "kim"))[1:] == ["ACCOUNT", "*"], "logged out: ACCOUNT *"

    # REGISTER after connecting (draft/account-registration): a guest makes an account and is logged in to it.
    late = RawIrc(srv.irc_port, "late", caps="draft/account-registration")
    joined(late, "#chan")
    late.line(f"REGISTER * * :{PASSWORD}")
    assert late.numeric("REGISTER")[1:4] == ["REGISTER", "SUCCESS", "late"]
    assert words_of(line_of(watcher, "ACCOUNT", "late"))[1:] == ["ACCOUNT", "late"]
    late.line("PRIVMSG #chan :now logged in")
    assert tags(line_of(watcher, "PRIVMSG", "late")) == {"account": "late"}

    bare.line("PRIVMSG #chan :marker")  # (the bare client heard no ACCOUNT line before its own marker)
    seen = bare.until(lambda w: w[1:2] == ["PRIVMSG"] and w[-1] == "now logged in")
    assert not [x for x in seen if words_of(x)[1] == "ACCOUNT"], "no account-notify: no ACCOUNT lines"
    for client in (watcher, bare, late, native):
        client.close()


def test_a_library_client_sees_the_caps_listed_and_the_account_in_whois(srv):
    register(srv.port, "jilles")
    probe = RawIrc(srv.irc_port)
    probe.line("CAP LS 302")
    listed = probe.numeric("CAP")[-1].split()
    assert {"account-tag", "extended-join", "account-notify"} <= set(listed)
    probe.close()
    jilles = sasl_client(srv.irc_port, "jilles", "jilles", "Jill Es")
    lib = LibClient(srv.irc_port, "libby")
    lib.conn.whois("jilles")
    event = lib.wait(lambda e: e.type in ("330", "whoisaccount"))
    assert event.arguments[:2] == ["jilles", "jilles"]
    lib.conn.close()
    jilles.close()
