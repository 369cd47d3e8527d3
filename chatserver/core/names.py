"""Names and sessions: this node's sessions, their ids, their names held in presence, and what is done to one by name.

A name is a person's: a guest's one session, or an account's devices (each
its own session, all holding the name). What is done to a name (told,
kicked, made an operator, renamed) is done to every session holding it.

Who holds a name is presence's to say (``ports.Presence``: memory for one
server, Redis for a cluster's node), and presence is asked outside the
hub's lock: a cluster's is Redis, and one slow call must not stop delivery.
What delivery needs under the lock (this node's sessions by name, and by
session id) is kept here. A session of another node is reached through
``Peers`` (a cluster's inboxes; one server has none).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from typing import Protocol

from chatserver.backends.ports import Presence
from chatserver.backends.records import Holder, TooManyDevices, same_account
from chatserver.core.fanout import Frame, Participant
from chatserver.core.registry import DevicesFull, NickTaken, Person, Registry, account_of, person
from common.nicks import nick_key

#: The wires of sessions that read plain lines (an nc user's): what is for clients alone skips them.
PLAIN_WIRES = frozenset({"plain", "plain_rooms"})


class Peers(Protocol):
    """The other nodes of a cluster, asked to act on a session of theirs (a cluster's inboxes;
    one server has none: every name its presence holds is its own)."""

    def tell(self, node: str, sid: str, frame: Frame) -> None: ...
    def set_op(self, node: str, sid: str, op: bool) -> None: ...
    def kick(self, node: str, sid: str, why: str) -> None: ...
    def move(self, node: str, sid: str, room: str, join: bool, by: str, reason: str) -> None:
        """Its session ``sid`` joins or leaves ``room`` (``Names.move``)."""

    def rooms_to(self, node: str, sid: str, to_node: str, to_sid: str) -> None:
        """Its session ``sid`` asks ``to_sid`` (of ``to_node``), a device of its person that just
        arrived, to join each of its rooms (as ``move``s)."""

    def replace(self, node: str, sid: str) -> None:
        """Its session ``sid`` was taken over by a client back on another node: it ends silently."""

    def rename(self, node: str, sid: str, new: str) -> None:
        """Its session ``sid``'s person was renamed ``new`` here: that device takes the name too."""


class Names:
    """This node's sessions and the names they hold through presence (see the module's docstring)."""

    def __init__(
        self,
        lock: threading.RLock,
        node: str,
        presence: Presence,
        peers: Peers | None,
        send_to: Callable[[Participant, Frame], None],
    ) -> None:
        self._lock = lock
        self.node = node
        self.presence = presence
        self._peers = peers
        self._send_to = send_to  # a frame for one session here, in its turn
        #: This node's sessions by name (what delivery needs under the lock).
        self.registry = Registry()
        self.sids: dict[Participant, str] = {}  # this node's sessions -> their session ids
        self._by_sid: dict[str, Participant] = {}  # and back (presence and other nodes name a session by it)
        self._sid_count = itertools.count(1)
        self.closing = False  # the server is stopping: names are kept (see ``LocalHub.closing``)

    # -- under the lock --
    def sid(self, sub: Participant) -> str:
        """``sub``'s session id, given on first use (lock held)."""
        sid = self.sids.get(sub)
        if sid is None:
            sid = self.sids[sub] = f"{self.node}/{next(self._sid_count)}"
            self._by_sid[sid] = sub
        return sid

    def drop(self, sub: Participant) -> str | None:
        """``sub`` is gone: its name here released, its session id (None if it had none) no
        longer known (lock held)."""
        sid = self.sids.pop(sub, None)
        self._by_sid.pop(sid or "", None)
        self.registry.release(sub)
        return sid

    def here(self, sid: str) -> Participant | None:
        """This node's session ``sid`` (None if it is not, or no longer, here)."""
        with self._lock:
            return self._by_sid.get(sid)

    # -- presence, outside the lock --
    def claim(
        self, sub: Participant, nick: str, sid: str, *, takeover: str = "", replacing: str = ""
    ) -> tuple[str, str]:
        """Hold ``nick`` for ``sub`` in presence (lock not held): the previous holder's (node, sid),
        ("", "") if none; ``NickTaken`` if a live session holds it."""
        try:
            was = self.presence.claim(nick, sid, sub.token, takeover=takeover, replacing=replacing, p=person(sub))
        except TooManyDevices:
            raise DevicesFull(nick) from None
        if was is None:
            raise NickTaken(nick, self.presence.suggest(nick))
        return was

    def rename(self, sub: Participant, new: str, *, alone: bool = False) -> str:
        """Give ``sub`` the nickname ``new`` (``NickTaken`` if not free); returns the old one.
        The person's other devices here take it too (one person, one name), unless ``alone``:
        ``sub`` is no longer the person's (a device logged out of its account), the others keep it."""
        with self._lock:
            sid = self.sid(sub)
            devices = [] if alone else [(d, self.sid(d)) for d in self.registry.others(sub)]
        found = (
            self.presence.holder(sub.nick)
            if self._peers is not None and sub.account is not None and not alone
            else None
        )
        self.claim(sub, new, sid, replacing=sid)
        try:
            with self._lock:
                old = self.registry.claim(sub, new)
        except NickTaken:
            self.presence.release(new, sid)
            raise
        moved = nick_key(old) != nick_key(new)
        for device, dsid in devices:  # (after the first: they join its name as its devices)
            self.claim(device, new, dsid, replacing=dsid)
            with self._lock:
                self.registry.claim(device, new)
            if moved:
                self.presence.release(old, dsid)
        if moved:
            self.presence.release(old, sid)
        for node, dsid in self._elsewhere(found) if found is not None and moved else ():  # (devices elsewhere)
            self._peers.rename(node, dsid, new)  # type: ignore[union-attr]
        return old

    def stale(self, nick: str, sub: Participant, old_sid: str) -> Participant | None:
        """The session here that ``sub``, entering as ``nick``, replaces (lock held): the one
        presence said it took over (``old_sid``), or one holding the name presence did not
        know of; never another device of its account."""
        if old_sid:
            found = self._by_sid.get(old_sid)
            return found if found is not sub else None
        held = self.registry.holder(nick)
        if held is None or held is sub or same_account(account_of(sub), account_of(held)):
            return None
        return held

    def named(self, account: str) -> str | None:
        """The name ``account``'s person goes by (None: not connected); a cluster's presence is
        asked when none of its devices is on this node."""
        with self._lock:
            here = self.registry.named(account)
        return here if here is not None or self._peers is None else self.presence.named(account)

    def others(self, sub: Participant) -> list[Participant]:
        """``sub``'s person's other sessions on this node (lock held)."""
        return self.registry.others(sub)

    def changed(self, sub: Participant) -> None:
        """``sub``'s away text, operator rights, resume token or account changed: presence holds them."""
        with self._lock:
            self.registry.account_changed(sub)
            sid = self.sid(sub)
        fields = {"away": sub.away, "op": "1" if sub.op else "0", "token": sub.token, "account": account_of(sub)}
        self.presence.update(sub.nick, sid, **fields)

    def find(self, nick: str) -> Person | None:
        found = self.presence.holder(nick)
        if found is None:
            return None
        sub = self.here(found.sid) if found.node == self.node else None
        return person(sub) if sub is not None else found.person  # (here: as it is now)

    def sessions(self) -> list[Person]:
        everyone = self.presence.everyone()
        with self._lock:
            here = {nick_key(sub.nick): person(sub) for sub in self.registry.everyone()}
        return [here.get(nick_key(p.nick), p) for p in everyone]

    def _elsewhere(self, found: Holder) -> list[tuple[str, str]]:
        """The (node, sid) of the sessions holding ``found``'s name on other nodes."""
        if self._peers is None:
            return []
        return [(node, sid) for node, sid in ((found.node, found.sid), *found.devices) if node != self.node]

    def _walk(
        self,
        nick: str,
        there: Callable[[str, str], None],
        here: Callable[[Participant], None],
        *,
        locked: bool = True,
        skip: Participant | None = None,
        found: Holder | None = None,
    ) -> tuple[Holder | None, list[Participant]] | None:
        """Do something to every device of ``nick``'s person: ``here(sub)`` for each on this node
        first (under the lock if ``locked``: a frame for it then goes in its turn), then
        ``there(node, sid)`` for each on another node, never to ``skip``; the holder (None when
        only this node's devices were asked) and this node's devices, or None if nobody has that
        name (``found``: presence's answer, when the caller has it). This node's devices come
        first: presence (a cluster's Redis) failing then leaves them done, and only the other
        nodes' not."""
        with self._lock:
            subs = self.registry.sessions(nick)
            skipped = self.sids.get(skip, "") if skip is not None else ""
            if locked:
                for sub in subs:
                    if sub is not skip:
                        here(sub)
        if not locked:
            for sub in subs:
                if sub is not skip:
                    here(sub)
        if found is None and (self._peers is not None or not subs):
            found = self.presence.holder(nick)
        if found is None:
            return (None, subs) if subs else None
        for node, sid in self._elsewhere(found):
            if sid != skipped:
                there(node, sid)
        return found, subs

    def _who(self, walked: tuple[Holder | None, list[Participant]] | None) -> Person | None:
        """Who ``_walk`` reached: this node's first device as it is now, else presence's record."""
        if walked is None:
            return None
        found, subs = walked
        if subs:
            return person(subs[0])
        return found.person if found is not None and self._elsewhere(found) else None

    def tell(self, nick: str, frame: Frame) -> Person | None:
        """``frame`` for ``nick`` alone (every device of its person), in its turn; who got it,
        or None if nobody has that name."""
        peers = self._peers
        there = (lambda node, sid: peers.tell(node, sid, frame)) if peers is not None else _nobody
        return self._who(self._walk(nick, there, lambda sub: self._send_to(sub, frame)))

    def echo(self, sub: Participant, frame: Frame, *, plain: bool = True) -> None:
        """``frame``, which ``sub`` sent, for its person's other devices (so that the conversation
        is whole on each; not those reading plain lines unless ``plain``); nothing for a guest,
        who has none."""
        if sub.account is None:
            return
        with self._lock:
            sid = self.sid(sub)
            for other in self.registry.others(sub):
                if plain or other.wire not in PLAIN_WIRES:
                    self._send_to(other, frame)
        found = self.presence.holder(sub.nick) if self._peers is not None else None
        for node, other_sid in self._elsewhere(found) if found is not None else ():
            if other_sid != sid:
                self._peers.tell(node, other_sid, frame)  # type: ignore[union-attr]

    def set_op(self, nick: str, op: bool) -> Person | None:
        """Make ``nick`` an operator, or no longer one (every device); who, or None if nobody has that name."""
        found = self.presence.holder(nick)
        if found is None:
            return None
        self.presence.update(nick, found.sid, op="1" if op else "0")
        peers = self._peers
        there = (lambda node, sid: peers.set_op(node, sid, op)) if peers is not None else _nobody
        walked = self._walk(nick, there, lambda sub: setattr(sub, "op", op), found=found)
        who = self._who(walked)
        return dataclasses.replace(who, op=op) if who is not None else None

    def kick(self, nick: str, why: str) -> Person | None:
        """End ``nick``'s sessions (every device), telling each ``why`` first; who, or None if nobody has that name."""

        def here(sub: Participant) -> None:
            sub.notice(f"you were {why}", event="kick")
            sub.kick(why)

        peers = self._peers
        there = (lambda node, sid: peers.kick(node, sid, why)) if peers is not None else _nobody
        return self._who(self._walk(nick, there, here, locked=False))

    def move(
        self, nick: str, room: str, join: bool, *, by: str = "", reason: str = "", skip: Participant | None = None
    ) -> Person | None:
        """Every device of ``nick``'s person but ``skip`` is asked to join ``room`` or to leave it
        (``by``: kicked out of it): each does it in its own turn (``Participant.asked``; on
        another node, through its inbox). Who, or None if nobody has that name."""
        peers = self._peers
        there = (lambda node, sid: peers.move(node, sid, room, join, by, reason)) if peers is not None else _nobody
        ask = lambda sub: sub.asked(room, join, by, reason)  # noqa: E731
        return self._who(self._walk(nick, there, ask, locked=False, skip=skip))

    def rooms_elsewhere(self, sub: Participant) -> None:
        """``sub`` arrived, and no other device of its person is on this node: one on another node,
        if any, is asked to have it join the person's rooms (they come as ``move``s, after)."""
        if self._peers is None or sub.account is None:
            return
        with self._lock:
            sid = self.sids.get(sub, "")
            if not sid or self.registry.others(sub):
                return  # (gone, or the person's rooms are here: ``LocalHub.person_rooms``)
        found = self.presence.holder(sub.nick)
        for node, other in self._elsewhere(found) if found is not None else ():
            self._peers.rooms_to(node, other, self.node, sid)
            return


def _nobody(node: str, sid: str) -> None:
    """(One server: no other node to ask.)"""
