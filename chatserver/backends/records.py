"""The values every backend keeps and hands back: rooms, positions, sanctions, grants, people.

Plain frozen dataclasses with no behaviour, so that the interfaces
(``ports.py``), their implementations (memory, SQLite, Redis) and the core
that uses them share one vocabulary without importing each other.
"""

from __future__ import annotations

import dataclasses

from common.nicks import nick_key


@dataclasses.dataclass(frozen=True)
class StoredRoom:
    """A room as the log knows it: ``seq`` is the last number it kept."""

    name: str
    epoch: str
    seq: int
    topic: str


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a message stands in its room: its number, in the room's numbering ``epoch``
    (a room made anew, or a broker that lost its data, numbers afresh under a new epoch)."""

    seq: int
    epoch: str


@dataclasses.dataclass(frozen=True)
class StoredSanction:
    """A ban or a mute as kept (``moderation.py`` decides what they mean).

    ``kind`` is "ban" or "mute"; either is on ``nick`` and ``address`` (""
    when the person was not connected); ``until`` is wall-clock time, 0 for
    "until lifted"."""

    kind: str
    nick: str
    address: str
    by: str
    reason: str
    since: float
    until: float


@dataclasses.dataclass(frozen=True)
class StoredGrant:
    """Operator rights given with ``/op``: a reconnect of ``nick`` presenting
    the resume token whose SHA-256 is ``proof`` gets them back."""

    nick: str
    by: str
    since: float
    proof: str


@dataclasses.dataclass(frozen=True)
class Person:
    """What others are told of a connected person: a value any backend can produce,
    never the session itself."""

    nick: str
    away: str = ""
    op: bool = False
    host: bool = False  # the interactive host: runs the server, cannot be kicked
    room: str = ""
    address: str = ""  # where the session comes from (for bans)
    token: str = ""  # its resume token (an /op grant follows it across reconnects)
    #: The account it is logged in to ("" for a guest): its other devices may hold the name too.
    account: str = ""


#: Sessions one account may have at once (its devices: a terminal, a page, an IRC client...).
MAX_DEVICES = 8


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds a name: the person, and the node and session holding it; an account's
    other devices (``devices``: their (node, sid)) hold it with it."""

    person: Person
    node: str
    sid: str
    devices: tuple[tuple[str, str], ...] = ()


def same_account(one: str, other: str) -> bool:
    """Whether two sessions' accounts ("" for a guest) are one: a guest is nobody's device."""
    return bool(one) and nick_key(one) == nick_key(other)


class TooManyDevices(Exception):
    """An account has ``MAX_DEVICES`` sessions already: one more is refused."""


@dataclasses.dataclass(frozen=True)
class Gone:
    """A person's sessions on a dead node, cleared away: the rooms that must hear it left (those
    none of its sessions is in any more, each once); ``stays``: a device on a live node still
    holds the name, so the person left those rooms, not the chat."""

    nick: str
    rooms: list[str]
    stays: bool = False


class SearchTooLong(Exception):
    """A search ran past its time budget and was stopped; the message says what to do."""


class Unavailable(Exception):
    """What the hub keeps elsewhere cannot be reached or read now (a cluster's Redis,
    a damaged store file): try again later. The message says what, in one line."""
