"""The room log: what a room was told, its numbering and topic, behind one interface.

The hub stamps a room message with its sequence number and ``stage``s it in
the log under the hub's lock (so a joiner's history never misses a message
that is on its way); the dispatcher ``commit``s once per batch before it
delivers, and a sender is acknowledged only for what was committed.
``MemoryLog`` keeps recent messages in this process (``--store memory``);
``store.SqliteStore`` keeps everything in a file. The hub cannot tell them
apart, and a Redis log (the cluster issue) is a third implementation.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Callable
from typing import Protocol

from common import messages as m
from common.nicks import nick_key
from common.rooms import room_key

DEFAULT_KEEP = 1000  # messages kept per room in memory
HISTORY_BYTES = 64 * 1024 * 1024  # all rooms' kept messages together, at most, in memory


@dataclasses.dataclass(frozen=True)
class StoredRoom:
    """A room as the log knows it: ``seq`` is the last number it kept."""

    name: str
    epoch: str
    seq: int
    topic: str


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


class SearchTooLong(Exception):
    """A search ran past its time budget and was stopped; the message says what to do."""


class Unavailable(Exception):
    """What the hub keeps elsewhere cannot be reached or read now (a cluster's Redis,
    a damaged store file): try again later. The message says what, in one line."""


class RoomLog(Protocol):
    #: For a log whose ``commit`` may wait on a disk, which the dispatcher then runs beside
    #: the fan-out (``core/dispatcher.py``): called with True before messages go out not yet
    #: committed, with False once all that went out is. None: committed before delivery.
    mark_ahead: Callable[[bool], None] | None

    def room(self, name: str) -> StoredRoom | None:
        """The room as last saved, or None if the log does not know it."""

    def save_room(self, room: StoredRoom) -> None:
        """A new room, or its topic changed."""

    def forget(self, name: str) -> bool:
        """The hub drops an empty room from memory; True if its messages and
        numbering go with it (so a room of that name made later is new)."""

    def stage(self, msg: m.ChatMessage) -> bool:
        """Keep ``msg`` at the next ``commit``; False if it cannot be kept."""

    def commit(self) -> set[tuple[str, int]]:
        """Make what was staged durable; returns the ``(room_key, seq)`` of
        staged messages that were *not* kept (a full disk, an I/O error)."""

    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]:
        """The last ``count`` messages of ``room`` (numbered below ``before``), oldest first."""

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding every one of ``search_terms(words)``, newest first
        (``SearchTooLong`` if it took too long, ``Unavailable`` if it cannot be read)."""

    def secret(self) -> bytes | None:
        """The server's kept resume secret, or None if nothing outlives the process."""

    # Moderation (``moderation.Sanctions`` holds them in memory and writes through):
    def sanctions(self) -> list[StoredSanction]:
        """Every kept ban and mute (expired ones included: the caller drops them)."""

    def save_sanction(self, sanction: StoredSanction) -> None:
        """Keep a ban or mute, replacing one of the same kind on the same nick."""

    def drop_sanction(self, kind: str, nick: str) -> None:
        """Forget the ``kind`` sanction on ``nick`` (lifted or expired)."""

    def grants(self) -> list[StoredGrant]:
        """Every kept ``/op`` grant."""

    def save_grant(self, grant: StoredGrant) -> None:
        """Keep a grant, replacing any on the same nick."""

    def drop_grant(self, nick: str) -> None:
        """Forget the grant on ``nick`` (``/deop``, or it moved to a new name)."""

    def close(self) -> None: ...


def search_terms(words: str) -> list[str]:
    """The words a search looks for: letters and digits; anything else (spaces,
    punctuation, quotes, control characters) separates them."""
    return re.findall(r"[^\W_]+", words)


def word_matcher(words: str) -> Callable[[str], bool] | None:
    """A test that a text holds every one of ``search_terms(words)`` as a word (any case); None for no words."""
    terms = [re.compile(rf"(?<![^\W_]){re.escape(w)}(?![^\W_])", re.IGNORECASE) for w in search_terms(words)]
    if not terms:
        return None
    return lambda text: all(t.search(text) for t in terms)


def _size(msg: m.ChatMessage) -> int:
    """A bound on a kept message's size in memory (cheap: no encoding)."""
    return 4 * len(msg.text) + 200


class _Kept:
    __slots__ = ("info", "seq", "messages", "sizes", "bytes")

    def __init__(self, room: StoredRoom) -> None:
        self.info = room  # its name, epoch and topic (its seq is ``seq``: a message only bumps that)
        self.seq = room.seq
        self.messages: collections.deque[m.ChatMessage] = collections.deque()
        self.sizes: collections.deque[int] = collections.deque()
        self.bytes = 0


class MemoryLog:
    """Recent messages in memory, within ``keep`` per room and ``history_bytes``
    for all rooms together (the room keeping the most gives up its oldest).
    Nothing outlives the process. Called under the hub's lock (moderation,
    under the ``Sanctions`` lock)."""

    mark_ahead = None  # (nothing to wait for)

    def __init__(self, keep: int = DEFAULT_KEEP, history_bytes: int = HISTORY_BYTES) -> None:
        self._keep = keep
        self._history_bytes = history_bytes
        self._total = 0
        self._rooms: dict[str, _Kept] = {}
        self._sanctions: dict[tuple[str, str], StoredSanction] = {}
        self._grants: dict[str, StoredGrant] = {}

    def room(self, name: str) -> StoredRoom | None:
        kept = self._rooms.get(room_key(name))
        if kept is None:
            return None
        return kept.info if kept.info.seq == kept.seq else dataclasses.replace(kept.info, seq=kept.seq)

    def save_room(self, room: StoredRoom) -> None:
        kept = self._rooms.get(room_key(room.name))
        if kept is None:
            self._rooms[room_key(room.name)] = _Kept(room)
        else:
            kept.info = room

    def forget(self, name: str) -> bool:
        kept = self._rooms.pop(room_key(name), None)
        if kept is not None:
            self._total -= kept.bytes
        return True

    def stage(self, msg: m.ChatMessage) -> bool:
        kept = self._rooms.get(room_key(msg.room))
        if kept is None:
            kept = self._rooms[room_key(msg.room)] = _Kept(StoredRoom(msg.room, "", 0, ""))
        kept.seq = msg.seq
        size = _size(msg)
        kept.messages.append(msg)
        kept.sizes.append(size)
        kept.bytes += size
        self._total += size
        if len(kept.messages) > self._keep:
            self._drop_oldest(kept)
        while self._total > self._history_bytes:
            victim = max(self._rooms.values(), key=lambda k: k.bytes)
            if victim is kept and len(kept.messages) == 1:
                break  # never the message just sent
            self._drop_oldest(victim)
        return True

    def _drop_oldest(self, kept: _Kept) -> None:
        kept.messages.popleft()
        size = kept.sizes.popleft()
        kept.bytes -= size
        self._total -= size

    def commit(self) -> set[tuple[str, int]]:
        return set()

    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]:
        kept = self._rooms.get(room_key(room))
        if kept is None or count <= 0:
            return []
        found = [x for x in kept.messages if before is None or x.seq < before]
        return found[-count:]

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        kept = self._rooms.get(room_key(room))
        match = word_matcher(words)
        if kept is None or match is None:
            return []
        found = [x for x in reversed(kept.messages) if match(x.text)]
        return found[:limit]

    def secret(self) -> bytes | None:
        return None

    def sanctions(self) -> list[StoredSanction]:
        return list(self._sanctions.values())

    def save_sanction(self, sanction: StoredSanction) -> None:
        self._sanctions[sanction.kind, nick_key(sanction.nick)] = sanction

    def drop_sanction(self, kind: str, nick: str) -> None:
        self._sanctions.pop((kind, nick_key(nick)), None)

    def grants(self) -> list[StoredGrant]:
        return list(self._grants.values())

    def save_grant(self, grant: StoredGrant) -> None:
        self._grants[nick_key(grant.nick)] = grant

    def drop_grant(self, nick: str) -> None:
        self._grants.pop(nick_key(nick), None)

    def close(self) -> None:
        pass
