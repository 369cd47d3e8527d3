"""IRC lines: built (tags, source, command, parameters) within 512 bytes, split on a character boundary, and parsed.

Everything here is bytes-exact: a line is at most 512 bytes with its CRLF
(RFC 1459), tags apart (IRCv3 message-tags: at most 8,191 more bytes from a
client, 4,094 from the server); text too long for one line is cut between
characters, never inside one.
"""

from __future__ import annotations

import dataclasses
import time

#: A line's longest, CRLF included, tags not counted.
MAX_LINE = 512
#: The tags of a client's line, at most, without the ``@`` and the space after them (IRCv3 message-tags:
#: a client sends at most 4,094 bytes of them; the 8,191 of the spec are the server's own and the client's).
MAX_CLIENT_TAGS = 4094
_TAG_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
#: Characters that may not stand in a parameter (they end or break the line).
_BREAKS = str.maketrans({"\r": None, "\n": " ", "\0": None})


def irc_time(ts: float) -> str:
    """``server-time``'s form: ``2026-12-07T14:43:59.123Z``, cut to the millisecond once rounded to the
    microsecond, so a time given in whole milliseconds comes back as given (``.123``, not the ``.122``
    a float's ``0.12299999`` made: a read marker was echoed a millisecond early)."""
    whole, micros = divmod(round(ts * 1_000_000), 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros // 1000:03d}Z"


def tag_text(tags: dict[str, str]) -> str:
    """``@a=b;c `` for ``tags`` (empty: ``""``)."""
    if not tags:
        return ""
    return "@" + ";".join(f"{k}={v.translate(_TAG_ESCAPES)}" if v else k for k, v in tags.items()) + " "


def client_tags(tags: dict[str, str]) -> str | None:
    """A client's client-only tags (``+name``; the others are the server's to give, and dropped), as
    IRC escapes them: ``+a=b;+c`` (None: none)."""
    kept = [f"{k}={v.translate(_TAG_ESCAPES)}" if v else k for k, v in tags.items() if k.startswith("+") and len(k) > 1]
    return ";".join(kept) or None


def with_client_tags(tags: str, more: str | None) -> str:
    """``tags`` (as ``tag_text`` made them) with a message's client-only tags after them."""
    if not more:
        return tags
    return f"{tags[:-1]};{more} " if tags else f"@{more} "


def build(command: str, *params: str, source: str | None = None, tags: str = "") -> str:
    """One line without its CRLF; ``tags`` as ``tag_text`` made it. The last parameter is
    trailing (``:``) when it must be; no parameter can break the line."""
    parts = [f":{source}"] if source else []
    parts.append(command)
    clean = [p.translate(_BREAKS) for p in params]
    for p in clean[:-1]:
        parts.append(p.replace(" ", "_") or "*")  # (a middle parameter holds no space)
    if clean:
        last = clean[-1]
        parts.append(f":{last}" if not last or " " in last or last.startswith(":") else last)
    return tags + " ".join(parts)


def encode(lines: list[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("utf-8", "replace")


def cut(text: str, budget: int) -> list[str]:
    """``text`` in pieces of at most ``budget`` UTF-8 bytes each, cut between characters."""
    data = text.encode("utf-8", "replace")
    if len(data) <= budget:
        return [text]
    pieces = []
    start = 0
    while start < len(data):
        end = min(len(data), start + max(budget, 4))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # inside a character: back to its start
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


def text_lines(command: str, source: str, target: str, text: str, *, action: bool = False, tags: str = "") -> list[str]:
    """A message as IRC lines: one per line of ``text``, each line cut to fit 512 bytes."""
    head = len(f":{source} {command} {target} :".encode())
    budget = MAX_LINE - 2 - head - (len("\x01ACTION \x01") if action else 0)
    out = []
    for line in text.split("\n"):
        line = line.replace("\r", "").replace("\0", "")
        if not line.strip():
            continue
        for piece in cut(line, budget):
            body = f"\x01ACTION {piece}\x01" if action else piece
            out.append(tags + f":{source} {command} {target} :{body}")
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Parsed:
    """A client's line: its tags, command (upper case) and parameters."""

    tags: dict[str, str]
    command: str
    params: list[str]


def parse(line: str) -> Parsed | None:
    """A client's line (without CRLF), or None for an empty one. A source a client gives is ignored."""
    tags: dict[str, str] = {}
    rest = line.lstrip(" ")
    if rest.startswith("@"):
        raw, _, rest = rest.partition(" ")
        for item in raw[1:].split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = _unescape(value)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip(" ")
    if not rest:
        return None
    trailing = None
    if " :" in rest:
        rest, trailing = rest.split(" :", 1)
    elif rest.startswith(":"):
        rest, trailing = "", rest[1:]
    words = rest.split()
    if not words:
        return None
    params = words[1:] + ([trailing] if trailing is not None else [])
    return Parsed(tags, words[0].upper(), params)


def _unescape(value: str) -> str:
    out = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_TAG_UNESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)
