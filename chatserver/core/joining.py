"""Entering and joining: a name and a room in one step, the history read outside the hub's lock, the greeting under it.

A joiner's room is taken up first (``following.py``), its history read
from the broker outside the lock (up to the room's seq then), and what the
room delivered meanwhile taken from its latest messages under the lock
(``Room.delivered_after``): the greeting still comes before anything live
and holds each message once, and no broker call is made under the lock
that delivery needs, whether the broker is memory, SQLite or a cluster's
Redis. Entering claims the name in presence before, and takes it here in
the same turn of the lock as the greeting, so nobody here reaches the
joiner first; what another node asked of it meanwhile is parked until then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Callable

from chatserver.backends.ports import Broker, RoomDirectory
from chatserver.backends.records import Unavailable
from chatserver.core.delivery import Publisher
from chatserver.core.fanout import Participant
from chatserver.core.interface import Arrival, Greet, Greeting
from chatserver.core.names import Names, Peers
from chatserver.core.registry import NickTaken
from chatserver.core.rooms import LOBBY, Room, Rooms, TooManyRooms
from common import messages as m
from common.nicks import nick_key

JOIN_TRIES = 20  # reads of a room's history, at most, before a join gives up (a room faster than its broker)


@dataclasses.dataclass
class _Claim:
    """A name ``enter`` claimed in presence, to take here with the greeting."""

    nick: str
    taken_over: bool  # from another session (nobody left)
    old_sid: str = ""  # the session taken over, if presence named one
    stale: Participant | None = None  # the session here it replaced, once taken


class Joining:
    """A hub's way in (see the module's docstring): ``enter`` and ``join``."""

    def __init__(
        self,
        lock: threading.RLock,
        *,
        names: Names,
        rooms: Rooms,
        broker: Broker,
        directory: RoomDirectory,
        follow: Callable[..., Room | None],
        delivery: Callable[[], Publisher],
        greet: Callable[[Greet, Greeting], None],
        unregister: Callable[[Participant], None],
        keep: int,
        node: str,
        peers: Peers | None,
        obey: Callable[[dict[str, str]], None],
    ) -> None:
        self._lock = lock
        self._names = names
        self._rooms = rooms
        self._broker = broker
        self._directory = directory
        self._follow = follow  # the room taken up (``Following.follow``; lock not held)
        self._delivery = delivery  # the hub's delivery (a joiner's arrival goes through it)
        self._greet = greet  # greet a joiner (lock held: ``LocalHub._greet``)
        self._unregister = unregister
        self._keep = keep  # messages replayed to a reconnecting client, at most
        self.node = node
        self._peers = peers
        self._obey = obey  # what another node asks of a session here (a cluster's; lock held)
        #: What other nodes asked of a session between its name's claim and its greeting here
        #: (a ``/msg``, a kick): done right after the greeting, never dropped (lock held).
        self.parked: dict[Participant, list[dict[str, str]]] = {}
        #: Sessions that ended while presence could not be told: (nick, sid, rooms), told later.
        self.departed: list[tuple[str, str, list[str]]] = []

    # Every broker, presence and directory call here is made outside the hub's lock: the lock
    # orders delivery on this node, and one slow call (a cluster's Redis) must not stop it.
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
    ) -> tuple[str, bool, str]:
        """Claim ``nick`` and join ``room`` in one step (``NickTaken`` if the
        name is not free), so that nobody can find ``sub`` before it is
        greeted; when ``room`` cannot be had (``TooManyRooms``) it joins the
        lobby. ``resume``, the token of the session holding ``nick``, takes
        the name over from it (a client back from a link the server has not
        yet seen die); that session ends silently, and ``arrival`` is not
        posted (nobody left). Returns the room, whether a session was
        replaced, and why ``room`` was not joined ("" if it was).

        The name is claimed in presence first, then taken here in the same
        turn of the lock as the greeting (nobody here reaches ``sub`` before it)."""
        why = ""
        with self._lock:
            sid = self._names.sid(sub)
            self.parked.setdefault(sub, [])
        try:
            was = self._names.claim(sub, nick, sid, takeover=resume or "")
        except NickTaken:
            with self._lock:
                self.parked.pop(sub, None)
            raise
        claim = _Claim(nick, taken_over=bool(was[0]), old_sid=was[1])
        try:
            try:
                joined = self._join(room, sub, greet, after, recent, epoch, arrival, claim)
            except TooManyRooms as exc:
                why = str(exc)
                joined = self._join(LOBBY, sub, greet, None, recent, None, arrival, claim)
        except Unavailable:  # half in: undone here, and the name released (now, or when presence is back)
            if nick_key(sub.nick) != nick_key(nick):  # (not taken here yet: unregister cannot name it)
                try:
                    self._names.presence.release(nick, sid)
                except Unavailable:
                    with self._lock:
                        self.departed.append((nick, sid, []))
            self._unregister(sub)
            raise
        old_node, old_sid = was
        if claim.stale is not None:
            claim.stale.replaced = True
            claim.stale.kick("replaced by a new connection")
        elif old_node and old_node != self.node and self._peers is not None:  # (may not have noticed yet)
            self._peers.replace(old_node, old_sid)
        return joined, claim.stale is not None or bool(old_node), why

    def join(
        self,
        room: str,
        sub: Participant,
        greet: Greet | None = None,
        after: int | None = None,
        recent: int = 0,
        epoch: str | None = None,
        arrival: Arrival | None = None,
    ) -> str:
        """Add ``sub`` to ``room`` (made on first join); returns the room's name.

        ``greet`` gets the messages after ``after`` (a reconnect, when
        ``epoch`` is the room's) or the last ``recent`` ones, before any live
        message can reach ``sub`` (it sends through ``send_to``, so after
        anything still queued for ``sub``, a room it just left included);
        then ``arrival`` goes to the others, in the same step.
        """
        return self._join(room, sub, greet, after, recent, epoch, arrival, None)

    def _join(
        self,
        room: str,
        sub: Participant,
        greet: Greet | None,
        after: int | None,
        recent: int,
        epoch: str | None,
        arrival: Arrival | None,
        claim: _Claim | None,
    ) -> str:
        """Join ``room`` (``claim``: and take the name here, in the same turn of the lock).
        The history is read from the broker outside the lock, up to the room's seq then; what
        was delivered meanwhile comes from the room's recent messages, under the lock, so the
        greeting still comes before anything live and holds each message once."""
        nick = claim.nick if claim is not None else sub.nick
        sid = ""
        for _ in range(JOIN_TRIES):
            r = self._follow(room, create=True, maker=sub)
            assert r is not None
            with self._lock:
                seq, numbering, busy = r.seq, r.epoch, bool(r.members)
                sid, rooms = self._names.sid(sub), [*self._rooms.rooms_of(sub), r.name]
            if after is not None and epoch == numbering and after > seq and not busy:
                if self._broker.behind({r.name: after}):  # seen further than numbered: the broker went back
                    renumbered = self._broker.ensure(r.name)[0].epoch
                    with self._lock:
                        r.epoch = renumbered
                    continue
            # (the greeting lists it; an account's device joining a room another of its devices is in:
            # the person was there, which the directory's join says in the same step)
            there = self._directory.joined(r.name, nick, sid, list(dict.fromkeys(rooms))) and sub.account is not None
            try:
                found = self._history(r.name, greet, after, recent, epoch, seq, numbering)
                seen = self._directory.look(r.name) if greet is not None else None
            except Unavailable:
                with contextlib.suppress(Unavailable):
                    self._directory.left(r.name, nick, sid, None)
                raise
            with self._directory.greeting(seen), self._lock:  # (greet() asks it under the lock)
                if self._rooms.get(r.name) is not r or r.epoch != numbering:
                    continue  # let go of meanwhile, or renumbered: again
                greeting = self._greeting(r, found, after, recent, epoch, seq) if greet is not None else None
                if greet is not None and greeting is None:
                    continue  # more was delivered than the room's recent messages hold: again
                self._enter_locked(r, sub, claim, greeting, greet, None if there else arrival)
            return r.name
        with contextlib.suppress(Unavailable):
            self._directory.left(room, nick, sid, None)
        raise Unavailable(f"{room} moves too fast to join now: try again")

    def _history(
        self,
        room: str,
        greet: Greet | None,
        after: int | None,
        recent: int,
        epoch: str | None,
        seq: int,
        numbering: str,
    ) -> list[m.ChatMessage] | None:
        """What a joiner is shown from the broker, up to seq ``seq`` (lock not held); None if
        the log cannot be read now (it said so in its log: the room is joined without it)."""
        if greet is None:
            return []
        try:
            if after is not None and epoch == numbering and 0 <= after <= seq:
                return self._broker.recent(room, self._keep, before=seq + 1, after=after) if after < seq else []
            return self._broker.recent(room, recent, before=seq + 1)
        except Unavailable:
            return None

    def _greeting(
        self,
        r: Room,
        found: list[m.ChatMessage] | None,
        after: int | None,
        recent: int,
        epoch: str | None,
        seq: int,
    ) -> Greeting | None:
        """The greeting: ``found`` (read up to seq ``seq``) and what came since, from the
        room's recent messages; None if those do not reach back that far (lock held)."""
        if found is None:  # (the log could not be read)
            return Greeting(r.name, r.epoch, r.seq, [], 0, "history")
        since = r.delivered_after(seq)
        if since is None:
            return None
        if after is not None and epoch == r.epoch and 0 <= after <= r.seq:
            missed = [x for x in found + since if x.seq > after][-self._keep :]
            first = missed[0].seq if missed else r.seq + 1
            return Greeting(r.name, r.epoch, r.seq, missed, max(0, first - after - 1), "missed")
        kind = "history" if after is None else "renumbered"
        return Greeting(r.name, r.epoch, r.seq, (found + since)[-recent:] if recent > 0 else [], 0, kind)

    def _enter_locked(
        self,
        r: Room,
        sub: Participant,
        claim: _Claim | None,
        greeting: Greeting | None,
        greet: Greet | None,
        arrival: Arrival | None,
    ) -> None:
        """Take the name here (``claim``), become a member, be greeted, be announced (lock held)."""
        if claim is not None:
            claim.stale = self._names.stale(claim.nick, sub, claim.old_sid)
            self._names.registry.claim(sub, claim.nick, claim.stale)
            if claim.stale is not None or claim.taken_over:
                arrival = None  # (a session taken over: nobody left)
        if any(other in r.members for other in self._names.others(sub)):
            arrival = None  # (another device of this person is here: the person did not arrive)
        r.members[sub] = r.posted  # what is queued now is in the history above
        if greet is not None and greeting is not None:
            self._greet(greet, greeting)
        for fields in self.parked.pop(sub, ()) if claim is not None else ():
            self._obey(fields)  # (asked while it was being greeted: now it can take it)
        if arrival is not None:
            self._delivery().announce(r.name, functools.partial(arrival, r.name), exclude=sub)
