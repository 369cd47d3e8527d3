"""A batch's frames encoded in one call per wire (``frames.run_chunks``) are, frame by frame, the bytes
each frame's own encoding makes, for every wire (native, plain, plain with rooms, IRC's, the
WebSocket's), whatever the frames hold: the usual message, and everything the quick ways leave to the
full renderers (actions, replays, unsafe text, several lines, notices, receipts)."""

from __future__ import annotations

import itertools

import pytest

import chatserver.net.dialects.websocket  # noqa: F401  (registers the ``websocket`` wire)
import chatserver.net.irc.wire  # noqa: F401  (registers the IRC wires)
from chatserver.core.frames import _WIRES, Frame, run_bytes, run_chunks
from chatserver.net.irc.wire import WIRE_CAPS, wire_name
from common import messages as m

IRC_WIRES = [wire_name(*flags) for flags in itertools.product((False, True), repeat=len(WIRE_CAPS))]
WIRES = ["native", "plain", "plain_rooms", "websocket", *IRC_WIRES]


def chat(text: str, **more: object) -> m.ChatMessage:
    fields: dict = {"seq": 7, "ts": 1700000000.5, "room": "#dev", "nick": "alice", "text": text}
    fields.update(more)
    return m.ChatMessage(**fields)  # type: ignore[arg-type]


MESSAGES: list[m.Message] = [
    chat("hello there"),
    chat("héllo ✓ 日本"),
    chat("waves", action=True),
    chat("an old one", replay="history"),
    chat("found", replay="search"),
    chat("a bell \x07 and an escape \x1b[31m"),
    chat("two\nlines"),
    chat("a \u202e bidi override"),
    chat("  "),
    chat("a notice", notice=True),
    chat("with an account", account="alice"),
    chat("x" * 600),
    chat("hi", nick="b\x1bob"),
    chat("hi", room="#d\x07ev"),
    m.Accepted(seq=7, ts=1700000000.5, room="#dev"),
    m.Notice("alice joined #dev", ts=1700000000.5, room="#dev", nick="alice", event="join"),
    m.Notice("a plain notice\nof two lines", ts=1700000000.5, room="#dev"),
    m.Error("not_kept", "your message was delivered but not kept"),
]


@pytest.mark.parametrize("wire", WIRES)
def test_a_run_is_each_frames_own_encoding_in_order(wire: str) -> None:
    alone = [_WIRES[wire](Frame(msg)) for msg in MESSAGES]
    frames = [Frame(msg) for msg in MESSAGES]
    chunks = run_chunks(frames, wire)
    assert chunks == alone
    assert [frame.__dict__[wire] for frame in frames] == alone  # (kept, as ``wire_bytes`` keeps them)
    assert run_bytes([Frame(msg) for msg in MESSAGES], wire) == b"".join(alone)


def test_the_usual_plain_line_is_the_renderers_line() -> None:
    frames = [Frame(chat("hello there")), Frame(chat("héllo ✓"))]
    assert run_chunks(frames, "plain") == [b"alice: hello there\r\n", "alice: héllo ✓\r\n".encode()]
    assert run_chunks(frames, "plain_rooms")[0] == b"[#dev] alice: hello there\r\n"
