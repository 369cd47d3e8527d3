"""lanchat names as IRC nicks, and back: valid, unambiguous, reversible (see docs/irc.md).

A lanchat nickname may hold characters an IRC nick may not (``!``, ``@``,
``*``, ``.``...) or start with a digit or ``-``. Each such character is
shown as a backtick and its two hex digits (``a!b`` is ``a`21b``); a
backtick that would read as one of those escapes is escaped itself, so two
names never show the same way, and what an IRC client types decodes back.
"""

from __future__ import annotations

import functools
import re

#: ASCII an IRC nick may not hold (RFC 2812 and what clients parse: prefixes, masks, targets).
_FORBIDDEN = frozenset(" !@*?,.:#&$~+%'\"=;<>()/\\")
_HEX = "0123456789abcdefABCDEF"
_ESCAPE = re.compile(r"`([0-9a-fA-F]{2})")
#: The server's name in the prefix of the lines it sends itself: its ``--name`` as a token
#: (``port.IrcPort`` sets it; a process serves one chat server).
SERVER = "lanchat"
#: The host shown in every person's ``nick!user@host`` (an address is not told to everyone).
HOST = "lanchat"


@functools.lru_cache(maxsize=8192)
def irc_nick(nick: str) -> str:
    """How ``nick`` (a lanchat name) is shown to IRC clients."""
    out = []
    for i, ch in enumerate(nick):
        escape = ch in _FORBIDDEN or ord(ch) < 32 or ord(ch) == 127
        escape = escape or (i == 0 and (ch.isdigit() or ch == "-"))
        escape = escape or (ch == "`" and nick[i + 1 : i + 2] in _HEX_ONE and nick[i + 2 : i + 3] in _HEX_ONE)
        out.append(f"`{ord(ch):02X}" if escape else ch)
    return "".join(out)


_HEX_ONE = frozenset(_HEX)


def lanchat_nick(shown: str) -> str:
    """The lanchat name an IRC client means by ``shown`` (escapes decoded)."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), shown)


def prefix(nick: str) -> str:
    """``nick!user@host`` for a person."""
    shown = irc_nick(nick)
    return f"{shown}!{shown[:16]}@{HOST}"


def mode_params(mode: str, target: str | None) -> list[str]:
    """A room's mode change (``Notice.mode``) as a MODE line's parameters: ``+kl-i KEY 5`` as its
    words; ``+o`` with the person's name (``target``) as a nick."""
    if target is not None:
        return [mode, irc_nick(target)]
    return mode.split(" ")
