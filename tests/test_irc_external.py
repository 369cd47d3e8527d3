"""``-n``: a room's operators let people not in it speak to it (IRC's external messages), against a real server.

Every room is made ``+n`` (only its members speak); ``MODE #room -n`` opens it
to outsiders, held to the room's other modes and bans; native members hear
such messages as any other, and ``+n`` closes it again.
"""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess
from irc_helpers import RawIrc, words_of


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0", "--room-operators", "--quiet-lobby")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def test_minus_n_lets_outsiders_speak_to_the_room_and_plus_n_stops_them(srv):
    chanop = RawIrc(srv.irc_port, "chanop")
    chanop.line("JOIN #chan")
    chanop.numeric("366")
    native = NativeClient(srv.port, "member")
    native.send_json({"type": "join", "room": "#chan"})
    native.expect(lambda f: f["type"] == "joined")
    outsider = RawIrc(srv.irc_port, "outsider")

    outsider.line("PRIVMSG #chan :refused")
    assert outsider.numeric("404")[3] == "#chan", "+n (as made): members only"
    chanop.line("MODE #chan")
    assert "n" in chanop.numeric("324")[4]

    chanop.line("MODE #chan -n")
    assert words_of(chanop.until(lambda w: w[1:2] == ["MODE"])[-1])[2:] == ["#chan", "-n"]
    outsider.line("PRIVMSG #chan :hi from outside")
    heard = chanop.until(lambda w: w[1:2] == ["PRIVMSG"])[-1]
    assert words_of(heard)[0].startswith(":outsider!") and words_of(heard)[2:] == ["#chan", "hi from outside"]
    said = native.expect(lambda f: f["type"] == "message")
    assert (said["nick"], said["room"], said["text"]) == ("outsider", "#chan", "hi from outside")
    chanop.line("MODE #chan")
    assert "n" not in chanop.numeric("324")[4]

    chanop.line("MODE #chan +m")
    chanop.until(lambda w: w[1:2] == ["MODE"])
    outsider.line("PRIVMSG #chan :moderated")
    assert outsider.numeric("404")[3] == "#chan", "the room's other modes hold for outsiders"
    chanop.line("MODE #chan -m+n")
    chanop.until(lambda w: w[1:2] == ["MODE"])
    outsider.line("PRIVMSG #nobody :no room")
    assert outsider.numeric("404")[1] == "404"
    outsider.line("PRIVMSG #chan :refused again")
    assert outsider.numeric("404")[3] == "#chan", "+n again: members only"
    chanop.line("PRIVMSG #chan :marker")
    said = native.expect(lambda f: f["type"] == "message")
    assert said["text"] == "marker", "nothing from outside reached the room meanwhile"
    for client in (chanop, native, outsider):
        client.close()
