"""Frames to and from bytes: ``decode`` (raising only ``InvalidFrame``), ``encode`` (newline included), JSON objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

from ..errors import InvalidFrame
from ..limits import fit
from .base import INT_MAX, INT_MIN, Message, Number
from .both import Ping, Pong
from .refusals import MUST, holds_surrogate, numbers_within_64_bits, refusal
from .registry import NUMBERS, SERVER_TYPES, AnyMessage
from .server import Accepted, ChatMessage, Private, Reply

#: Frames from and to bytes by msgspec (C): fields checked as they are read.
_decode_msg: Callable[[bytes], Message] = msgspec.json.Decoder(AnyMessage).decode
_encode_msg: Callable[[Any], bytes] = msgspec.json.Encoder().encode
#: Server frames that can hold what a receiver refuses (text made of what users typed,
#: lists of any length) are kept within the caps as they are encoded (``limits.fit``:
#: a few length checks for most). The messages that fan out are built from fields checked
#: as they came in, and are encoded by one msgspec call.
_FITTED = SERVER_TYPES - {ChatMessage, Accepted, Private, Reply, Ping, Pong}


def decode(line: bytes) -> Message:
    """Decode one frame (without its newline). Raises only ``InvalidFrame``."""
    try:
        msg = _decode_msg(line)
    except msgspec.ValidationError as exc:
        try:
            obj = msgspec.json.decode(line)
        except (msgspec.DecodeError, RecursionError):  # (nested past msgspec's depth: said below)
            pass
        else:
            raise refusal(obj, exc) from None
    except msgspec.DecodeError:
        pass  # invalid UTF-8, NaN, a lone surrogate...: the json module says what is wrong, below
    else:
        if msg.__class__ not in NUMBERS or numbers_within_64_bits(msg):
            return msg
        # msgspec reads an integer of any length into a number field: read as written, below
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidFrame(f"frame is not valid UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidFrame(f"frame is not valid JSON: {str(exc)[:80]}") from None
    return from_dict(obj)


def from_dict(obj: Any) -> Message:
    """Validate a decoded JSON value and build the message it describes."""
    if isinstance(obj, dict):
        for name, value in obj.items():
            if holds_surrogate(value):
                raise InvalidFrame(f"field {name!r} holds an unpaired surrogate")
    try:
        msg = msgspec.convert(obj, AnyMessage)
    except msgspec.ValidationError as exc:
        raise refusal(obj, exc) from None
    for name in NUMBERS.get(msg.__class__, ()):  # an integer there is held to 64 bits, as any integer is
        written = obj[name] if name in obj else None
        if isinstance(written, int) and not INT_MIN <= written <= INT_MAX:
            raise InvalidFrame(f"field {name!r} {MUST[Number]}")
    return msg


def to_dict(msg: Message) -> dict[str, Any]:
    """The frame's JSON object: ``type`` and every field but those that are None."""
    return msgspec.to_builtins(msg)  # type: ignore[no-any-return]


_encode_lines: Callable[[Any], bytes] = msgspec.json.Encoder().encode_lines


def encode_run(msgs: list[Message]) -> bytes:
    """``b"".join(map(encode, msgs))``: the same bytes, in one C call when none of them needs
    fitting (a sender's run of receipts in a batch: one encoding each was a Python call chain)."""
    for msg in msgs:
        if msg.__class__ in _FITTED:
            break
    else:
        try:
            return _encode_lines(msgs)
        except (msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError):
            pass  # (each through ``encode``'s fallback, below)
    return b"".join([encode(msg) for msg in msgs])


#: The json module's, for what msgspec will not encode (a lone surrogate: it raises as before).
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(msg: Message) -> bytes:
    """The frame for ``msg``: compact JSON plus newline (JSON escapes any newline)."""
    if msg.__class__ in _FITTED:
        msg = fit(msg)
    try:
        return _encode_msg(msg) + b"\n"
    except (msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError):
        return _encode_json(to_dict(msg)).encode() + b"\n"
