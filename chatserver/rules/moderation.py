"""Who is banned, muted or made an operator, until when: the rules and their keeping.

``Sanctions`` holds bans, mutes and ``/op`` grants in memory and writes every
change through to the server's room log (so a store keeps them across
restarts; ``--store memory`` keeps them for the process's life). Time is the
wall clock, since "banned until 15:00" must still mean 15:00 after a
restart, and comes from an injectable ``clock``; a sanction that has run out
is dropped the first time anyone looks at it. The commands that change them
are in ``operators.py``.

The rules: a ban or a mute is on a nickname and, when the person was
connected, on the address they came from. A ban refuses a new connection,
and a rename to the name; a mute silences whoever has the name or comes from
the address (so a reconnect under another name does not shake it off).
Every sanction on an address is looked at, not the first found (one that ran
out must not hide another in force). An ``/op`` grant is on a nickname, but
a name is not a credential: only a reconnect that presents the resume token
of the session the grant was given to (or its successor's, after a reconnect
or ``/nick``) gets it back.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable

from chatserver.backends.ports import ModerationStore
from chatserver.backends.records import StoredGrant, StoredSanction
from chatserver.rules.roommodes import RoomModes
from common.commands import format_duration
from common.nicks import nick_key

log = logging.getLogger(__name__)

DEFAULT_DURATION = 3600  # seconds a /ban or /mute lasts when no duration is given
MAX_SANCTIONS = 10_000  # bans and mutes in force together, at most


class TooMany(Exception):
    """No room for another ban or mute."""


@functools.lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """One spelling per address: an IPv4 peer of a dual-stack socket
    (``::ffff:10.0.0.5``) is the same as ``10.0.0.5``. (Cached: parsing it
    cost 14% of the fan-out's samples when asked on every message.)"""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address.strip()
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def proof_of(token: str) -> str:
    """What a grant keeps of a resume token: enough to recognise it, not to use it."""
    return hashlib.sha256(token.encode()).hexdigest()


def until_text(sanction: StoredSanction, now: float) -> str:
    """``until 2025-06-01 15:04:05 CEST (59 min from now)``, or for good."""
    if not sanction.until:
        return "until an operator lifts it"
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(sanction.until))
    return f"until {when} ({format_duration(sanction.until - now)} from now)"


class Sanctions:
    """Bans, mutes and grants in force; safe to use from any thread."""

    def __init__(self, keeper: ModerationStore, clock: Callable[[], float] = time.time) -> None:
        self._keeper = keeper
        self.clock = clock
        self._lock = threading.Lock()
        self._bans: dict[str, StoredSanction] = {}  # nick_key -> ban
        self._mutes: dict[str, StoredSanction] = {}  # nick_key -> mute
        self._grants: dict[str, StoredGrant] = {}  # nick_key -> grant
        #: The rooms' own modes and operators (this server's, in memory: ``roommodes.py``).
        self.rooms = RoomModes(clock)
        self.reload()
        if self._bans or self._mutes or self._grants:
            log.info(
                "kept from before: %d ban(s), %d mute(s), %d operator grant(s)",
                len(self._bans),
                len(self._mutes),
                len(self._grants),
            )

    def reload(self) -> None:
        """Read them all again from the keeper (another server of a cluster changed them)."""
        bans: dict[str, StoredSanction] = {}
        mutes: dict[str, StoredSanction] = {}
        for sanction in self._keeper.sanctions():
            (bans if sanction.kind == "ban" else mutes)[nick_key(sanction.nick)] = sanction
        grants = {nick_key(grant.nick): grant for grant in self._keeper.grants()}
        with self._lock:
            self._bans, self._mutes, self._grants = bans, mutes, grants

    # -- bans and mutes ---------------------------------------------------------
    def _in_force(self, table: dict[str, StoredSanction]) -> list[StoredSanction]:
        """The entries of ``table`` still in force; run-out ones are dropped (lock held)."""
        now = self.clock()
        for key, s in list(table.items()):
            if s.until and s.until <= now:
                del table[key]
                self._keeper.drop_sanction(s.kind, s.nick)
                log.info("the %s on %s (by %s) ran out", s.kind, s.nick, s.by)
        return list(table.values())

    def _entry(self, table: dict[str, StoredSanction], key: str) -> StoredSanction | None:
        """``table``'s entry for ``key`` if in force; one that ran out is dropped (lock held).
        (Asked on every message and login: one lookup, not a sweep of the table.)"""
        s = table.get(key)
        if s is not None and s.until and s.until <= self.clock():
            del table[key]
            self._keeper.drop_sanction(s.kind, s.nick)
            log.info("the %s on %s (by %s) ran out", s.kind, s.nick, s.by)
            return None
        return s

    def _impose(self, kind: str, nick: str, address: str, by: str, reason: str, duration: int) -> StoredSanction:
        now = self.clock()
        sanction = StoredSanction(
            kind=kind,
            nick=nick,
            address=address_key(address) if address else "",
            by=by,
            reason=reason,
            since=now,
            until=now + duration if duration else 0.0,
        )
        table = self._bans if kind == "ban" else self._mutes
        with self._lock:
            if nick_key(nick) not in table and len(self._in_force(self._bans)) + len(self._in_force(self._mutes)) >= (
                MAX_SANCTIONS
            ):
                raise TooMany(f"there are {MAX_SANCTIONS} bans and mutes already; lift some first")
            table[nick_key(nick)] = sanction
            self._keeper.save_sanction(sanction)
        return sanction

    def ban(self, nick: str, address: str, by: str, reason: str, duration: int) -> StoredSanction:
        """Refuse ``nick`` and ``address`` ("" for none) for ``duration`` s (0: until lifted)."""
        return self._impose("ban", nick, address, by, reason, duration)

    def unban(self, mask: str) -> list[StoredSanction]:
        """Lift every ban on the nickname or the address ``mask``; returns them."""
        address = address_key(mask)
        with self._lock:
            lifted = [
                s for s in self._in_force(self._bans) if nick_key(s.nick) == nick_key(mask) or s.address == address
            ]
            for s in lifted:
                del self._bans[nick_key(s.nick)]
                self._keeper.drop_sanction("ban", s.nick)
        return lifted

    def _found(self, table: dict[str, StoredSanction], nick: str, address: str) -> StoredSanction | None:
        """``table``'s entry in force on ``nick``, else the first in force on
        ``address`` ("" for none); run-out ones met on the way are dropped (lock held)."""
        found = self._entry(table, nick_key(nick)) if nick else None
        if found is None and address:
            address = address_key(address)
            for key in [k for k, s in table.items() if s.address == address]:
                found = self._entry(table, key)
                if found is not None:
                    break
        return found

    def banned(self, nick: str, address: str) -> StoredSanction | None:
        """The ban refusing ``nick`` or ``address`` ("" for none), if one is in force."""
        with self._lock:
            return self._found(self._bans, nick, address)

    def bans(self) -> list[StoredSanction]:
        with self._lock:
            return sorted(self._in_force(self._bans), key=lambda s: s.since)

    def mute(self, nick: str, address: str, by: str, reason: str, duration: int) -> StoredSanction:
        """Refuse the room messages of ``nick`` and ``address`` ("" for none) for ``duration`` s (0: until lifted)."""
        return self._impose("mute", nick, address, by, reason, duration)

    def unmute(self, nick: str) -> StoredSanction | None:
        with self._lock:
            self._in_force(self._mutes)
            lifted = self._mutes.pop(nick_key(nick), None)
            if lifted is not None:
                self._keeper.drop_sanction("mute", lifted.nick)
            return lifted

    def muted(self, nick: str, address: str = "") -> StoredSanction | None:
        """The mute silencing ``nick`` or ``address`` ("" for none), if one is in force.
        Asked on every room message: with nobody muted, the answer needs no lock (every
        sender's thread took it in turn, about a quarter of the fan-out's samples)."""
        if not self._mutes:  # (a mute imposed meanwhile is as if imposed just after this message)
            return None
        with self._lock:
            return self._found(self._mutes, nick, address)

    def mutes(self) -> list[StoredSanction]:
        with self._lock:
            return sorted(self._in_force(self._mutes), key=lambda s: s.since)

    # -- operator grants ----------------------------------------------------------
    def grant(self, nick: str, by: str, token: str) -> StoredGrant:
        """``nick`` was made an operator; a reconnect with ``token`` gets it back."""
        grant = StoredGrant(nick=nick, by=by, since=self.clock(), proof=proof_of(token))
        with self._lock:
            self._grants[nick_key(nick)] = grant
            self._keeper.save_grant(grant)
        return grant

    def revoke(self, nick: str) -> StoredGrant | None:
        with self._lock:
            grant = self._grants.pop(nick_key(nick), None)
            if grant is not None:
                self._keeper.drop_grant(grant.nick)
            return grant

    def granted(self, nick: str) -> StoredGrant | None:
        with self._lock:
            return self._grants.get(nick_key(nick))

    def grants(self) -> list[StoredGrant]:
        with self._lock:
            return sorted(self._grants.values(), key=lambda g: g.since)

    def reclaim(self, nick: str, token: str, new_token: str) -> StoredGrant | None:
        """A session of ``nick`` presented ``token`` (already checked as ours):
        if the grant was given to that token's session, it passes to the new
        session's ``new_token``; returns the grant, or None."""
        with self._lock:
            grant = self._grants.get(nick_key(nick))
            if grant is None or grant.proof != proof_of(token):
                return None
            moved = StoredGrant(nick=nick, by=grant.by, since=grant.since, proof=proof_of(new_token))
            self._grants[nick_key(nick)] = moved
            self._keeper.save_grant(moved)
            return moved

    def renamed(self, old: str, new: str, new_token: str) -> None:
        """An operator by grant took the name ``new``: the grant follows it."""
        with self._lock:
            grant = self._grants.pop(nick_key(old), None)
            if grant is None:
                return
            self._keeper.drop_grant(grant.nick)
            moved = StoredGrant(nick=new, by=grant.by, since=grant.since, proof=proof_of(new_token))
            self._grants[nick_key(new)] = moved
            self._keeper.save_grant(moved)
