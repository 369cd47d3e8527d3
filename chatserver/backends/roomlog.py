"""The memory broker: recent room messages, their numbering and topics in this process.

The hub ``publish``es a room message to its broker under the hub's lock (so
a joiner's history never misses a message that is on its way); the
dispatcher ``commit``s once per batch before it delivers, and a sender is
acknowledged only for what was committed. ``MemoryBroker`` is the ``--store
memory`` broker (``ports.Broker``); ``store.SqliteStore`` and the cluster's
``RedisBroker`` are the others, and the hub cannot tell them apart. The search
helpers here are shared by the brokers that search without an index.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import secrets
import threading
from collections.abc import Callable

import msgspec

from chatserver.backends.follow import FOLLOW_PAGE, Followers
from chatserver.backends.records import (  # noqa: F401 - (the records' old home: rules import them from here)
    Position,
    SearchTooLong,
    StoredGrant,
    StoredRoom,
    StoredSanction,
    Unavailable,
)
from common import messages as m
from common.rooms import room_key

DEFAULT_KEEP = 1000  # messages kept per room in memory
HISTORY_BYTES = 64 * 1024 * 1024  # all rooms' kept messages together, at most, in memory


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


class MemoryBroker:
    """Recent messages in memory, within ``keep`` per room and ``history_bytes``
    for all rooms together (the room keeping the most gives up its oldest).
    Nothing outlives the process. Written under the hub's lock (rooms taken up and let go of
    outside it); read from any thread."""

    def __init__(self, keep: int = DEFAULT_KEEP, history_bytes: int = HISTORY_BYTES) -> None:
        self._keep = keep
        self._history_bytes = history_bytes
        self._total = 0
        self._rooms: dict[str, _Kept] = {}
        self._followers = Followers()
        #: Held while the rooms change (publishing under the hub's lock, a room taken up or
        #: let go of outside it): never across anything slow.
        self._lock = threading.Lock()

    def room(self, name: str) -> StoredRoom | None:
        kept = self._rooms.get(room_key(name))
        if kept is None:
            return None
        return kept.info if kept.info.seq == kept.seq else dataclasses.replace(kept.info, seq=kept.seq)

    def save_room(self, room: StoredRoom) -> None:
        with self._lock:
            kept = self._rooms.get(room_key(room.name))
            if kept is None:
                self._rooms[room_key(room.name)] = _Kept(room)
            else:
                kept.info = dataclasses.replace(room, epoch=kept.info.epoch)  # (its numbering stays)

    def ensure(self, name: str) -> tuple[StoredRoom, str]:
        with self._lock:
            kept = self._rooms.get(room_key(name))
            if kept is None:
                kept = self._rooms[room_key(name)] = _Kept(StoredRoom(name, secrets.token_hex(6), 0, ""))
        stored = self.room(name) or kept.info
        return stored, str(stored.seq)

    def forget(self, name: str) -> bool:
        with self._lock:
            kept = self._rooms.pop(room_key(name), None)
            if kept is not None:
                self._total -= kept.bytes
        return True

    def behind(self, rooms: dict[str, int]) -> list[str]:
        return []  # (numbered here: never behind what it numbered)

    def publish(self, msg: m.ChatMessage) -> Position:
        with self._lock:
            kept = self._rooms.get(room_key(msg.room))
            if kept is None:
                kept = self._rooms[room_key(msg.room)] = _Kept(StoredRoom(msg.room, secrets.token_hex(6), 0, ""))
            seq = kept.seq + 1
            if msg.seq != seq:
                msg = msgspec.structs.replace(msg, seq=seq)
            self._keep_message(kept, msg)
        self._followers.published()
        return Position(seq, kept.info.epoch)

    def publish_many(self, msgs: list[m.ChatMessage]) -> Position:
        with self._lock:
            name = msgs[0].room
            kept = self._rooms.get(room_key(name))
            if kept is None:
                kept = self._rooms[room_key(name)] = _Kept(StoredRoom(name, secrets.token_hex(6), 0, ""))
            first = kept.seq + 1
            for seq, msg in enumerate(msgs, first):
                self._keep_message(kept, msg if msg.seq == seq else msgspec.structs.replace(msg, seq=seq))
        self._followers.published()
        return Position(first, kept.info.epoch)

    def _keep_message(self, kept: _Kept, msg: m.ChatMessage) -> None:
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

    def _drop_oldest(self, kept: _Kept) -> None:
        kept.messages.popleft()
        size = kept.sizes.popleft()
        kept.bytes -= size
        self._total -= size

    def commit(self) -> set[tuple[str, int]]:
        return set()

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        kept = self._rooms.get(room_key(room))
        if kept is None or count <= 0:
            return []
        low, high = after if after is not None else -1, before if before is not None else 2**62
        found = [x for x in list(kept.messages) if low < x.seq < high]  # (a copy: a publisher may append)
        return found[-count:]

    def follow(self, rooms: dict[str, int], timeout: float) -> list[m.ChatMessage]:
        def read() -> list[m.ChatMessage]:
            page = FOLLOW_PAGE
            return [x for room, seq in rooms.items() for x in self.recent(room, page, before=seq + page + 1, after=seq)]

        return self._followers.wait(read, timeout)

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        kept = self._rooms.get(room_key(room))
        match = word_matcher(words)
        if kept is None or match is None:
            return []
        found = [x for x in reversed(list(kept.messages)) if match(x.text)]
        return found[:limit]

    def close(self) -> None:
        pass
