"""Read markers in the terminal client (a real pseudo-terminal): a room another device of the account
read stops counting in the hotlist, and a message the terminal shows is marked read for the others."""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess, client_env, program
from terminal import Terminal
from test_accounts_devices import marker, token_of
from test_irc_accounts import PASSWORD


def toolbar(term: Terminal) -> str:
    return term.lines[-1]


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def test_the_terminal_marks_what_it_shows_and_takes_the_other_devices_markers(srv, tmp_path):
    phone, _ = token_of(srv.port, "kim")
    bob = NativeClient(srv.port, "bob")
    term = Terminal([*program("chatclient"), srv.address, "--name", "kimterm"], env=client_env(tmp_path), rows=40)
    try:
        term.wait_text("kimterm>")
        term.send("/login kim\r")
        term.wait_text("Password for kim")
        term.send(PASSWORD + "\r")
        term.wait_text("kim>")  # (the account's name: the phone's, shared)
        term.send("/join #dev\r")
        term.wait_for(lambda t: "#dev" in toolbar(t) and "#lobby" not in toolbar(t), what="focused on #dev")
        bob.say("one for the lobby")
        bob.say("two for the lobby")
        term.wait_for(lambda t: "#lobby(2)" in toolbar(t), what="two unseen in the lobby")
        read = phone.messages(2)[-1]
        phone.send_json({"type": "markread", "target": "#lobby", "ts": read["ts"]})
        term.wait_for(lambda t: "#lobby(" not in toolbar(t), what="the phone read them: none new here")

        bob.send_json({"type": "join", "room": "#dev"})
        bob.expect(lambda f: f["type"] == "joined")
        bob.send_json({"type": "say", "room": "#dev", "text": "seen on the terminal"})
        term.wait_text("bob: seen on the terminal")
        told = marker(phone)
        assert told["type"] == "markread" and told["target"] == "#dev", told
        said = bob.expect(lambda f: f["type"] == "accepted")
        assert told["ts"] == said["ts"], "the terminal read it up to the message it showed"
        term.send("/quit\r")
        assert term.wait_exit() == 0
    finally:
        term.child.terminate(force=True)
        phone.close()
        bob.close()
