"""The sans-IO protocol: framing, messages, state machine, shared rules."""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers import Member
from hypothesis import given, settings
from hypothesis import strategies as st

from common import messages as m
from common.commands import CommandError, ShowHelp, parse_input
from common.connection import CLOSED, NEED_DATA, Connection, Role, State
from common.errors import FrameTooLarge, InvalidFrame, LocalProtocolError, RemoteProtocolError
from common.framing import LineFramer
from common.hostport import format_address, format_host
from common.nicks import InvalidNick, is_exit_word, nick_key, nick_problem, validate_nick
from common.plain import render_plain
from common.safetext import neutralise

SAMPLES: list[m.Message] = [
    m.Hello(version=1, nick="alice", client="chatclient"),
    m.Line("/join #dev", room="#lobby"),
    m.Line("two\nlines"),
    m.Say("hello, world"),
    m.Action("waves"),
    m.PrivateSay(to="bob", text="psst"),
    m.SetNick("alicia"),
    m.Who(),
    m.Kick(nick="mallory", reason="spam"),
    m.Join("#dev"),
    m.Part(),
    m.ListRooms(),
    m.SetTopic("release on friday"),
    m.Away("lunch"),
    m.History(count=20, before=400),
    m.Search("build red"),
    m.Op("bob"),
    m.Deop("bob"),
    m.ListOps(),
    m.Ban(nick="mallory", duration=3600, reason="spam"),
    m.Unban("10.0.0.5"),
    m.ListBans(),
    m.Mute(nick="mallory", duration=0),
    m.Unmute("mallory"),
    m.RoomMode(room="#dev", changes="+kl", args=["beer", "5"]),
    m.Invite(nick="bob", room="#dev"),
    m.ListConversations(),
    m.Conversations(names=["bob", "carol"], times=[1700000000, 1600000000]),
    m.Joined(room="#dev", topic="builds", users=["a", "b"], replay=2),
    m.RoomList(names=["#dev", "#lobby"], counts=[2, 5], topics=["builds", ""], mine=[False, True]),
    m.Parted(room="#dev", focus="#lobby"),
    m.Focused(room="#dev"),
    m.Quit("see you"),
    m.Welcome(version=1, server="lan", nick="alice", room="#lobby", users=["alice", "bob"]),
    m.ChatMessage(seq=7, ts=1700000000.5, room="#lobby", nick="bob", text="héllo 👋\nline two"),
    m.ChatMessage(seq=8, ts=1.0, room="#lobby", nick="bob", text="dances", action=True),
    m.Private(ts=2.0, nick="bob", to="alice", text="secret"),
    m.Notice(text="bob joined #lobby", ts=3.0, event="join", seq=9, nick="bob"),
    m.Notice(text="a is now known as b", ts=3.0, event="nick", seq=10, nick="b", previous="a"),
    m.Users(room="#lobby", nicks=["alice", "bob"], away=["bob"]),
    m.Accepted(seq=11, ts=4.0, room="#dev"),
    m.Accepted(seq=12, ts=4.5, room="#dev", text="waves", action=True),
    m.Token(token="abc.def"),
    m.Reply(seq=12, ts=5.0, text='ACK 12: "hi"'),
    m.Bye("goodbye"),
    m.Error(code="nick_taken", message="taken", suggestion="alice2"),
    m.Ping("t1"),
    m.Pong("t1"),
    m.Upload(name="report.pdf", size=2100000, room="#dev"),
    m.UploadToken(token="tok", path="/up/tok", web_port=5080, name="report.pdf", size=2100000, expires=600, to="bob"),
    m.ListFiles(room="#dev"),
    m.Register("correct horse"),
    m.Login(name="bob", token="t0k3n"),
    m.ChangePassword(password="old", new_password="new"),
    m.Unregister("correct horse"),
    m.Logout(all=True),
    m.DropAccount("bob"),
    m.LoggedIn(account="bob", token="t0k3n"),
    m.LoggedOut(account="bob"),
    m.ReadMarker(target="#dev", ts=1.5),
    m.ChatMessage(
        seq=13,
        ts=6.0,
        room="#dev",
        nick="bob",
        text="shared a.png (1 B) — http://h:1/f/x/a.png",
        action=True,
        file=m.FileRef(id="x", name="a.png", size=1, sha256="00", type="image/png"),
    ),  # fmt: skip
]


def test_every_message_type_has_a_sample():
    assert {type(s) for s in SAMPLES} == set(m._REGISTRY.values())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: s.TYPE)
def test_round_trip(msg):
    data = m.encode(msg)
    assert data.endswith(b"\n") and data.count(b"\n") == 1, "one frame is one line"
    assert m.decode(data[:-1]) == msg


@pytest.mark.parametrize(
    "line, code, words",
    [
        (b"\xff\xfe", "invalid_frame", "UTF-8"),
        (b"{nope", "invalid_frame", "JSON"),
        (b"[1,2]", "invalid_frame", "object"),
        (b'{"type": 5}', "invalid_frame", "type"),
        (b'{"type": "launch"}', "unknown_type", "launch"),
        (b'{"type": "say"}', "invalid_frame", "missing field 'text'"),
        (b'{"type": "say", "text": 5}', "invalid_frame", "string"),
        (
            b'{"type": "message", "seq": true, "ts": 1, "room": "r", "nick": "n", "text": "t"}',
            "invalid_frame",
            "integer",
        ),
        (b'{"type": "accepted", "seq": 1, "ts": NaN}', "invalid_frame", "finite"),
        (b'{"type": "say", "text": "\\ud800"}', "invalid_frame", "surrogate"),
        (b'{"type": "nick", "nick": "' + b"x" * 300 + b'"}', "invalid_frame", "longer"),
        (b"[" * 100000, "invalid_frame", "JSON"),
    ],
)
def test_garbage_gives_typed_error(line, code, words):
    with pytest.raises(InvalidFrame) as info:
        m.decode(line)
    assert info.value.code == code
    assert words in str(info.value)
    assert isinstance(info.value, RemoteProtocolError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_typed_error(data):
    for line in data.split(b"\n"):
        try:
            msg = m.decode(line)
        except InvalidFrame:
            continue
        assert isinstance(msg, m.Message)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(m._REGISTRY)),
    st.dictionaries(st.sampled_from(["text", "nick", "seq", "ts", "room", "to", "users", "version"]), json_values),
)
def test_arbitrary_json_objects_decode_or_raise_typed_error(kind, fields):
    line = json.dumps({**fields, "type": kind}).encode()
    try:
        msg = m.decode(line)
    except InvalidFrame:
        return
    assert msg.TYPE == kind
    assert m.decode(m.encode(msg)[:-1]) == msg


def test_framer_splits_lines_across_chunks():
    f = LineFramer(max_frame=100)
    f.receive_data(b"ab\r\ncd\nef")
    assert f.next_line() == b"ab"
    assert f.next_line() == b"cd"
    assert f.next_line() is None
    f.receive_data(b"g\n")
    assert f.next_line() == b"efg"


def test_framer_final_line_without_newline_counts_at_eof():
    f = LineFramer()
    f.receive_data(b"last words")
    assert f.next_line() is None
    f.receive_data(b"")
    assert f.next_line() == b"last words"
    assert f.at_eof


def test_oversized_frame_rejected_before_buffered_whole():
    f = LineFramer(max_frame=1000)
    f.receive_data(b"x" * 600)
    assert f.next_line() is None
    f.receive_data(b"x" * 600)  # no newline yet: 1200 > 1000
    with pytest.raises(FrameTooLarge) as info:
        f.next_line()
    assert info.value.fatal
    assert f.buffered == 0, "the partial line is dropped, not kept"


def test_oversized_frame_with_newline_in_same_chunk():
    f = LineFramer(max_frame=10)
    f.receive_data(b"y" * 50 + b"\nok\n")
    with pytest.raises(FrameTooLarge):
        f.next_line()


def test_frame_at_exact_limit_accepted():
    f = LineFramer(max_frame=10)
    f.receive_data(b"z" * 10 + b"\n")
    assert f.next_line() == b"z" * 10


def _handshake() -> tuple[Connection, Connection]:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(m.Hello(version=1, nick="a")))
    assert isinstance(server.next_event(), m.Hello)
    client.receive_data(server.send(m.Welcome(version=1, server="s", nick="a", room="#lobby", users=["a"])))
    assert isinstance(client.next_event(), m.Welcome)
    return client, server


def test_state_machine_happy_path():
    client, server = _handshake()
    assert client.state is server.state is State.OPEN
    server.receive_data(client.send(m.Say("hi")))
    assert server.next_event() == m.Say("hi")
    assert server.next_event() is NEED_DATA
    client.receive_data(server.send(m.Bye("done")))
    assert client.next_event() == m.Bye("done")
    assert client.state is State.CLOSED
    assert client.next_event() is CLOSED


def test_server_rejects_chat_before_hello():
    server = Connection(Role.SERVER)
    server.receive_data(m.encode(m.Say("sneaky")))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == "not_registered"


def test_client_cannot_send_server_frames():
    client, server = _handshake()
    forged = m.ChatMessage(seq=1, ts=1.0, room="#lobby", nick="bob", text="I am bob")
    with pytest.raises(LocalProtocolError):
        client.send(forged)
    server.receive_data(m.encode(forged))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == "unexpected_type"
    server.receive_data(m.encode(m.Say("still fine")))
    assert server.next_event() == m.Say("still fine"), "a bad frame does not break the stream"


def test_end_of_stream_closes():
    server = Connection(Role.SERVER)
    server.receive_data(b"")
    assert server.next_event() is CLOSED
    with pytest.raises(LocalProtocolError):
        server.send(m.Bye())


@pytest.mark.parametrize("nick", ["alice", "Bob_2", "élodie", "李", "x" * 32])
def test_valid_nicks(nick):
    assert validate_nick(nick) == nick


@pytest.mark.parametrize(
    "nick", ["", "a b", "tab\t", "x" * 33, "{json", "/cmd", "#room", "esc\x1b", "rtl\u202e", "a:b"]
)
def test_invalid_nicks(nick):
    with pytest.raises(InvalidNick):
        validate_nick(nick)
    assert nick_problem(nick)


def test_lookalike_nicks_share_a_key():
    assert nick_key("Alice") == nick_key("alice")
    assert nick_key("e\u0301") == nick_key("\u00e9")
    assert nick_key("alice") != nick_key("alicia")


@pytest.mark.parametrize("text", ["bye", "Bye", " BYE ", "bye!", "bye...", "Bye?!"])
def test_exit_word(text):
    assert is_exit_word(text)


@pytest.mark.parametrize("text", ["goodbye", "bye bye", "by", "bye now", ""])
def test_not_exit_word(text):
    assert not is_exit_word(text)


def test_parse_input():
    assert parse_input("hi") == m.Say("hi")
    assert parse_input("   ") is None
    assert parse_input("/me waves") == m.Action("waves")
    assert parse_input("/msg bob hello there") == m.PrivateSay(to="bob", text="hello there")
    assert parse_input("/nick alicia") == m.SetNick("alicia")
    assert parse_input("/who") == m.Who()
    assert parse_input("/quit later") == m.Quit("later")
    assert parse_input("//etc/passwd") == m.Say("/etc/passwd")
    assert parse_input("/help") == ShowHelp()
    assert parse_input("/kick bob too loud") == m.Kick(nick="bob", reason="too loud")
    assert parse_input("/join #dev") == m.Join("#dev")
    assert parse_input("/part") == m.Part()
    assert parse_input("/rooms") == m.ListRooms()
    assert parse_input("/topic ship it") == m.SetTopic("ship it")
    assert parse_input("/away") == m.Away("")
    assert isinstance(parse_input("/msg bob"), CommandError)
    assert "unknown command /frob" in parse_input("/frob").message


def test_neutralise_escapes_every_control():
    hostile = "a\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\x08\rd\x9b31me\u202egnp.exe\u2066x\x00"
    safe = neutralise(hostile)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in safe)
    assert "\u202e" not in safe and "\u2066" not in safe
    assert "^[" in safe and "<U+202E>" in safe and "^G" in safe
    assert neutralise("two\nlines", keep_newlines=True) == "two\nlines"
    assert neutralise("two\nlines") == "two^Jlines"


def test_plain_rendering_is_safe_and_multiline_is_indented():
    msg = m.ChatMessage(seq=1, ts=1.0, room="#lobby", nick="bob", text="hi\nalice: fake\x1b[31m")
    line = render_plain(msg)
    assert line == "bob: hi\n    alice: fake^[[31m", "a continuation line cannot pass for alice's"
    assert "\x1b" not in line
    assert render_plain(m.Notice(text="x joined", ts=1.0)) == "* x joined"
    assert render_plain(m.Welcome(version=1, server="s", nick="n", room="r", users=[])).startswith("* welcome")
    assert render_plain(m.Private(ts=1.0, nick="alice", to="bob", text="psst")) == "(private) alice -> bob: psst"


def test_a_private_message_reads_from_its_sender_and_to_its_target():
    from chatclient.local import Preferences
    from chatclient.render import Renderer

    msg = m.Private(ts=1.0, nick="alice", to="bob", text="psst")
    as_bob = Renderer(color=False, timestamps=False, me=lambda: "bob")
    as_alice = Renderer(color=False, timestamps=False, me=lambda: "alice")
    assert as_bob.message(msg) == "(private) alice: psst"
    assert as_alice.message(msg) == "(private) to bob: psst", "our own, sent back as confirmation"
    prefs = Preferences()
    assert prefs.rings_for(msg, False, "bob") and not prefs.rings_for(msg, False, "alice")


def test_messages_are_immutable_dataclasses():
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.Say("x").text = "y"  # type: ignore[misc]


def test_hub_history_is_bounded_in_messages_and_bytes():
    from chatserver.core.hub import LocalHub

    hub = LocalHub(keep=5, history_bytes=20_000)
    for i in range(10):
        hub.publish("#a", lambda seq, ts, i=i: m.ChatMessage(seq=seq, ts=ts, room="#a", nick="x", text=f"{i}"))
    kept, lost = hub.history("#a", 0)
    assert [msg.text for msg in kept] == ["5", "6", "7", "8", "9"] and lost == 5
    big = "y" * 4000  # about 16 KB each by the hub's reckoning: only one fits in 20 KB
    for room in ("#b", "#c"):
        hub.publish(room, lambda seq, ts, room=room: m.ChatMessage(seq=seq, ts=ts, room=room, nick="x", text=big))
    assert len(hub.history("#c", 0)[0]) == 1, "the newest big message is kept"
    assert hub.history("#b", 0) == ([], 1), "the room keeping the most gave way, and says how many are gone"
    assert len(hub.history("#a", 0)[0]) == 5, "small histories that fit stay"


def _hub_with(room: str, *members: Member):
    """A fresh hub with ``members`` registered under their nicks and in ``room``."""
    from chatserver.core.hub import LocalHub

    hub = LocalHub()
    for sub in members:
        hub.enter(sub, sub.nick, room, lambda *greeting: None)
    return hub


def test_hub_batch_gives_each_member_the_room_order_with_its_own_lines_as_receipts():
    a, b, c = Member("a"), Member("b", "plain"), Member("c", None)
    hub = _hub_with("#r", a, b, c)

    def say(who, text):
        hub.publish(
            "#r",
            lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#r", nick=who.nick, text=text),
            exclude=who,
            receipt=(lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts)) if who.wire == "native" else None,
        )

    for i in range(30):  # interleaved senders, so batches mix own and others' lines
        say((a, b, c)[i % 3], f"t{i}")
    hub.announce("#r", lambda ts: m.Notice(text="n", ts=ts))
    assert hub.flush(timeout=5)
    frames = [m.decode(line) for line in a.data.splitlines()]
    assert [f.seq for f in frames if isinstance(f, (m.ChatMessage, m.Accepted))] == list(range(1, 31))
    assert [isinstance(f, m.Accepted) for f in frames[:30]] == [i % 3 == 0 for i in range(30)]
    assert isinstance(frames[-1], m.Notice)
    plain = b.data.decode().splitlines()
    assert plain == [f"{'a' if i % 3 == 0 else 'c'}: t{i}" for i in range(30) if i % 3 != 1] + ["* n"]
    assert [getattr(f, "text", None) for f in c.frames] == [f"t{i}" for i in range(30) if i % 3 != 2] + ["n"]


def test_hub_member_joining_later_gets_only_what_came_after():
    from chatserver.core.hub import LocalHub

    hub = LocalHub()
    a, late = Member("a"), Member("late")
    hub.enter(a, "a", "#r", lambda *greeting: None)
    for i in range(5):
        hub.announce("#r", lambda ts, i=i: m.Notice(text=f"before{i}", ts=ts))
    hub.enter(late, "late", "#r", lambda *greeting: None)
    hub.announce("#r", lambda ts: m.Notice(text="after", ts=ts))
    assert hub.flush(timeout=5)
    assert [m.decode(x).text for x in late.data.splitlines()] == ["after"]
    assert len(a.data.splitlines()) == 6


def test_hub_room_switch_delivers_the_old_rooms_queue_and_acks_first():
    from chatserver.core.fanout import Frame

    a, b = Member("a"), Member("b")
    hub = _hub_with("#x", a, b)

    def greet(g):  # as a session greets: through its ordered channel
        hub.send_to(a, Frame(m.Notice(text="JOINED " + g.room, ts=0)))

    ack = lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts)  # noqa: E731
    with hub._lock:  # nothing is dispatched until the switch has begun
        for i in range(20):
            hub.publish(
                "#x", lambda seq, ts, i=i: m.ChatMessage(seq=seq, ts=ts, room="#x", nick="a", text=f"{i}"), a, ack
            )
            hub.announce("#x", lambda ts: m.Notice(text="b says", ts=ts), exclude=b)
    hub.part("#x", a)
    hub.join("#y", a, greet=greet)
    hub.announce("#x", lambda ts: m.Notice(text="after", ts=ts))
    assert hub.flush(timeout=5)
    frames = [m.decode(line) for line in a.data.splitlines()] + a.frames
    assert frames[-1].text == "JOINED #y", "nothing of #x after the greeting"
    frames = frames[:-1]
    assert [f.seq for f in frames if isinstance(f, m.Accepted)] == list(range(1, 21)), "every ack, in order"
    assert sum(isinstance(f, m.Notice) for f in frames) == 20
    assert [msg.nick for msg in hub.members("#x")] == ["b"]


def test_hub_sender_that_leaves_before_dispatch_still_gets_its_acks():
    a, b = Member("a"), Member("b")
    hub = _hub_with("#x", a, b)
    with hub._lock:  # queued, then a is gone before the dispatcher takes it
        hub.publish(
            "#x",
            lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#x", nick="a", text="last words"),
            a,
            lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts),
        )
        hub.unregister(a)
    assert hub.flush(timeout=5)
    assert [type(m.decode(line)) for line in a.data.splitlines()] == [m.Accepted]
    assert m.decode(b.data.splitlines()[0]).text == "last words"


@pytest.mark.parametrize(
    "host, port, written",
    [("127.0.0.1", 5000, "127.0.0.1:5000"), ("::1", 5000, "[::1]:5000"), ("[fe80::1]", 80, "[fe80::1]:80")],
)
def test_an_address_is_written_one_way_by_the_server_and_the_client(host, port, written):
    """One function (``common/hostport.py``) for the server's lines and the client's: an IPv6 host in
    brackets, once (the server's copy checked for brackets already there, the client's did not)."""
    assert format_address(host, port) == written
    assert f"{format_host(host)}:{port}" == written
