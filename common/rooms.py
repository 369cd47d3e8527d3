"""Room names: ``#`` and up to 32 letters, digits, ``-``, ``_`` or ``.``."""

from __future__ import annotations

import re
import unicodedata

from .errors import RemoteProtocolError
from .lookalike import describe, hidden_character, identity, mixes_scripts

MAX_ROOM = 32
MAX_TOPIC = 200
_ROOM = re.compile(r"#[\w.-]{1,32}")


class InvalidRoom(RemoteProtocolError):
    code = "invalid_room"


def validate_room(name: str) -> str:
    """The room name in NFC form (``#`` added if missing), or ``InvalidRoom``."""
    name = unicodedata.normalize("NFC", name.strip())
    if name and not name.startswith("#"):
        name = "#" + name
    hidden = hidden_character(name)
    if hidden is not None:  # (a Hangul filler is even a "letter" to \w)
        raise InvalidRoom(f"a room name cannot contain invisible characters ({describe(hidden)})")
    if not _ROOM.fullmatch(name):
        raise InvalidRoom(f"a room name is '#' and 1-{MAX_ROOM} letters, digits, '-', '_' or '.'")
    if mixes_scripts(name):
        raise InvalidRoom("a room name cannot mix Latin, Greek and Cyrillic letters")
    return name


def room_key(name: str) -> str:
    """Identity of a room: names differing by case, normalisation or a
    whole-script look-alike are one room."""
    return identity(name)


def one_line(text: str) -> str:
    """A topic, reason or away text as one line of at most ``MAX_TOPIC``
    characters: nothing in it can pass for a notice on a line of its own."""
    return " ".join(text.split())[:MAX_TOPIC]
