"""A message encoded at most once per wire format, however many receive it: ``Frame`` and the table of wires.

The fan-out hands a batch to every member in its wire format (``Participant.wire``):
each frame is encoded once per format, the first time a member needs it, and the
bytes are kept in the frame. The built-in formats are the native JSON line and the
plain text lines; a transport adds its own (``add_wire``: the WebSocket's, the IRC port's).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from common import messages as m
from common.messages.codec import encode_run
from common.plain import render_plain

#: Wire formats: name -> its encoding of a frame, made once per frame: the built-in ones
#: (below) and those a transport adds (``add_wire``).
_WIRES: dict[str, Callable[[Frame], bytes]] = {}

Run = Callable[[list["Frame"]], list[bytes]]
"""A wire's encoding of several frames in one call: the bytes ``wire_bytes`` gives each, in order."""

#: Wires that encode a run of frames in one call (``run_chunks``): a batch's hundreds of
#: messages cost one call chain, not one each (the fan-out's largest cost per message after
#: the store's, at 50 recipients a message).
_RUNS: dict[str, Run] = {}


def add_wire(name: str, encode: Callable[[Frame], bytes], run: Run | None = None) -> None:
    """A transport's own wire format (the WebSocket's; an IRC port's): ``getattr(frame, name)``
    is then ``encode(frame)``, made on first use and kept, as the built-in ones are; ``run``, if
    given, encodes a batch's frames in one call (``run_chunks``), each as ``encode`` would."""
    if name in _WIRES or hasattr(Frame, name):
        raise ValueError(f"wire format {name!r} exists already")
    _WIRES[name] = encode
    if run is not None:
        _RUNS[name] = run


class Frame:
    """A message encoded at most once per wire format, however many receive it.

    The wire formats are its attributes, each made on first use and kept in
    the instance (a plain attribute from then on: no descriptor, no lock, as
    ``functools.cached_property`` takes on Python 3.11): ``native`` (a JSON
    line), ``plain`` and ``plain_rooms`` (text lines), and those the
    transports add (``add_wire``: ``websocket``)."""

    __slots__ = ("msg", "__dict__")

    native: bytes
    plain: bytes
    #: The plain line for a session in several rooms: a room's line names it first.
    plain_rooms: bytes

    def __init__(self, msg: m.Message) -> None:
        self.msg = msg

    @property
    def size(self) -> int:
        """A bound on its size in memory while queued (cheap: no encoding)."""
        return 4 * len(getattr(self.msg, "text", None) or "") + 200  # (an ``Accepted``'s may be None)

    def __getattr__(self, wire: str) -> bytes:
        """A wire format not made yet (looked up only until it is made: then it is kept)."""
        encode = _WIRES.get(wire)
        if encode is None:
            raise AttributeError(wire)
        data = self.__dict__[wire] = encode(self)
        return data


def wire_bytes(frame: Frame, wire: str) -> bytes:
    """``getattr(frame, wire)`` for the fan-out's loops: a frame seen for the first time
    (most are) is encoded at once, without a failed attribute lookup first."""
    made = frame.__dict__
    data = made.get(wire)
    if data is None:
        data = made[wire] = _WIRES[wire](frame)
    return data


def receipt_frames(
    frames: list[Frame], msgs: list[m.Message], receipts: list[Callable[[m.Message], m.Message] | None]
) -> list[Frame | None]:
    """What the sender of each of ``frames`` (``msgs``' frames) gets in its message's place:
    ``receipts[i](msgs[i])``'s frame (None: nothing), the message's own frame when that is the
    message itself (an IRC client's echo-message: encoded once, not twice); for a run with one
    receipt, without a Python call of ours per message but the receipt's."""
    n = len(frames)
    receipt = receipts[0] if receipts else None
    if receipts.count(receipt) != n:  # (each its own)
        return [
            None if k is None else f if (made := k(x)) is x else Frame(made)
            for f, x, k in zip(frames, msgs, receipts, strict=True)
        ]
    if receipt is None:
        return [None] * n
    made = list(map(receipt, msgs))
    same = list(map(operator.is_, made, msgs))
    if all(same):
        return list(frames)
    if not any(same):
        return list(map(Frame, made))
    return [f if s else Frame(x) for f, s, x in zip(frames, same, made, strict=True)]


def run_chunks(frames: list[Frame], wire: str) -> list[bytes]:
    """``[wire_bytes(f, wire) for f in frames]``, made in one call for a wire that can (``_RUNS``),
    each frame keeping its bytes as ``wire_bytes`` keeps them (the WebSocket's wire reads the
    native one). A frame encoded already is encoded again: the same bytes."""
    many = _RUNS.get(wire)
    if many is None or len(frames) == 1:
        return [wire_bytes(f, wire) for f in frames]
    chunks = many(frames)
    for frame, data in zip(frames, chunks, strict=True):
        frame.__dict__[wire] = data
    return chunks


def run_bytes(frames: list[Frame], wire: str) -> bytes:
    """``b"".join(wire_bytes(f, wire) for f in frames)`` (a sender's receipts side by side), in one
    call for a wire that can (``run_chunks``)."""
    return b"".join(run_chunks(frames, wire))


def _native_run(frames: list[Frame]) -> list[bytes]:
    """The native lines of ``frames`` from one msgspec call (``encode_run``), cut at their
    newlines: a JSON line holds none but its last (JSON escapes both CR and LF)."""
    chunks = encode_run([f.msg for f in frames]).splitlines(keepends=True)
    if len(chunks) != len(frames):  # pragma: no cover - (every frame is one line: never)
        return [m.encode(f.msg) for f in frames]
    return chunks


def _plain_run(frames: list[Frame], with_room: bool = False) -> list[bytes]:
    """The plain lines of ``frames``: the usual room message (said, not replayed, its name, text
    and room printable, so ``neutralise`` leaves them as they are) written in place, anything
    else by ``render_plain``: the same bytes either way (``tests/test_fanout_pieces.py``)."""
    out = []
    chat = m.ChatMessage
    for frame in frames:
        msg = frame.msg
        if msg.__class__ is chat and not msg.action and not msg.replay:
            nick, text, room = msg.nick, msg.text, msg.room
            if text.isprintable() and nick.isprintable():
                if not with_room:
                    out.append(f"{nick}: {text}\r\n".encode())
                    continue
                if room and room.isprintable():
                    out.append(f"[{room}] {nick}: {text}\r\n".encode())
                    continue
        out.append((render_plain(msg, with_room) + "\r\n").encode("utf-8"))
    return out


_WIRES["native"] = lambda frame: m.encode(frame.msg)
_RUNS["native"] = _native_run
_WIRES["plain"] = lambda frame: (render_plain(frame.msg) + "\r\n").encode("utf-8")
_RUNS["plain"] = _plain_run
_WIRES["plain_rooms"] = lambda frame: (render_plain(frame.msg, with_room=True) + "\r\n").encode("utf-8")
_RUNS["plain_rooms"] = lambda frames: _plain_run(frames, with_room=True)
