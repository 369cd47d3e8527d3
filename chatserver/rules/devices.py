"""A person's rooms on each of its devices: a room change asked of a participant from another thread, done in its turn.

A participant's rooms (``rooms`` and its focused ``room``) are changed by its
own commands, on its session's thread. Two things change them from outside
(issue 23, issue 21's ``KICK``): another device of its person joined or left a
room (every device of a person is in the same rooms, as Ergo's multiclient
does), and a room operator kicked the person out of one room. The asker goes
through the hub (``hub.move``: this node's devices, and another node's through
its inbox), which calls ``Participant.asked``; the request waits in the
participant's ``Turn`` and is done by whichever thread holds that turn: the
session's own thread, at the end of the command it is running, or, when it is
idle, the asking thread at once. A participant's rooms are so changed by one
thread at a time, in the order asked; and no thread waits for another
participant's turn (an asker only tries it), so two devices asking each other
at the same moment cannot wait for each other.

What a device is told is what its own join or part tells it: ``joined`` and the
room's greeting (an IRC client: ``JOIN``, the topic, and, through the dialect's
``followed``, ``NAMES``), or ``parted`` (kicked: with who did it, which IRC
shows as a ``KICK``). The room hears of the person once: its first device in,
its last out (``membership.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from chatserver.backends.records import Unavailable
from chatserver.core.hub import LOBBY, TooManyRooms
from chatserver.rules import membership
from chatserver.rules.services import Me
from common import messages as m
from common.rooms import room_key

log = logging.getLogger(__name__)

LOBBY_KEY = room_key(LOBBY)


class Turn(list):
    """Who may change a participant's rooms now (``lock``), and, the list itself, what was asked
    of it meanwhile: (room, join, by, reason), oldest first. Every connection has one, nearly
    always empty: a list (56 bytes) with a slot, not an object holding a deque (760)."""

    __slots__ = ("lock",)
    lock: threading.RLock


def turn() -> Turn:
    """A participant's turn: free, nothing asked."""
    made = Turn()
    made.lock = threading.RLock()  # (its own commands nest: an IRC JOIN asks NAMES in the same turn)
    return made


class Device(Me, Protocol):
    """What following needs of a participant beyond ``Me`` (``Participant`` has it)."""

    turn: Turn
    shared: bool
    #: What its dialect adds to ``joined`` for a room another device put it in (IRC: ``NAMES``).
    followed: Callable[[str], None]

    def execute(self, effects: list) -> None: ...


def asked(p: Device, room: str, join: bool, by: str, reason: str) -> None:
    """From any thread: ``p`` joins ``room`` or leaves it (``by``: kicked out by ``by``), in its turn."""
    p.turn.append((room, join, by, reason))
    drain(p)


def drain(p: Device) -> None:
    """Do what was asked of ``p``, if its turn is free; else its holder does it when done (it
    looks again after letting go: nothing asked is left waiting for the next command)."""
    turn = p.turn
    while turn:
        if not turn.lock.acquire(blocking=False):
            return
        try:
            while turn:
                room, join, by, reason = turn.pop(0)
                try:
                    (follow_join if join else follow_part)(p, room, by, reason)
                except Exception:  # one failed request must not keep the others from being done
                    log.exception("%s: %s %s", p.nick, "joining" if join else "leaving", room)
        finally:
            turn.lock.release()


def follow_join(p: Device, room: str, by: str, reason: str) -> None:
    """Join ``room``, as another device of the person did (unannounced: the person is there)."""
    if not p.registered or not p.shared or room_key(room) in p.rooms:
        return
    if len(p.rooms) >= membership.MAX_MEMBERSHIPS:
        p.send(m.Error("too_many_rooms", f"{room} was joined on another device, but you are in too many rooms here"))
        return
    try:
        joined = membership.join_room(p, room, announced=False)
    except (TooManyRooms, Unavailable) as exc:
        p.send(m.Error("too_many_rooms", f"{room} was joined on another device, but not here: {exc}"))
        return
    p.followed(joined)


def follow_part(p: Device, room: str, by: str, reason: str) -> None:
    """Leave ``room``: another device of the person did (the room was told), or ``by`` kicked the
    person out of it (the room was told; this device is told by whom, and why)."""
    name = p.rooms.get(room_key(room)) if p.registered and p.shared else None
    if name is None:
        return
    if by:
        why = f": {reason}" if reason else ""
        p.send(m.Notice(text=f"you were kicked out of {name} by {by}{why}", ts=time.time(), event="kicked"))
    p.execute(membership.leaving(p, name, reason or None, by=by or None))


def arrive(p: Device) -> None:
    """A device becoming one of its person's (at its hello, or by ``/login``): it joins the
    person's rooms, and the person joins the rooms it came with (a reconnecting client's, a
    guest's before it logged in): every device of a person is in the same rooms. The lobby
    it is put in by default is not pressed on the others."""
    mine = [name for key, name in p.rooms.items() if key != LOBBY_KEY]
    theirs = join_person_rooms(p)
    for name in mine:
        if room_key(name) not in theirs:
            p.hub.move(p.nick, name, True, skip=p)  # type: ignore[arg-type]


def join_person_rooms(p: Device) -> set[str]:
    """A device arriving: into the rooms its person is in through its other devices on this node
    (each greeted as a join is; unannounced: the person is there). Its dialect tells it of every
    room it is in after its welcome, as of the first. The keys of those rooms."""
    rooms = p.hub.person_rooms(p) if p.account is not None else []  # type: ignore[arg-type]
    for name in rooms:
        if room_key(name) in p.rooms or len(p.rooms) >= membership.MAX_MEMBERSHIPS:
            continue
        try:
            membership.join_room(p, name, announced=False)
        except (TooManyRooms, Unavailable) as exc:
            p.send(m.Error("too_many_rooms", f"{name}, where your other devices are, could not be joined: {exc}"))
    return {room_key(name) for name in rooms}
