"""What fits in one frame: the caps on every field, and a server frame kept within
them where it is built, so that no list is ever measured name by name on a join.

A receiver refuses a frame over ``DEFAULT_MAX_FRAME`` bytes and a field over its
cap (the message types declare the caps: ``msgspec.Meta(max_length=...)``, checked
as a frame is decoded), so whatever a server builds must keep within both. In a
frame a character takes at most ``WORST_BYTES_PER_CHAR`` bytes (a control character
is escaped as ``\\u001b``; one outside the BMP is 4 bytes of UTF-8), so a frame of
capped fields has a size known in advance, and so does a list of capped entries.
From that bound each type with a list the server fills (``PAGED``: the people in a
room, the rooms) gets, once, the number of entries that always fit: a welcome or a
``users`` reply names the first ``bound`` people (``first``) and counts the rest in
``more``, in a room of 5 as of 5,000, and is never measured.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

from .framing import DEFAULT_MAX_FRAME
from .nicks import MAX_NICK

MAX_TEXT = 8000  # characters in one chat message (fields ``text`` and ``message``)
MAX_FIELD = 256  # characters in any other string field, and in each string of a list
MAX_LIST = 10_000  # entries in any list a receiver takes
#: Entries in a list that is not cut to fit (``Welcome.exit_words``).
MAX_SHORT_LIST = 8
#: The most bytes one frame the server builds may take, newline included.
FRAME_BUDGET = DEFAULT_MAX_FRAME
WORST_BYTES_PER_CHAR = 6
#: Characters of each name in a list of people: a nickname's.
MAX_NAME = MAX_NICK

_LONG_FIELDS = frozenset({"text", "message"})

#: Entries ``fit`` has encoded to measure a frame (a counter for tests: frames built
#: with ``first`` are never measured).
measured = 0

T = TypeVar("T")


def field_limit(name: str) -> int:
    """Characters a string field called ``name`` may hold."""
    return MAX_TEXT if name in _LONG_FIELDS else MAX_FIELD


def clip(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters; a cut one ends with "…" to say so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bound(cls: type) -> int:
    """How many people a frame of ``cls`` names, whoever they are (see ``first``)."""
    return _plan(cls).names_bound


def first(cls: type, entries: Sequence[T]) -> tuple[Sequence[T], int]:
    """The entries a frame of ``cls`` lists, about people (each named in at most ``MAX_NAME``
    characters), whoever they are: the first ``bound``; and how many are left out."""
    bound = _plan(cls).names_bound
    return entries[:bound], max(0, len(entries) - bound)


def fit(msg: Any) -> Any:
    """``msg`` within the caps (the same message when it is): every string cut to its field's
    cap, every list but the ``PAGED`` ones to ``MAX_SHORT_LIST`` entries, and the ``PAGED``
    lists, when longer than the bound the caps give, to the entries that fit, adding those it
    left out to ``more``."""
    plan = _plan(type(msg))
    changes: dict[str, Any] = {}
    for name, limit in plan.strings:
        value = getattr(msg, name)
        if value is not None and len(value) > limit:
            changes[name] = clip(value, limit)
    for name in plan.shorts:
        value = getattr(msg, name)
        if value is not None and (len(value) > MAX_SHORT_LIST or any(_over(v, MAX_FIELD) for v in value)):
            changes[name] = [clip(v, MAX_FIELD) if isinstance(v, str) else v for v in value[:MAX_SHORT_LIST]]
    if changes:
        msg = msgspec.structs.replace(msg, **changes)
    if plan.paged and not _within_bound(msg, plan):
        msg = _cut_to_fit(msg, plan)
    return msg


def _over(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) > limit


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What ``fit`` checks in messages of one type, and the bounds their caps give."""

    strings: tuple[tuple[str, int], ...]  # string fields and their caps
    shorts: tuple[str, ...]  # lists cut to ``MAX_SHORT_LIST``
    paged: tuple[str, ...]
    subsets: frozenset[str]
    #: Entries of the ``PAGED`` lists that always fit, whatever they hold (each within its cap)...
    bound: int
    #: ... and when each string entry is a name (at most ``MAX_NAME`` characters).
    names_bound: int


def _worst(info: inspect.Type, chars: int | None = None) -> Any:
    """The value of a field of type ``info`` that takes the most bytes in a frame."""
    if isinstance(info, inspect.StrType):
        return "\x00" * (chars if chars is not None else info.max_length or MAX_FIELD)
    if isinstance(info, inspect.IntType):
        return info.ge if info.ge is not None else -(2**63)
    if isinstance(info, inspect.FloatType):
        return -sys.float_info.max
    if isinstance(info, inspect.BoolType):
        return False
    if isinstance(info, inspect.UnionType):
        values = [_worst(t, chars) for t in info.types if not isinstance(t, inspect.NoneType)]
        return max(values, key=lambda v: len(msgspec.json.encode(v)))
    if isinstance(info, inspect.ListType):
        return [_worst(info.item_type, chars)] * MAX_SHORT_LIST
    if isinstance(info, inspect.StructType):  # (a nested record: a shared file's)
        return info.cls(**{f.name: _worst(f.type, chars) for f in info.fields})
    raise TypeError(f"no worst case for {info!r}")  # pragma: no cover - a new field type: teach it here


def _item(info: inspect.Type) -> inspect.Type:
    """The entry type of a list field (``X`` of ``list[X] | None``)."""
    if isinstance(info, inspect.UnionType):
        (info,) = (t for t in info.types if not isinstance(t, inspect.NoneType))
    assert isinstance(info, inspect.ListType)
    return info.item_type


@functools.cache
def _plan(cls: type) -> _Plan:
    fields = {f.name: inspect.type_info(f.type) for f in msgspec.structs.fields(cls)}
    strings = []
    lists = []
    for name, info in fields.items():
        kinds = info.types if isinstance(info, inspect.UnionType) else (info,)
        if any(isinstance(k, inspect.StrType) for k in kinds):
            strings.append((name, next(k.max_length for k in kinds if isinstance(k, inspect.StrType))))
        elif any(isinstance(k, inspect.ListType) for k in kinds):
            lists.append(name)
    paged = tuple(cls.PAGED)  # type: ignore[attr-defined]
    worst = {name: _worst(info) for name, info in fields.items()} | {name: [] for name in paged}
    base = len(msgspec.json.encode(cls(**worst))) + 1  # (the newline)

    def bound(chars: int | None) -> int:
        entry = sum(len(msgspec.json.encode(_worst(_item(fields[name]), chars))) + 1 for name in paged)
        return (FRAME_BUDGET - base) // entry if paged else 0

    return _Plan(
        strings=tuple(strings),
        shorts=tuple(name for name in lists if name not in paged),
        paged=paged,
        subsets=frozenset(cls.SUBSETS),  # type: ignore[attr-defined]
        bound=bound(None),
        names_bound=bound(MAX_NAME),
    )


def _within_bound(msg: Any, plan: _Plan) -> bool:
    """Whether the ``PAGED`` lists fit as they are, by the bound alone (a check of each
    entry's length, of at most a few hundred)."""
    count = len(getattr(msg, plan.paged[0]))
    for bound, limit in ((plan.bound, MAX_FIELD), (plan.names_bound, MAX_NAME)):
        if count <= bound and not any(_over(v, limit) for name in plan.paged for v in getattr(msg, name)):
            return True
    return False


def _cut_to_fit(msg: Any, plan: _Plan) -> Any:
    """The ``PAGED`` lists cut to the entries that fit, each measured once, in order."""
    global measured
    encode = msgspec.json.encode
    lists = [getattr(msg, name) for name in plan.paged]
    leader = lists[0]
    count = len(leader)
    # The rest of the frame, with ``more`` at its largest (never more digits than that).
    empty = {name: [] for name in plan.paged}
    size = len(encode(msgspec.structs.replace(msg, **empty, more=msg.more + count))) + 1
    measured += 1
    marked = {name: set(getattr(msg, name)) for name in plan.subsets}
    kept: dict[str, list[Any]] = {name: [] for name in plan.paged}
    keep = 0
    for i in range(count):
        row = {}
        for name, value in zip(plan.paged, lists, strict=True):
            if name in plan.subsets or i >= len(value):
                continue
            entry = value[i]
            row[name] = clip(entry, MAX_FIELD) if _over(entry, MAX_FIELD) else entry
        row.update({name: row[plan.paged[0]] for name, marks in marked.items() if leader[i] in marks})
        cost = sum(len(encode(entry)) + 1 for entry in row.values())
        measured += len(row)
        if size + cost > FRAME_BUDGET:
            break
        size += cost
        keep += 1
        for name, entry in row.items():
            kept[name].append(entry)
    return msgspec.structs.replace(msg, **kept, more=msg.more + count - keep)
