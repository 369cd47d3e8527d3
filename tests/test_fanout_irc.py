"""The IRC wire formats on the fan-out path: a room message's bytes made in one step equal the lines
``chat_lines`` builds, and IRC clients that each send their first lines at once (each held back by
a frame of its own in that batch) all get the room in one order, once, with their capabilities."""

from __future__ import annotations

import itertools

import pytest
from helpers import ServerProcess
from hypothesis import given
from hypothesis import strategies as st
from irc_helpers import LibClient, RawIrc, words_of

from chatserver.core.fanout import Frame
from chatserver.net.irc import wire
from chatserver.net.irc.lines import MAX_LINE, encode
from common import messages as m

TEXTS = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("aé字😀 \n\r\0\t"), max_size=600),
    st.integers(min_value=440, max_value=520).map(lambda n: "x" * n),
)


@given(
    TEXTS,
    st.text(min_size=1, max_size=40),
    st.sampled_from(["#a", "#é", "#" + "r" * 60]),
    st.booleans(),
    st.sampled_from([None, False, True]),
)
def test_a_message_in_one_step_is_what_chat_lines_makes(text, nick, room, action, notice):
    msg = m.ChatMessage(room=room, nick=nick, text=text, ts=1765000000.5, seq=7, action=action, notice=notice)
    for server_time, msgid in itertools.product((False, True), repeat=2):
        tags = wire.tags_of(msg, server_time, msgid)
        assert wire.chat_bytes(msg, tags) == encode(wire.chat_lines(msg, tags))


def test_every_irc_wire_format_encodes_a_room_frame_as_room_lines_says():
    said = m.ChatMessage(room="#a", nick="bob", text="hi there", ts=1765000000.25, seq=3)
    receipt = m.Accepted(seq=3, ts=1765000000.25, room="#a")
    joined = m.Notice(text="bob joined #a", ts=1765000000.0, room="#a", nick="bob", event="join")
    for flags in itertools.product((False, True), repeat=3):
        name = wire.wire_name(*flags)
        for msg in (said, receipt, joined):
            assert getattr(Frame(msg), name) == encode(wire.room_lines(msg, *flags)), (name, msg)
    assert Frame(said).irctm.startswith(b"@time=2025-12-06T05:46:40.250Z;msgid=3#a :bob!bob@lanchat PRIVMSG #a :")
    assert Frame(receipt).irc == b""


def test_a_long_message_is_still_cut_within_512_bytes_at_character_boundaries():
    msg = m.ChatMessage(room="#a", nick="bob", text="é" * 300, ts=1.0, seq=1)
    lines = wire.chat_bytes(msg, "").split(b"\r\n")[:-1]
    assert len(lines) == 2
    assert all(len(line) + 2 <= MAX_LINE for line in lines)
    assert "".join(line.decode().split(" :", 1)[1] for line in lines) == "é" * 300


@pytest.fixture(scope="module")
def srv():
    server = ServerProcess("--rate-limit", "0", "--max-per-ip", "50")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def privmsgs(client: RawIrc, count: int) -> list[tuple[str, str, str]]:
    """The next ``count`` PRIVMSG lines as (sender, text, tags)."""
    out = []
    while len(out) < count:
        line = client.text()
        words = words_of(line)
        if words[1:2] == ["PRIVMSG"]:
            tags = line.split(" ", 1)[0] if line.startswith("@") else ""
            out.append((words[0][1:].split("!")[0], words[3], tags))
    return out


def test_irc_senders_first_lines_at_once_reach_everyone_in_one_order(srv):
    """Four IRC clients in one room each send 30 lines in one write, their first PRIVMSGs (each
    has a frame of its own queued among them): everyone gets the others' lines once, in the
    same order; the one with echo-message, server-time and message-tags gets its own in their
    place, each line tagged; a client of the ``irc`` library gets them all too."""
    room, k = "#burst", 30
    caps = "echo-message server-time message-tags"
    clients = [RawIrc(srv.irc_port, "fan0", caps=caps)] + [RawIrc(srv.irc_port, f"fan{i}") for i in (1, 2, 3)]
    lib = LibClient(srv.irc_port, "fanlib")
    try:
        for c in clients:
            c.line(f"JOIN {room}")
            c.numeric("366")
        lib.conn.join(room)
        lib.wait(lambda e: e.type == "endofnames")
        for c in clients:  # (no waiting between them: their lines meet in the hub's batches)
            c.send(b"".join(f"PRIVMSG {room} :{c.nick} line {j}\r\n".encode() for j in range(k)))

        echoing = privmsgs(clients[0], 4 * k)
        order = [(nick, text) for nick, text, _ in echoing]
        assert sorted(order) == sorted((c.nick, f"{c.nick} line {j}") for c in clients for j in range(k))
        for c in clients:
            assert [t for n, t in order if n == c.nick] == [f"{c.nick} line {j}" for j in range(k)]
        assert all(tags.startswith("@time=") and ";msgid=" in tags for _, _, tags in echoing)
        for c in clients[1:]:
            seen = privmsgs(c, 3 * k)
            assert [(nick, text) for nick, text, _ in seen] == [x for x in order if x[0] != c.nick], c.nick
            assert all(tags == "" for *_, tags in seen)
            assert privmsgs_left(c) == []
        events = []
        while len(events) < 4 * k:
            events.append(lib.wait(lambda e: e.type == "pubmsg"))
        assert [(e.source.nick, e.arguments[0]) for e in events] == order
    finally:
        for c in clients:
            c.close()
        lib.close()


def privmsgs_left(client: RawIrc) -> list[tuple[str, str, str]]:
    """Nothing more is waiting for ``client`` (its own lines did not come back): checked with a PING."""
    client.line("PING :done")
    lines = client.until(lambda words: words[1:2] == ["PONG"])
    return [(words_of(x)[0], words_of(x)[3], "") for x in lines if words_of(x)[1:2] == ["PRIVMSG"]]


def test_lines_to_rooms_in_every_form_reach_them_alike(srv):
    """A message to one room (taken without the parser) and its neighbours that are not (several
    rooms, an action, tags, a source, a CTCP query, a NOTICE) reach a member as each should."""
    sender, reader = RawIrc(srv.irc_port, "formsay"), RawIrc(srv.irc_port, "formread")
    try:
        for c in (sender, reader):
            for room in ("#forms", "#forms2"):
                c.line(f"JOIN {room}")
                c.numeric("366")
        sent = [
            "PRIVMSG #forms :plain one",
            "PRIVMSG #forms :with :colons : inside",
            "PRIVMSG #forms,#forms2 :two rooms",
            "PRIVMSG #forms :\x01ACTION waves\x01",
            "PRIVMSG #forms :\x01VERSION\x01",
            "@label=x PRIVMSG #forms :tagged",
            ":formsay PRIVMSG #forms :sourced",
            "PRIVMSG  #forms :two spaces",
            "PRIVMSG #forms2 :",
            "PRIVMSG #forms :last",
        ]
        sender.send(b"".join(line.encode() + b"\r\n" for line in sent))
        got = []
        while not got or got[-1] != ("#forms", "last"):
            words = reader.numeric("PRIVMSG")
            got.append((words[2], words[3]))
        assert got == [
            ("#forms", "plain one"),
            ("#forms", "with :colons : inside"),
            ("#forms", "two rooms"),
            ("#forms2", "two rooms"),
            ("#forms", "\x01ACTION waves\x01"),
            ("#forms", "tagged"),
            ("#forms", "sourced"),
            ("#forms", "two spaces"),
            ("#forms", "last"),
        ]
    finally:
        sender.close()
        reader.close()
