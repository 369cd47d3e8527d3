"""The ``line`` frame: a line as typed, parsed by the server as an nc user's is.

Against a real server, on the native port and over the chat page's WebSocket
(the page sends every typed line this way): the same help, the same errors, the
same messages as a plain (nc) user gets for the same line, and hostile lines
refused without harm.
"""

from __future__ import annotations

import pytest
from helpers import NativeClient, PlainClient, ServerProcess
from test_web import WsClient

from common.commands import HELP_LINES, parse_input


class Native(NativeClient):
    def __init__(self, srv: ServerProcess, nick: str) -> None:
        super().__init__(srv.port, nick)


class Web(WsClient):
    def __init__(self, srv: ServerProcess, nick: str) -> None:
        super().__init__(srv)
        self.welcome = self.hello(nick)
        assert self.welcome["type"] == "welcome", self.welcome


@pytest.fixture(params=[Native, Web], ids=["native", "websocket"])
def typist(request):
    """How the line frames travel: the native port, or the page's WebSocket."""
    return request.param


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0")


def line(client, text: str, **extra) -> None:
    client.send_json({"type": "line", "text": text, **extra})


def plain_answer(nc: PlainClient, text: str, last: str) -> list[str]:
    """What an nc user is shown after typing ``text``, up to the line holding ``last``, without the "* "."""
    nc.send(text.encode() + b"\n")
    return [raw.decode().removeprefix("* ") for raw in nc.expect_line(lambda raw: last.encode() in raw)]


def test_help_is_the_servers_and_the_same_as_an_nc_users(srv, typist):
    nc = PlainClient(srv.port, "ncuser")
    client = typist(srv, "typist")
    for asked in ("/help", "/HELP", "/?"):
        line(client, asked)
        got = client.expect(lambda f: f["type"] in ("notice", "error"))
        assert got["type"] == "notice" and got["event"] == "help", got
        assert got["text"] == "\n".join(HELP_LINES)
    shown = plain_answer(nc, "/help", HELP_LINES[-1])
    assert shown[shown.index(HELP_LINES[0]) :] == list(HELP_LINES)


@pytest.mark.parametrize(
    "typed, words",
    [
        ("/join", "usage: /join #ROOM"),
        ("/join #a #b", "usage: /join #ROOM"),
        ("/mute bob 99999d", "usage: /mute NICK [DURATION]"),
        ("/history many", "usage: /history [N]"),
        ("/nosuchthing", "unknown command /nosuchthing; try /help"),
        ("/" + "x" * 5000, "unknown command /" + "x" * 32 + ";"),  # the name cut in the answer
    ],
)
def test_a_bad_command_gets_the_parsers_error_as_an_nc_user_does(srv, typist, typed, words):
    nc = PlainClient(srv.port, "ncuser")
    client = typist(srv, "typist")
    line(client, typed)
    got = client.expect(lambda f: f["type"] == "error")
    expected = parse_input(typed)
    assert got == {"type": "error", "code": "bad_command", "message": expected.message}
    assert words in got["message"]
    assert plain_answer(nc, typed, "error:")[-1] == f"error: {expected.message}"
    line(client, "/who")
    assert client.expect(lambda f: f["type"] == "users")["nicks"] == ["ncuser", "typist"]  # still here


def test_a_command_the_server_refuses_is_refused_alike(srv, typist):
    """``/mute bob forever`` parses (a mute with a reason): the refusal is the rules', for both."""
    nc = PlainClient(srv.port, "ncuser")
    client = typist(srv, "typist")
    line(client, "/mute ncuser forever")
    got = client.expect(lambda f: f["type"] == "error")
    assert got["code"] == "not_operator"
    assert plain_answer(nc, "/mute typist forever", "error:")[-1] == f"error: {got['message']}"


def test_messages_actions_and_says_are_sent_and_acknowledged(srv, typist):
    other = NativeClient(srv.port, "other")
    client = typist(srv, "typist")
    line(client, "hello there", room="#lobby")
    ack = client.expect(lambda f: f["type"] == "accepted")
    assert set(ack) == {"type", "seq", "ts", "room"} and ack["room"] == "#lobby"  # the page showed it already
    line(client, "//etc/passwd is a path")
    assert "text" not in client.expect(lambda f: f["type"] == "accepted")
    line(client, "/me waves")
    ack = client.expect(lambda f: f["type"] == "accepted")
    assert (ack["text"], ack["action"], ack["room"]) == ("waves", True, "#lobby")  # what the command said
    line(client, "/say #lobby named")
    ack = client.expect(lambda f: f["type"] == "accepted")
    assert (ack["text"], ack["action"]) == ("named", False)
    got = other.messages(4)
    assert [(f["nick"], f["text"], f["action"]) for f in got] == [
        ("typist", "hello there", False),
        ("typist", "/etc/passwd is a path", False),
        ("typist", "waves", True),
        ("typist", "named", False),
    ]
    assert [f["seq"] for f in got] == [got[0]["seq"] + i for i in range(4)]


def test_a_message_goes_to_the_room_the_frame_names(srv, typist):
    lobby = NativeClient(srv.port, "inlobby")
    client = typist(srv, "typist")
    line(client, "/join #dev")
    assert client.expect(lambda f: f["type"] == "joined")["room"] == "#dev"  # focused now; the lobby is kept
    line(client, "for the lobby", room="#lobby")
    assert client.expect(lambda f: f["type"] == "accepted")["room"] == "#lobby"
    line(client, "/me in the lobby too", room="#lobby")
    assert client.expect(lambda f: f["type"] == "accepted")["room"] == "#lobby"
    line(client, "/say #dev not the lobby", room="#lobby")  # the command's room wins
    assert client.expect(lambda f: f["type"] == "accepted")["room"] == "#dev"
    line(client, "for the focused room")
    assert client.expect(lambda f: f["type"] == "accepted")["room"] == "#dev"
    line(client, "nowhere", room="#elsewhere")
    assert client.expect(lambda f: f["type"] in ("error", "accepted"))["code"] == "not_in_room"
    got = lobby.messages(2)
    assert [(f["room"], f["text"]) for f in got] == [("#lobby", "for the lobby"), ("#lobby", "in the lobby too")]


def test_hostile_lines_are_refused_and_the_session_goes_on(srv, typist):
    other = NativeClient(srv.port, "other")
    client = typist(srv, "typist")
    refusals = [
        ({"text": "y" * 8001}, "invalid_frame"),  # over the text limit: refused as any frame
        ({"text": 42}, "invalid_frame"),
        ({}, "invalid_frame"),
        ({"text": "hi", "room": ["#lobby"]}, "invalid_frame"),
        ({"text": "hi", "room": "#" + "r" * 300}, "invalid_frame"),
        ({"text": "/nick \x1b[31mred"}, "invalid_nick"),  # control characters: as in a nick frame
        ({"text": "/join #a\x00b"}, "invalid_room"),
        ({"text": "/join #a\n/quit"}, "invalid_room"),  # one frame is one line: never two commands
        ({"text": "/quit\nnow"}, "bad_command"),
    ]
    for fields, code in refusals:
        client.send_json({"type": "line", **fields})
        got = client.expect(lambda f: f["type"] in ("error", "accepted", "bye"))
        assert got["type"] == "error" and got["code"] == code, (fields, got)
    line(client, "two\n/quit")  # a message on two lines, said as one
    assert client.expect(lambda f: f["type"] == "accepted")
    line(client, "   ")  # blank: nothing, as for an nc user
    line(client, "/who")
    users = client.expect(lambda f: f["type"] in ("users", "error", "accepted", "joined"))
    assert users["type"] == "users" and users["nicks"] == ["other", "typist"]
    assert [f["text"] for f in other.messages(1)] == ["two\n/quit"]


def test_a_line_before_the_hello_is_refused(srv):
    client = NativeClient(srv.port)
    line(client, "/who")
    assert client.frame() == {
        "type": "error",
        "code": "not_registered",
        "message": "'line' before the handshake finished",
    }
    client.send_json({"type": "hello", "version": 1, "nick": "late"})
    assert client.expect(lambda f: f["type"] in ("welcome", "error"))["nick"] == "late"


def test_typed_lines_count_against_the_rate_limit_help_and_mistakes_too():
    srv = ServerProcess("--rate-limit", "20", "--rate-burst", "1")
    try:
        client = NativeClient(srv.port, "flooder")
        for i in range(40):
            line(client, "/help" if i % 2 else "/nosuchthing")
        got = client.expect(lambda f: f["type"] == "bye" or f.get("code") == "flooding")
        assert got.get("code") == "flooding", got
        assert client.expect(lambda f: f["type"] == "bye")["reason"].startswith("flooding")
    finally:
        srv.stop()
