"""Validation beyond msgspec's, and what a refused frame is told: its field, and what that field must be."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ..errors import InvalidFrame
from .base import MAX_FIELD, MAX_TEXT, Bools, Int, Ints, Message, Number, Str, Strs, Text
from .registry import FIELD_TYPES, NUMBERS, REGISTRY

_SURROGATE = re.compile("[\ud800-\udfff]")
_MISSING = re.compile(r"Object missing required field `(\w+)`$")
_AT = re.compile(r" - at `\$\.(\w+)(\[\d+\])?`$")
#: What a field of each type must be (of a list: what each entry must be), as refusals say it.
MUST: dict[Any, str] = {
    Str: "must be a string",
    Text: "must be a string",
    Int: "must be an integer of 64 bits (signed)",
    Number: "must be a finite number",
    bool: "must be a boolean",
}


def numbers_within_64_bits(msg: Message) -> bool:
    for name in NUMBERS[msg.__class__]:
        value = getattr(msg, name)  # (None: an optional number left out)
        if value is not None and not -(2.0**63) < value < 2.0**63:
            return False
    return True


def holds_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(holds_surrogate(v) for v in value)
    return False


def refusal(obj: Any, exc: msgspec.ValidationError) -> InvalidFrame:
    """The ``InvalidFrame`` for a JSON value msgspec refused as a message, saying why."""
    if not isinstance(obj, dict):
        return InvalidFrame("frame must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        return InvalidFrame("frame has no string 'type'")
    cls = REGISTRY.get(kind)
    if cls is None:
        return InvalidFrame(f"unknown message type {kind[:40]!r}", code="unknown_type")
    why = str(exc)
    if missing := _MISSING.match(why):
        return InvalidFrame(f"{kind!r} frame is missing field {missing.group(1)!r}")
    at = _AT.search(why)
    if at is None:  # pragma: no cover - every field error names its field
        return InvalidFrame(f"{kind!r} frame: {why[:80]}")
    name, entry = at.group(1), at.group(2)
    hint = FIELD_TYPES[cls].get(name)
    if hint in (Strs, Ints, Bools) and entry is None:
        return InvalidFrame(f"field {name!r} must be a list")
    if hint in (Strs, Ints, Bools):
        hint = {Strs: Str, Ints: Int, Bools: bool}[hint]
    if hint in (Str, Text) and "of length" in why:
        limit = MAX_TEXT if hint is Text else MAX_FIELD
        return InvalidFrame(f"field {name!r} is longer than {limit} characters")
    return InvalidFrame(f"field {name!r} {MUST.get(hint, 'is not valid')}")
