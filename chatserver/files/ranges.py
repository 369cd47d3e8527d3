"""HTTP ``Range`` (RFC 9110 §14): the one byte range a request asks for, so an interrupted download resumes."""

from __future__ import annotations

import re

_ONE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


class Unsatisfiable(Exception):
    """A range outside the file: answered 416 with the file's length."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) for a ``Range`` header, or None to send the whole file
    (no header, a header not in bytes, several ranges: RFC 9110 lets a server ignore those).
    Raises ``Unsatisfiable`` for a range that starts past the end, or a malformed one."""
    header = header.strip()
    if not header or not header.lower().startswith("bytes=") or "," in header:
        return None
    match = _ONE.fullmatch(header.replace(" ", "").lower())
    if match is None:
        raise Unsatisfiable(header)
    first, last = match.groups()
    if not first:  # bytes=-N: the last N bytes
        if not last or int(last) == 0:
            raise Unsatisfiable(header)
        return max(0, size - int(last)), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if last and int(last) < start:
        raise Unsatisfiable(header)
    if start >= size:
        raise Unsatisfiable(header)
    return start, end
