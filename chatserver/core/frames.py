"""A message encoded at most once per wire format, however many receive it: ``Frame`` and the table of wires.

The fan-out hands a batch to every member in its wire format (``Participant.wire``):
each frame is encoded once per format, the first time a member needs it, and the
bytes are kept in the frame. The built-in formats are the native JSON line and the
plain text lines; a transport adds its own (``add_wire``: the WebSocket's, the IRC port's).
"""

from __future__ import annotations

from collections.abc import Callable

from common import messages as m
from common.messages.codec import encode_run
from common.plain import render_plain

#: Wire formats: name -> its encoding of a frame, made once per frame: the built-in ones
#: (below) and those a transport adds (``add_wire``).
_WIRES: dict[str, Callable[[Frame], bytes]] = {}


def add_wire(name: str, encode: Callable[[Frame], bytes]) -> None:
    """A transport's own wire format (the WebSocket's; an IRC port's): ``getattr(frame, name)``
    is then ``encode(frame)``, made on first use and kept, as the built-in ones are."""
    if name in _WIRES or hasattr(Frame, name):
        raise ValueError(f"wire format {name!r} exists already")
    _WIRES[name] = encode


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


def run_bytes(frames: list[Frame], wire: str) -> bytes:
    """``b"".join(wire_bytes(f, wire) for f in frames)``, made in one call for a wire that can
    (``_RUNS``: the native one) when these frames are not encoded yet (a sender's receipts)."""
    many = _RUNS.get(wire)
    if many is None or len(frames) == 1 or any(wire in f.__dict__ for f in frames):
        return b"".join([wire_bytes(f, wire) for f in frames])
    return many(frames)


_WIRES["native"] = lambda frame: m.encode(frame.msg)
#: Wires that encode several frames in one call (the bytes ``wire_bytes`` gives each, one after another).
_RUNS: dict[str, Callable[[list[Frame]], bytes]] = {"native": lambda frames: encode_run([f.msg for f in frames])}
_WIRES["plain"] = lambda frame: (render_plain(frame.msg) + "\r\n").encode("utf-8")
_WIRES["plain_rooms"] = lambda frame: (render_plain(frame.msg, with_room=True) + "\r\n").encode("utf-8")
