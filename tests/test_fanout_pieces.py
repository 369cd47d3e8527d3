"""A sender's copy of a big batch, handed over as views of the room's one encoding: the same bytes as
encoding each frame for that sender, in a few calls, through a real outbox too; the WebSocket wire's
frames, built once, are the frames a WebSocket library makes for each recipient."""

from __future__ import annotations

import socket
import threading

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Message, TextMessage

import chatserver.net.dialects.websocket  # noqa: F401  (registers the ``websocket`` wire)
from chatserver.core.fanout import Frame, Member, Post, dispatch
from chatserver.core.pieces import SHARE_OVER
from chatserver.net.outbound import Outbox
from common import messages as m

ROOM = object()
TIMEOUT = 10


class Recorder:
    """A participant that keeps each ``deliver_bytes`` call as it was given."""

    full = False

    def __init__(self, nick: str, wire: str, deliver_bytes=None) -> None:
        self.nick, self.wire = nick, wire
        self.calls: list[bytes | memoryview] = []
        if deliver_bytes is not None:
            self.deliver_bytes = deliver_bytes

    def deliver(self, frame: Frame) -> None:
        raise AssertionError("no frame of its own in these batches")

    def deliver_bytes(self, data: bytes | memoryview) -> None:
        self.calls.append(data)


def big_batch(sender: Recorder, *, receipts: bool, count: int = 600) -> list[Post]:
    """``count`` room messages (more than ``2 * SHARE_OVER`` bytes in any wire), ``sender``'s
    in two runs of 16 (its lines read together), one near the start and one in the middle."""
    batch = []
    for i in range(count):
        mine = 10 <= i < 26 or count // 2 <= i < count // 2 + 16
        nick = sender.nick if mine else f"other{i % 7}"
        msg = m.ChatMessage(seq=i + 1, ts=1700000000.25 + i, room="#a", nick=nick, text=f"line {i} é " + "x" * 40)
        receipt = Frame(m.Accepted(seq=i + 1, ts=msg.ts, room="#a")) if mine and receipts else None
        batch.append(Post(ROOM, i + 1, Frame(msg), exclude=sender if mine else None, receipt=receipt))
    return batch


def per_recipient(batch: list[Post], who: Recorder) -> bytes:
    """What ``who`` should get, encoded frame by frame for it alone."""
    out = []
    for p in batch:
        frame = p.receipt if p.exclude is who else p.frame
        if frame is not None:
            out.append(getattr(Frame(frame.msg), who.wire))  # (a fresh frame: encoded again, not the cached bytes)
    return b"".join(out)


@pytest.mark.parametrize(("wire", "receipts"), [("native", True), ("websocket", True), ("plain", False)])
def test_a_sender_of_a_big_batch_gets_its_own_copy_as_views_of_the_one_encoding(wire: str, receipts: bool) -> None:
    sender, other = Recorder("sender", wire), Recorder("other", wire)
    batch = big_batch(sender, receipts=receipts)
    dispatch(batch, {ROOM: [Member(sender, 0), Member(other, 0)]})

    assert len(other.calls) == 1 and isinstance(other.calls[0], bytes)
    shared = other.calls[0]
    assert shared == per_recipient(batch, other)
    assert len(shared) > 2 * SHARE_OVER

    assert b"".join(sender.calls) == per_recipient(batch, sender)
    # the long stretches are views of the bytes the other member got, not copies of them
    views = [c for c in sender.calls if isinstance(c, memoryview)]
    assert views and all(v.obj is shared for v in views)
    assert len(sender.calls) <= 5  # before, between and after its two runs, and the receipts of each


def test_a_small_batch_still_goes_to_a_sender_as_one_byte_string() -> None:
    sender, other = Recorder("sender", "native"), Recorder("other", "native")
    batch = big_batch(sender, receipts=True, count=40)
    dispatch(batch, {ROOM: [Member(sender, 0), Member(other, 0)]})
    assert len(sender.calls) == 1 and isinstance(sender.calls[0], bytes)
    assert sender.calls[0] == per_recipient(batch, sender)


@pytest.mark.parametrize("odd", [None, m.Error("not_kept", "your message was delivered but not kept")])
def test_a_senders_receipts_encoded_together_are_the_bytes_each_makes_alone(odd: m.Message | None) -> None:
    """A sender's receipts side by side are encoded in one call (``frames.run_bytes``); with one
    among them that is fitted to the caps as it is encoded (a message not kept), each on its own:
    the same bytes either way, in the same places."""
    sender, other = Recorder("sender", "native"), Recorder("other", "native")
    batch = big_batch(sender, receipts=True, count=40)
    if odd is not None:
        batch[12].receipt = Frame(odd)
    dispatch(batch, {ROOM: [Member(sender, 0), Member(other, 0)]})
    assert b"".join(sender.calls) == per_recipient(batch, sender)
    got = [m.decode(line) for line in b"".join(sender.calls).splitlines()]
    assert [type(x) for x in got[10:26]] == [m.Accepted] * 2 + [type(odd or got[10])] + [m.Accepted] * 13


def test_the_views_go_through_a_real_outbox_whole_and_in_order_when_the_kernel_takes_only_part() -> None:
    """The outbox queues what the kernel does not take (a view kept as it is): the peer reads
    the very bytes encoded for it alone, in order, though the batch went in pieces."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # (the kernel takes a few KiB at a time)
        theirs.settimeout(TIMEOUT)
        box = Outbox(ours, name="sender")
        sender = Recorder("sender", "native", deliver_bytes=box.put_batch)
        other = Recorder("other", "native")
        batch = big_batch(sender, receipts=True, count=2000)
        expected = per_recipient(batch, sender)
        got = bytearray()

        def read() -> None:
            while len(got) < len(expected):
                data = theirs.recv(65536)
                if not data:
                    return
                got.extend(data)

        reader = threading.Thread(target=read)
        reader.start()
        dispatch(batch, {ROOM: [Member(sender, 0), Member(other, 0)]})
        reader.join(TIMEOUT)
        box.close(timeout=TIMEOUT)
        assert not reader.is_alive()
        assert box.failure is None
        assert bytes(got) == expected


@pytest.mark.parametrize("size", [1, 60, 125, 126, 4000, 65535, 65536, 70000])
def test_the_websocket_wire_is_the_frame_a_websocket_library_makes_for_each_recipient(size: int) -> None:
    """A server's frame is unmasked, so one frame fits every recipient: built once, it must be
    byte for byte what wsproto makes for a single peer, for every length encoding (7, 16, 64 bits)."""
    msg = m.ChatMessage(seq=7, ts=1700000000.5, room="#a", nick="n", text="é" * (size // 2) + "x" * (size % 2))
    frame = Frame(msg)
    line = m.encode(msg)
    server = Connection(ConnectionType.SERVER)
    assert frame.websocket == server.send(Message(data=line[:-1].decode("utf-8")))


def test_a_websocket_senders_copy_in_pieces_reads_as_its_messages_in_order() -> None:
    """A browser that sent messages in a big batch reads, through a WebSocket library, every
    message and its own receipts in queue order, whatever the pieces the batch went in."""
    sender, other = Recorder("sender", "websocket"), Recorder("other", "websocket")
    batch = big_batch(sender, receipts=True)
    dispatch(batch, {ROOM: [Member(sender, 0), Member(other, 0)]})
    client = Connection(ConnectionType.CLIENT)
    for piece in sender.calls:
        client.receive_data(bytes(piece))
    texts = [e.data for e in client.events() if isinstance(e, TextMessage)]
    expected = [(p.receipt if p.exclude is sender else p.frame).msg for p in batch]
    assert [m.decode(t.encode("utf-8")) for t in texts] == expected
