"""What every message is built from: the base Struct, the field types and the caps msgspec checks, sent defaults."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any, ClassVar

import msgspec

from ..limits import MAX_FIELD as MAX_FIELD
from ..limits import MAX_LIST
from ..limits import MAX_TEXT as MAX_TEXT

PROTOCOL_VERSION = 1

#: Integers on the wire are 64-bit signed, as SQLite keeps them.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# The field types: each one's cap is checked by msgspec as a frame is decoded.
Str = Annotated[str, msgspec.Meta(max_length=MAX_FIELD)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]  # fields ``text`` and ``message``
Int = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
#: A finite number (an integer given for one is held to 64 bits as any integer is: ``decode``).
Number = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Strs = Annotated[list[Str], msgspec.Meta(max_length=MAX_LIST)]
Ints = Annotated[list[Int], msgspec.Meta(max_length=MAX_LIST)]
Bools = Annotated[list[bool], msgspec.Meta(max_length=MAX_LIST)]


def sent(value: Any) -> Any:
    """A default that is still sent: frames leave out only the fields that are None
    (``omit_defaults`` leaves out a field equal to its default; one made by a factory
    is never equal to it, but for an empty list made by ``list``)."""
    kind = type(value)
    if kind in (str, int, float, bool) and value == kind():
        return msgspec.field(default_factory=kind)  # (a C call: no Python per message)
    if kind is list:
        return msgspec.field(default_factory=lambda: list(value))
    return msgspec.field(default_factory=lambda: value)


class Message(msgspec.Struct, tag_field="type", omit_defaults=True, gc=False):
    """Base of all frames; ``TYPE`` is the wire name (the Struct's tag)."""

    TYPE: ClassVar[str] = ""
    #: List fields cut together (entry ``i`` of each is about one thing) when the
    #: frame would be too big; the field ``more`` then counts the entries cut.
    PAGED: ClassVar[tuple[str, ...]] = ()
    #: ``PAGED`` lists holding some of the entries of the first (``Users.away``):
    #: cut to those of the entries kept.
    SUBSETS: ClassVar[frozenset[str]] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        """Messages are values: one is sent to many, and kept in the history."""
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
