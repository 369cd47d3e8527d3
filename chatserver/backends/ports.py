"""The backends' narrow interfaces: a broker, presence, a room directory, a moderation store and a secret store.

The core is written against these and nothing else, as Centrifuge's node
is against its engine: memory (``roomlog.py``, ``memory.py``), SQLite
(``store.py``) and Redis (``chatserver/cluster``) implement them, and one
contract suite (``tests/test_backend_contract.py``) holds each of them to
the same behaviour. No implementation subclasses another or reads another's
state. ``Backends`` is what a server is given: one of each, and a pruner
when the broker keeps more than memory bounds (retention asks for it here,
never by the broker's class).

Room for what comes (issues 21-24): ``Broker.recent`` reads by position both
ways (IRC's ``draft/chathistory`` BEFORE/AFTER/LATEST, the page's scroll-back),
and a "room" is any name the broker numbers, so a private conversation
between two accounts can be kept as a room of its own; files get a store of
their own beside these, not a method here.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from typing import Protocol

from chatserver.backends.records import Gone, Holder, Person, Position, StoredGrant, StoredRoom, StoredSanction
from chatserver.backends.retention import Prunable
from common import messages as m


class Broker(Protocol):
    """Room messages: numbered in each room's one order, kept, read back by position, followed.

    ``publish`` numbers a message and keeps it at the next ``commit`` (memory
    and SQLite: at once, no I/O, so the hub may call it under its lock;
    Redis: one round trip, never under a lock that delivery needs)."""

    def room(self, name: str) -> StoredRoom | None:
        """The room as last saved, or None if the broker does not know it."""

    def save_room(self, room: StoredRoom) -> None:
        """A new room (its epoch the one given, unless the broker has one), or its topic changed."""

    def ensure(self, name: str) -> tuple[StoredRoom, str]:
        """Follow a room: the room as kept (made now, with a fresh epoch, if the broker does not
        know it) and the position its log is kept up to, in the broker's own terms (Redis: the
        stream's last id, which the node reads on from; memory and SQLite: the seq). The hub
        calls it outside its lock, before it takes the room in, and ``forget``s it when it lets
        the room go (a cluster's node holds trimming back for the rooms it follows)."""

    def forget(self, name: str) -> bool:
        """The hub drops an empty room from memory; True if its messages and
        numbering go with it (so a room of that name made later is new)."""

    def publish(self, msg: m.ChatMessage) -> Position | None:
        """Number ``msg`` as its room's next and keep it; its position (the kept message
        carries that number, whatever ``msg.seq`` said), or None if it cannot be kept."""

    def publish_many(self, msgs: list[m.ChatMessage]) -> Position | None:
        """``publish`` for a run of messages to one room, in order, in one call: numbered as its
        next ``len(msgs)``, one after the other; the first's position (each next one's is one
        more, in the same epoch), or None if none of them can be kept (all or none)."""

    def commit(self) -> set[tuple[str, int]]:
        """Make what was published durable; the ``(room_key, seq)`` of those *not* kept."""

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        """History by position: the last ``count`` messages of ``room`` numbered below
        ``before`` and above ``after`` (either may be None), oldest first."""

    def behind(self, rooms: dict[str, int]) -> list[str]:
        """Of these rooms (name -> a seq the chat has seen), those the broker numbers below it:
        it came back from older data (Redis from a snapshot). Each gets a new epoch, once, so
        no number means two messages. A broker that numbers in this process is never behind
        what it numbered: a seq beyond is a client's mistake, and nothing is renumbered for it."""

    def follow(self, rooms: dict[str, int], timeout: float) -> list[m.ChatMessage]:
        """Messages of these rooms numbered above the seq given for each, oldest first per
        room; waits up to ``timeout`` seconds for one when there is none yet (a wait may end
        early with nothing: ask again)."""

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding every one of ``search_terms(words)``, newest first
        (``SearchTooLong`` if it took too long, ``Unavailable`` if it cannot be read)."""

    def close(self) -> None: ...


class ModerationStore(Protocol):
    """Bans, mutes and ``/op`` grants as kept (``moderation.Sanctions`` holds them in memory and writes through)."""

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


class SecretStore(Protocol):
    def secret(self) -> bytes:
        """The secret resume tokens are signed with: the same on every call (and, where
        the backend outlives the process, after a restart and on every node)."""


class Presence(Protocol):
    """Who holds which name, on which node, in which rooms. A name is held by a session
    (``sid``) of a node while the node's lease lives (renewed by ``heartbeat``)."""

    def heartbeat(self) -> str | None:
        """Renew this node's lease; the generation the backend holds (another than this
        node knew, or None: the backend lost its data)."""

    def retire(self) -> None:
        """This node stops: its lease ends now (another node ``reap``s its sessions)."""

    def claim(
        self, nick: str, sid: str, token: str, *, replacing: str = "", takeover: str = "", p: Person | None = None
    ) -> tuple[str, str] | None:
        """Hold ``nick`` for session ``sid``; None if a live session holds it (not ``replacing``,
        and ``takeover`` is not its token) and is not of ``p``'s account; else the previous
        holder's (node, sid), ("", "") if none. A live session of ``p.account`` holding it: ``sid``
        holds it too, as one of its devices (the device whose token is ``takeover`` replaced, and
        named); ``TooManyDevices`` past ``MAX_DEVICES``. Released, the name stays with a device."""

    def release(self, nick: str, sid: str) -> None:
        """Free ``nick`` if session ``sid`` still holds it."""

    def update(self, nick: str, sid: str, **fields: str) -> None:
        """Set the holder's ``away``, ``op`` ("1"/"0"), ``token`` or ``account``, if ``sid`` still holds ``nick``."""

    def suggest(self, nick: str) -> str:
        """A free name like ``nick``."""

    def holder(self, nick: str) -> Holder | None:
        """Who holds ``nick`` (None if nobody, or only a dead node's session), with its live devices."""

    def named(self, account: str) -> str | None:
        """The name ``account``'s person goes by on a live node (a ``/nick`` may have renamed it;
        None: it is not connected)."""

    def everyone(self) -> list[Person]:
        """Everyone held by a live node."""

    def joined(self, room: str, nick: str, sid: str, rooms: list[str]) -> bool:
        """``nick`` (session ``sid``) is in ``room`` now; ``rooms`` are all of its rooms. Whether
        another session of ``nick`` was in it already (an account's device: the person was there)."""

    def left(self, room: str, nick: str, sid: str, rooms: list[str] | None) -> bool:
        """``nick`` left ``room``; ``rooms`` are those it is still in (None: it is leaving altogether).
        Whether the name left the room with it: its last session there, in one atomic step, so of
        several leaving at once (on any nodes) exactly one is told so."""

    def others_in(self, room: str, nick: str, sid: str) -> bool:
        """Whether a session holding ``nick`` other than ``sid`` is in ``room`` (an account's other
        device: the person is there whatever ``sid`` does)."""

    def members(self, room: str) -> list[Person]:
        """Who is in ``room`` on live nodes, by name."""

    def first(self, room: str, limit: int) -> tuple[list[Person], int]:
        """The first ``limit`` in ``room`` in the order they came (those on live nodes), and how
        many are in it (as ``counts``): bounded, whatever the room's size (a welcome's names)."""

    def counts(self, room_keys: list[str]) -> list[int]:
        """How many are in each room (a dead node's sessions count until reaped)."""

    def dead_nodes(self) -> list[str]:
        """Other nodes whose lease has ended and that were not reaped yet."""

    def reap(self, node: str) -> list[Gone] | None:
        """Clear a dead node's sessions away (None if another node is at it)."""


@dataclasses.dataclass
class RoomInfo:
    name: str
    members: int
    topic: str


class RoomDirectory(Protocol):
    """Who is in a room, its topic, and the rooms in use, as the whole chat sees them (one
    server: the hub's rooms in memory, ``core/rooms.py``; a cluster: Redis,
    ``cluster/directory.py``). Never a network call while the hub's lock is held: a joiner's
    greeting asks under it, and a cluster's directory answers that from what it read before."""

    def joined(self, room: str, nick: str, sid: str, rooms: list[str]) -> bool:
        """``nick`` (session ``sid``) is in ``room`` now; ``rooms`` are all of its rooms. Whether
        another session of ``nick`` was in it already on another node (as ``others_in`` before it
        would say, in the same step; one server's hub knows its own sessions: False)."""

    def left(self, room: str, nick: str, sid: str, rooms: list[str] | None) -> bool:
        """``nick`` left ``room``; ``rooms`` are those it is still in (None: it is leaving altogether).
        Whether no other session of ``nick`` is left in it on another node (``Presence.left``: of two
        leaving at once exactly one is told so; one server's hub knows its own sessions: True)."""

    def others_in(self, room: str, nick: str, sid: str) -> bool:
        """Whether a session holding ``nick`` other than ``sid`` is in ``room`` on another node (an
        account's other device; one server's hub knows its own sessions: False)."""

    def members(self, room: str) -> list[Person]:
        """Everyone in ``room``."""

    def first_members(self, room: str, limit: int) -> tuple[list[Person], int]:
        """The first ``limit`` in ``room`` in the order they came, and how many are in it:
        bounded, whatever the room's size (what a welcome or ``joined`` names)."""

    def first_names(self, room: str, limit: int) -> tuple[list[str], int]:
        """``first_members``' names alone."""

    def first_present(self, room: str, limit: int) -> tuple[list[str], list[str], int]:
        """``first_members``' names, those of them away, and the count: what a plain peer's
        entry lists, without a ``Person`` record each."""

    def size(self, room: str) -> int:
        """How many are in ``room`` now, in O(1) (``rules/crowd.py`` asks on every join and leave)."""

    def look(self, room: str) -> object | None:
        """What a joiner's greeting will ask of ``room`` under the hub's lock, read now, before
        it (a cluster's: its first members, their count, its topic; None where those are read
        under the lock without I/O)."""

    def greeting(self, seen: object | None) -> AbstractContextManager[None]:
        """While this thread greets a joiner under the lock: what the greeting asks of the room
        is answered from ``seen`` (``look``'s)."""

    def census(self, room: str) -> tuple[int, bool]:
        """How many are in ``room`` now and whether it is marked crowded (``mark_crowded``), in
        one O(1) read (``rules/crowd.py`` asks on every join, leave and rename)."""

    def mark_crowded(self, room: str, crowded: bool) -> bool:
        """Mark ``room`` crowded, or no longer; True if this call changed the mark. Of several
        callers marking it the same way at once (on every node), exactly one is told True, so
        the room hears a crossing once, not once per node."""

    def topic(self, room: str) -> str:
        """``room``'s topic ("" if none, or no such room)."""

    def set_topic(self, room: str, topic: str) -> None:
        """``room``'s topic is now ``topic`` (the room made if it is new)."""

    def rooms(self) -> list[RoomInfo]:
        """Rooms with people in them (and the lobby), by name."""


@dataclasses.dataclass
class Backends:
    """What a server is given: where room messages, moderation and the resume
    secret are kept, and what retention prunes (None: the broker bounds itself)."""

    broker: Broker | None  # None: the hub's own memory broker
    moderation: ModerationStore
    secrets: SecretStore
    pruner: Prunable | None = None
