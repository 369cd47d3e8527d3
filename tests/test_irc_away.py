"""away-notify with the quiet lobby, against a real server: a person's away changes reach an IRC client once, not
once from the lobby everyone shares and once from the room they share (as renames: ``crowd.py``'s verdict)."""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import RawIrc, words_of


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0", "--quiet-lobby")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def test_an_away_change_reaches_a_client_in_two_shared_rooms_once(srv):
    foo = RawIrc(srv.irc_port, "foo", caps="away-notify")
    bar = RawIrc(srv.irc_port, "bar")
    for client in (foo, bar):
        client.line("JOIN #chan")
        client.numeric("366")
    native = NativeClient(srv.port, "nat")
    native.send_json({"type": "join", "room": "#chan"})
    native.expect(lambda f: f["type"] == "joined")
    for reason in ("i'm going away", ""):
        bar.line(f"AWAY :{reason}" if reason else "AWAY")
        bar.numeric("306" if reason else "305")
        bar.line("PRIVMSG #chan :marker")
        seen = foo.until(lambda w: w[1:2] == ["PRIVMSG"] and w[-1] == "marker")
        aways = [words_of(line)[1:] for line in seen if words_of(line)[1] == "AWAY"]
        assert aways == ([["AWAY", reason]] if reason else [["AWAY"]]), "once, though both are in #lobby and #chan"
        told = native.expect(lambda f: f["type"] == "notice" and f.get("event") == "away")
        assert told["room"] == "#chan", "the room they share hears of it; the quiet lobby does not"
    for client in (foo, bar, native):
        client.close()


def test_someone_away_who_joins_is_said_to_be_away(srv):
    foo = RawIrc(srv.irc_port, "foo2", caps="away-notify")
    plain = RawIrc(srv.irc_port, "plain2")
    for client in (foo, plain):
        client.line("JOIN #later")
        client.numeric("366")
    bar = RawIrc(srv.irc_port, "bar2", caps="away-notify")
    bar.line("AWAY :already away")
    bar.numeric("306")
    bar.line("JOIN #later")
    own = bar.until(lambda w: w[1:2] == ["366"])
    assert not [x for x in own if words_of(x)[1] == "AWAY"], "not its own away status"
    before = foo.until(lambda w: w[1:2] == ["JOIN"] and w[0].startswith(":bar2!"))
    assert not [x for x in before if words_of(x)[1] == "AWAY"], "going away in the quiet lobby: not told then"
    assert words_of(foo.text())[1:] == ["AWAY", "already away"], "told with the join"
    bar.line("PRIVMSG #later :marker")
    assert not [x for x in plain.until(lambda w: w[-1] == "marker") if words_of(x)[1] == "AWAY"], "no away-notify"
    for client in (foo, plain, bar):
        client.close()
