"""Room names: ``#`` and up to 32 letters, digits, ``-``, ``_`` or ``.``."""

from __future__ import annotations

import re
import unicodedata

from .errors import RemoteProtocolError

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
    if not _ROOM.fullmatch(name):
        raise InvalidRoom(f"a room name is '#' and 1-{MAX_ROOM} letters, digits, '-', '_' or '.'")
    return name


def room_key(name: str) -> str:
    """Identity of a room: names differing by case or normalisation are one room."""
    return unicodedata.normalize("NFKC", name).casefold()
