"""Nickname rules and the exit-word rule, shared by server and client."""

from __future__ import annotations

import unicodedata

from .errors import RemoteProtocolError

MAX_NICK = 32
# A nickname may not start with these: '{' is how the server recognises the
# native client's first frame, '/' starts a command, '#' a room, '*' a notice.
_BAD_START = "{/#*@"
# ':' would make the plain-line form "NICK: text" ambiguous.
_BAD_CHARS = ":,"
# Marks that change nothing visible: grapheme joiner, variation selectors.
_INVISIBLE_MARKS = frozenset("\u034f\u180b\u180c\u180d\u180f" + "".join(chr(c) for c in range(0xFE00, 0xFE10)))
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


class InvalidNick(RemoteProtocolError):
    code = "invalid_nick"


def nick_problem(nick: str) -> str | None:
    """Why ``nick`` is not acceptable, or ``None`` if it is."""
    if not nick:
        return "a nickname cannot be empty"
    if len(nick) > MAX_NICK:
        return f"a nickname has at most {MAX_NICK} characters"
    scripts = set()
    for ch in nick:
        cat = unicodedata.category(ch)
        if ch.isspace() or cat[0] in "CZ" or ch in _INVISIBLE_MARKS:
            return "a nickname cannot contain spaces, control or invisible characters"
        if ch in _BAD_CHARS:
            return f"a nickname cannot contain {ch!r}"
        if cat[0] == "L":
            script = unicodedata.name(ch, "?").split()[0]
            if script in _CONFUSABLE_SCRIPTS:
                scripts.add(script)
    if len(scripts) > 1:  # "аlice" with a Cyrillic а looks exactly like "alice"
        return "a nickname cannot mix Latin, Greek and Cyrillic letters"
    if nick[0] in _BAD_START:
        return f"a nickname cannot start with {nick[0]!r}"
    return None


def validate_nick(nick: str) -> str:
    """Return the nickname in NFC form, or raise ``InvalidNick`` saying why."""
    nick = unicodedata.normalize("NFC", nick)
    problem = nick_problem(nick)
    if problem:
        raise InvalidNick(problem)
    return nick


def nick_key(nick: str) -> str:
    """Identity of a nickname: names that differ by case or normalisation clash."""
    return unicodedata.normalize("NFKC", nick).casefold()


def is_exit_word(text: str, words: tuple[str, ...] | list[str] = ("bye",)) -> bool:
    """True for "bye", " Bye! ", "BYE..." — trimmed, lower-cased, trailing punctuation off."""
    word = text.strip().lower()
    while word and unicodedata.category(word[-1]).startswith("P"):
        word = word[:-1]
    return word in words
