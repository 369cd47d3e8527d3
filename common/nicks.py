"""Nickname rules and the exit-word rule, shared by server and client."""

from __future__ import annotations

import unicodedata

from .errors import RemoteProtocolError
from .lookalike import describe, hidden_character, identity, looks_like, mixes_scripts

MAX_NICK = 32
# A nickname may not start with these: '{' is how the server recognises the
# native client's first frame, '/' starts a command, '#' a room, '*' a notice,
# '(' the marks "(private)", "(history)" and the client's own "(you)".
_BAD_START = "{/#*@("
#: Names the client shows for you yourself ("You: ..."): nobody may be called
#: that, in any case or look-alike.
RESERVED_NICKS = ("You",)
# ':' would make the plain-line form "NICK: text" ambiguous.
_BAD_CHARS = ":,"


class InvalidNick(RemoteProtocolError):
    code = "invalid_nick"


def nick_problem(nick: str) -> str | None:
    """Why ``nick`` is not acceptable, or ``None`` if it is."""
    if not nick:
        return "a nickname cannot be empty"
    if len(nick) > MAX_NICK:
        return f"a nickname has at most {MAX_NICK} characters"
    hidden = hidden_character(nick)
    if hidden is not None:
        return f"a nickname cannot contain spaces, control or invisible characters ({describe(hidden)})"
    for ch in _BAD_CHARS:
        if ch in nick:
            return f"a nickname cannot contain {ch!r}"
    if mixes_scripts(nick):  # "аlice" with a Cyrillic а looks exactly like "alice"
        return "a nickname cannot mix Latin, Greek and Cyrillic letters"
    if nick[0] in _BAD_START:
        return f"a nickname cannot start with {nick[0]!r}"
    if unicodedata.category(nick[0]).startswith("M"):
        return "a nickname cannot start with a combining mark"
    for reserved in RESERVED_NICKS:
        if looks_like(nick, reserved):
            return f"{reserved!r} is reserved: the client shows your own lines under that name"
    return None


def validate_nick(nick: str) -> str:
    """Return the nickname in NFC form, or raise ``InvalidNick`` saying why."""
    nick = unicodedata.normalize("NFC", nick)
    problem = nick_problem(nick)
    if problem:
        raise InvalidNick(problem)
    return nick


def nick_key(nick: str) -> str:
    """Identity of a nickname: names that differ by case, normalisation or a
    whole-script look-alike (``аӏісе`` for ``alice``) are one name."""
    return identity(nick)


def is_exit_word(text: str, words: tuple[str, ...] | list[str] = ("bye",)) -> bool:
    """True for "bye", " Bye! ", "BYE..." — trimmed, lower-cased, trailing punctuation off."""
    word = text.strip().lower()
    while word and unicodedata.category(word[-1]).startswith("P"):
        word = word[:-1]
    return word in words
