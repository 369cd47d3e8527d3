"""What fits in one frame: the caps on every field, and how a list too long for
one frame is cut to fit.

A receiver refuses a frame over ``DEFAULT_MAX_FRAME`` bytes and a field over
its character limit, so whatever a server builds must keep within both. Text
fields are capped in characters (``field_limit``). In a frame a character
takes at most ``WORST_BYTES_PER_CHAR`` bytes (a control character is escaped
as ``\\u001b``; one outside the BMP is 4 bytes of UTF-8), so a frame of capped
fields has a size known in advance; lists, whose length is up to the server,
are cut (``largest_fitting``) and the frame says how many entries it left out.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from .framing import DEFAULT_MAX_FRAME

MAX_TEXT = 8000  # characters in one chat message (fields ``text`` and ``message``)
MAX_FIELD = 256  # characters in any other string field, and in each string of a list
#: Entries in a list that is not cut to fit (``Welcome.exit_words``).
MAX_SHORT_LIST = 8
#: The most bytes one frame the server builds may take, newline included.
FRAME_BUDGET = DEFAULT_MAX_FRAME
WORST_BYTES_PER_CHAR = 6

_LONG_FIELDS = frozenset({"text", "message"})


def field_limit(name: str) -> int:
    """Characters a string field called ``name`` may hold."""
    return MAX_TEXT if name in _LONG_FIELDS else MAX_FIELD


def clip(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters; a cut one ends with "…" to say so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def largest_fitting(count: int, fits: Callable[[int], bool]) -> int:
    """The largest ``k <= count`` with ``fits(k)``, for ``fits`` true at 0 and
    false from some point on (keeping fewer entries never makes a frame bigger)."""
    low, high = 0, count  # fits(low) holds; the answer is in [low, high]
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


class Fitter:
    """Keeps the messages of one server-to-client type within the limits.

    Called on each new message (``Message.__post_init__``), it cuts every
    string to its field's limit, every list but the ``PAGED`` ones to
    ``MAX_SHORT_LIST`` entries, and, if the frame (``encode(msg)``) is still
    over ``FRAME_BUDGET``, the ``PAGED`` lists to the most entries that fit,
    adding those it left out to the message's ``more``.
    """

    def __init__(self, cls: type, encode: Callable[[Any], bytes]) -> None:
        hints = typing.get_type_hints(cls)
        self.encode = encode
        self.strings: list[tuple[str, int]] = []
        self.lists: list[tuple[str, int | None]] = []  # (name, limit of each string entry)
        self.short: list[str] = []  # lists capped by count
        self.paged: tuple[str, ...] = cls.PAGED
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if typing.get_origin(tp) in (Union, types.UnionType):
                tp = next(a for a in typing.get_args(tp) if a is not type(None))
            if tp is str:
                self.strings.append((f.name, field_limit(f.name)))
            elif typing.get_origin(tp) is list:
                (item,) = typing.get_args(tp)
                self.lists.append((f.name, field_limit(f.name) if item is str else None))
                if f.name not in self.paged:
                    self.short.append(f.name)
        self.within = self._within() if not self.lists and not self.paged else None

    def _within(self) -> Callable[[Any], bool]:
        """For a type of strings only (a chat message, a receipt): one expression, true when
        every string is within its limit, so the usual message costs no loop (the fitter was
        a tenth of the fan-out's samples)."""
        tests = " and ".join(
            f"((v := msg.{name}).__class__ is not str or len(v) <= {limit})" for name, limit in self.strings
        )
        code = f"def within(msg):\n    return {tests or 'True'}\n"
        scope: dict[str, Any] = {}
        exec(compile(code, f"<fitter {self.__class__.__name__}>", "exec"), scope)  # noqa: S102 - names from fields
        return scope["within"]

    def __call__(self, msg: Any) -> None:
        if self.within is not None and self.within(msg):
            return
        for name, limit in self.strings:
            value = getattr(msg, name)
            if isinstance(value, str) and len(value) > limit:
                object.__setattr__(msg, name, clip(value, limit))
        for name in self.short:
            value = getattr(msg, name)
            if len(value) > MAX_SHORT_LIST:
                object.__setattr__(msg, name, list(value[:MAX_SHORT_LIST]))
        for name, limit in self.lists:
            value = getattr(msg, name)
            if limit is not None and any(isinstance(v, str) and len(v) > limit for v in value):
                object.__setattr__(msg, name, [clip(v, limit) if isinstance(v, str) else v for v in value])
        if self.paged and len(self.encode(msg)) > FRAME_BUDGET:
            self._cut_to_fit(msg)

    def _cut_to_fit(self, msg: Any) -> None:
        lists = {name: list(getattr(msg, name)) for name in self.paged}
        total = len(lists[self.paged[0]])
        more: int = msg.more

        def fits(keep: int) -> bool:
            for name, value in msg._cut(lists, keep).items():
                object.__setattr__(msg, name, value)
            object.__setattr__(msg, "more", more + total - keep)
            return len(self.encode(msg)) <= FRAME_BUDGET

        # With none listed it fits: every other field is capped (tests/test_frame_limits.py).
        fits(largest_fitting(total, fits))
