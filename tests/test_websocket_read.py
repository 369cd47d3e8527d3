"""The WebSocket reader's own path for a page's usual frames (``wsread``): the texts wsproto would read, and every
other frame left to wsproto, judged as before (a ping answered, bad UTF-8 1007, no mask 1002), the session going on."""

from __future__ import annotations

import json
import os

import pytest
from helpers import NativeClient
from test_web import WsClient
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Ping, Pong, TextMessage

from chatserver.net.dialects.wsread import simple_texts, unmask


def client_frames(*events) -> bytes:
    """What a WebSocket client library sends for ``events`` (random mask keys)."""
    client = Connection(ConnectionType.CLIENT)
    return b"".join(client.send(event) for event in events)


def masked(first: int, payload: bytes, key: bytes = b"\x11\x22\x33\x44", length: bytes | None = None) -> bytes:
    """A client frame by hand: ``first`` byte, masked ``payload``, its length as given or the shortest."""
    if length is None:
        length = (
            bytes([0x80 | len(payload)])
            if len(payload) < 126
            else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        )
    return bytes([first]) + length + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 1000, 65535])
def test_unmask_takes_the_key_off_at_any_length(size: int) -> None:
    key = os.urandom(4)
    data = os.urandom(size)
    assert unmask(bytes(b ^ key[i % 4] for i, b in enumerate(data)), key) == data


def test_the_usual_frames_read_as_wsproto_reads_them() -> None:
    texts = ["a", "é" * 60, "x" * 125, "y" * 126, "z" * 40000, ""]
    raw = client_frames(*(TextMessage(data=t) for t in texts))
    server = Connection(ConnectionType.SERVER)
    server.receive_data(raw)
    assert [e.data for e in server.events()] == texts  # (what wsproto reads of the same bytes)
    assert simple_texts(bytearray(raw)) == ([t.encode("utf-8") for t in texts], len(raw), False)


def test_a_frame_not_whole_yet_waits_and_another_kind_is_left_to_wsproto() -> None:
    one = client_frames(TextMessage(data="one"))
    two = client_frames(TextMessage(data="two" * 100))
    for cut in range(1, len(two)):
        assert simple_texts(bytearray(one + two[:cut])) == ([b"one"], len(one), False)
    others = [
        client_frames(Ping(payload=b"p")),
        client_frames(TextMessage(data="part", message_finished=False)),  # a fragment
        masked(0x82, b"binary"),
        masked(0xC1, b"reserved bit"),  # RSV1: no extension was agreed
        bytes([0x81, 4]) + b"nope",  # no mask
        masked(0x81, b"short", length=bytes([0x80 | 126, 0, 5])),  # 16 bits for a length under 126
        masked(0x81, b"\xff\xfe not utf-8"),
        bytes([0x81, 0x80 | 127]) + (5).to_bytes(8, "big") + b"\0\0\0\0hello",  # 64-bit length
    ]
    for other in others:
        assert simple_texts(bytearray(one + other + one)) == ([b"one"], len(one), True), other


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0")


def test_a_ping_between_messages_is_answered_and_the_messages_after_it_still_arrive(srv):
    """After a frame of another kind wsproto reads everything: the ping gets its pong, and the
    page's messages sent in the same write, before and after it, are each taken in order."""
    ws = WsClient(srv)
    pongs: list[bytes] = []
    read_events = ws.ws.events

    def events():  # (WsClient keeps text and close frames only: the pongs are noted on the way)
        for event in read_events():
            if isinstance(event, Pong):
                pongs.append(bytes(event.payload))
            yield event

    ws.ws.events = events  # type: ignore[method-assign]
    ws.hello("pinger")
    say = [TextMessage(data=json.dumps({"type": "say", "text": f"m{i}"})) for i in range(4)]
    ws.sock.sendall(b"".join(ws.ws.send(e) for e in [say[0], say[1], Ping(payload=b"tick"), say[2], say[3]]))
    seqs = [ws.expect(lambda f: f["type"] == "accepted")["seq"] for _ in range(4)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert pongs == [b"tick"]
    ws.sock.sendall(ws.ws.send(Ping(payload=b"again")))
    ws.send_json({"type": "say", "text": "after"})
    assert ws.expect(lambda f: f["type"] == "accepted")["seq"] > seqs[-1]
    assert pongs == [b"tick", b"again"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [(masked(0x81, b'{"type":"say","text":"\xff"}'), 1007), (bytes([0x81, 2]) + b"hi", 1002)],
    ids=["not-utf-8", "no-mask"],
)
def test_a_bad_frame_after_good_ones_is_closed_as_wsproto_says(srv, frame: bytes, code: int):
    """The good message read in the same write is taken (another member hears it); the bad frame
    after it closes the connection with wsproto's code, and the server goes on."""
    watcher = NativeClient(srv.port, "watcher")
    ws = WsClient(srv)
    ws.hello("sloppy")
    good = ws.ws.send(TextMessage(data=json.dumps({"type": "say", "text": "before"})))
    ws.sock.sendall(good + frame)
    ws.wait_closed()
    assert ws.closed is not None and ws.closed.code == code, ws.closed
    said = watcher.expect(lambda f: f["type"] == "message")
    assert (said["nick"], said["text"]) == ("sloppy", "before")
    again = WsClient(srv)
    assert again.hello("again")["type"] == "welcome"
