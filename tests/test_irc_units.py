"""The IRC port's pieces without a socket: names shown to IRC and back, lines cut to 512 bytes, parsing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatserver.net.irc.lines import MAX_LINE, cut, parse, text_lines
from chatserver.net.irc.names import irc_nick, lanchat_nick
from common import messages as m
from common.nicks import nick_problem


def test_names_irc_forbids_are_escaped_and_come_back():
    assert irc_nick("alice") == "alice"
    assert irc_nick("a.b") == "a`2Eb"
    assert irc_nick("1st") == "`31st"
    assert irc_nick("x!y@z") == "x`21y`40z"
    assert irc_nick("é") == "é"  # (UTF8ONLY: letters of any script stay)
    for nick in ("a.b", "1st", "x!y@z", "a`21", "back`tick", "ok"):
        assert lanchat_nick(irc_nick(nick)) == nick


@given(st.text(min_size=1, max_size=32))
def test_names_are_unambiguous(nick):
    if nick_problem(nick) is None:
        shown = irc_nick(nick)
        assert lanchat_nick(shown) == nick
        assert not set(shown) & set(" !@*?,:#\r\n\0")


@given(st.text(max_size=600), st.integers(min_value=4, max_value=500))
def test_cut_keeps_characters_whole(text, budget):
    pieces = cut(text, budget)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= budget for p in pieces)


def test_long_and_multiline_text_becomes_lines_within_512_bytes():
    text = "é" * 400 + "\nsecond line\n\nthird"
    lines = text_lines("PRIVMSG", "bob!bob@lanchat", "#dev", text)
    assert all(len(line.encode()) + 2 <= MAX_LINE for line in lines)
    bodies = [line.split(" :", 1)[1] for line in lines]
    assert "".join(bodies[:-2]) == "é" * 400
    assert bodies[-2:] == ["second line", "third"]


def test_parse_reads_tags_source_and_trailing():
    p = parse("@a=b\\sc;d :nick!u@h privmsg #room :hello there")
    assert p is not None and p.command == "PRIVMSG"
    assert p.tags == {"a": "b c", "d": ""}
    assert p.params == ["#room", "hello there"]
    assert parse("   ") is None


def test_irc_flags():
    from chatserver.app.options import parse

    assert parse([]).irc_port is None and not parse([]).no_irc  # (the default port: 6667, 6697 with --tls)
    assert parse(["--irc-port", "0"]).irc_port == 0
    assert parse(["--no-irc"]).no_irc


def test_a_room_frame_is_encoded_once_per_irc_wire_format():
    from chatserver.core.fanout import Frame
    from chatserver.net.irc import wire
    from common import messages as m

    frame = Frame(m.ChatMessage(seq=7, ts=1.5, room="#dev", nick="a.b", text="hi\nthere"))
    plain, tagged = wire.wire_name(False, False, False), wire.wire_name(True, True, False)
    assert getattr(frame, plain) is getattr(frame, plain)  # made once, then kept for every recipient
    assert (
        getattr(frame, plain)
        == b":a`2Eb!a`2Eb@lanchat PRIVMSG #dev :hi\r\n:a`2Eb!a`2Eb@lanchat PRIVMSG #dev :there\r\n"
    )
    assert getattr(frame, tagged).startswith(b"@time=1970-01-01T00:00:01.500Z;msgid=7#dev :a`2Eb!")
    receipt = Frame(m.Accepted(seq=7, ts=1.5, room="#dev"))
    assert getattr(receipt, plain) == b""  # (a sender without echo-message: nothing for its own line)


def test_a_time_in_whole_milliseconds_is_written_as_given():
    """``irc_time`` cut a float's 0.12299999 to .122: a read marker set at .123 came back a millisecond early
    (readmarker.py had its own rounding copy because of it)."""
    from chatserver.net.irc.lines import irc_time

    assert [irc_time(1700000000 + n / 1000)[-5:] for n in (0, 1, 123, 500, 999)] == [
        ".000Z", ".001Z", ".123Z", ".500Z", ".999Z",
    ]  # fmt: skip


def test_a_room_message_is_encoded_once_for_the_wires_that_write_it_alike():
    """Six capabilities make 64 IRC wires; a room's message reads the same whatever away-notify,
    extended-join and account-notify say, so the 64 share 8 encodings (each was made on its own)."""
    import itertools

    from chatserver.core.frames import Frame, wire_bytes
    from chatserver.net.irc.wire import wire_name

    frame = Frame(m.ChatMessage(seq=1, ts=1700000000.5, room="#a", nick="bob", text="hi", account="bob"))
    made = [wire_bytes(frame, wire_name(*flags)) for flags in itertools.product((False, True), repeat=6)]
    assert len({id(data) for data in made}) == len(set(made)) == 8
