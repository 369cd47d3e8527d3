"""The hub as the rules and the transports see it: the ``Hub`` interface and the greeting it hands a joiner.

``core/hub.py``'s ``LocalHub`` implements it, for one server and for a
cluster's node alike; the rules (``rules/services.py``) and the sessions
are written against this and nothing else. The hub does not write
``enter``, ``join`` or the publication methods again: they are its
collaborators' own (``joining.py``'s ``Joining``; the delivery, ``delivery.py``'s
``Publisher``), so each signature is written here and where it is done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Protocol

from chatserver.core.delivery import Publish
from chatserver.core.fanout import Frame, Participant
from chatserver.core.registry import Person
from chatserver.core.roomquota import RoomQuota
from chatserver.core.rooms import RoomInfo
from common import messages as m


@dataclasses.dataclass(frozen=True)
class Greeting:
    """What a joiner is told, before any live message of the room can reach it."""

    room: str
    epoch: str  # the room's numbering
    seq: int  # the room's last seq now: what follows is news
    messages: list[m.ChatMessage]
    lost: int  # missed messages no longer kept
    #: "missed" (a reconnect's replay: the messages after the one it saw),
    #: "history" (recent messages) or "renumbered" (a reconnect whose
    #: numbering is not the room's: recent messages, and it must be told).
    kind: str


Greet = Callable[[Greeting], None]
Arrival = Callable[[str, float], m.Message]
"""The notice that someone came into a room, given the room's name and the time:
posted in the same step as the joining, so whoever joins after it gets neither
it nor a welcome without its sender."""


class Hub(Protocol):
    #: Who may make a room (the server sets its own).
    quota: RoomQuota

    def enter(
        self,
        sub: Participant,
        nick: str,
        room: str,
        greet: Greet,
        *,
        resume: str | None = None,
        after: int | None = None,
        epoch: str | None = None,
        recent: int = 0,
        arrival: Arrival | None = None,
    ) -> tuple[str, bool, str]: ...
    def rename(self, sub: Participant, new: str, *, alone: bool = False) -> str: ...
    def changed(self, sub: Participant) -> None: ...
    def closing(self) -> None: ...
    def unregister(self, sub: Participant) -> set[str]: ...
    def find(self, nick: str) -> Person | None: ...
    def echo(self, sub: Participant, frame: Frame, *, plain: bool = True) -> None: ...
    def staying(self, sub: Participant, rooms: Iterable[str]) -> set[str]: ...
    def named(self, account: str) -> str | None: ...
    def tell(self, nick: str, frame: Frame) -> Person | None: ...
    def kick(self, nick: str, why: str) -> Person | None: ...
    def set_op(self, nick: str, op: bool) -> Person | None: ...
    def move(
        self, nick: str, room: str, join: bool, *, by: str = "", reason: str = "", skip: Participant | None = None
    ) -> Person | None: ...
    def person_rooms(self, sub: Participant) -> list[str]: ...
    def join(
        self,
        room: str,
        sub: Participant,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        epoch: str | None = None,
        arrival: Arrival | None = None,
    ) -> str: ...
    def part(self, room: str, sub: Participant) -> bool: ...
    def members(self, room: str) -> list[Person]: ...
    def first_members(self, room: str, limit: int) -> tuple[list[Person], int]: ...
    def first_names(self, room: str, limit: int) -> tuple[list[str], int]: ...
    def first_present(self, room: str, limit: int) -> tuple[list[str], list[str], int]: ...
    def size(self, room: str) -> int: ...
    def census(self, room: str) -> tuple[int, bool]: ...
    def mark_crowded(self, room: str, crowded: bool) -> bool: ...
    def set_topic(self, room: str, topic: str) -> None: ...
    def topic(self, room: str) -> str: ...
    def rooms(self) -> list[RoomInfo]: ...
    def publish(
        self,
        room: str,
        build: Callable[[int, float], m.Message],
        exclude: Participant | None = None,
        receipt: Callable[[m.Message], m.Message] | None = None,
    ) -> Frame: ...

    #: ``publish_many`` takes a lot in one turn (a cluster's hub publishes them one by one).
    publishes_many: bool

    def publish_many(self, items: list[Publish], exclude: Participant) -> None: ...
    def announce(
        self,
        room: str,
        build: Callable[[float], m.Message],
        exclude: Participant | None = None,
        *,
        except_nick: str | None = None,
    ) -> None: ...
    def send_to(self, sub: Participant, frame: Frame) -> None: ...
    def send_many_to(self, sub: Participant, frames: list[Frame]) -> None: ...
    def sessions(self) -> list[Person]: ...
    def epoch(self, room: str) -> str: ...
    def recent(self, room: str, count: int, before: int | None = None) -> list[m.ChatMessage]: ...
    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self) -> None: ...
