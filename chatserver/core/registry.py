"""Who is on the server: nicknames and the sessions holding them, and the view others get of them.

A ``Registry`` is a plain structure the hub uses under its own lock: name ->
person -> sessions. A guest's name is held by one session; an account's by
each of its devices (a terminal, a page, an IRC client: ``MAX_DEVICES`` at
most), the first of them named for the person. What the hub hands out
about a person is a ``Person``: a value (name, away, operator, host) that
any backend can produce, never the session itself, so no caller can reach
into another connection.
"""

from __future__ import annotations

import hmac

from chatserver.backends.records import MAX_DEVICES, Person, same_account
from chatserver.core.fanout import Participant
from common.nicks import nick_key


def person(sub: Participant) -> Person:
    return Person(sub.nick, sub.away, sub.op, sub.is_host, sub.room, sub.address, sub.token, account_of(sub))


def account_of(sub: Participant) -> str:
    """The account ``sub`` is logged in to ("" for a guest)."""
    return sub.account or ""


class NickTaken(Exception):
    code = "nick_taken"

    def __init__(self, nick: str, suggestion: str) -> None:
        super().__init__(f"the nickname {nick!r} is taken")
        self.suggestion = suggestion


class DevicesFull(NickTaken):
    """The account holding the name has ``MAX_DEVICES`` sessions already."""

    code = "too_many_devices"

    def __init__(self, nick: str) -> None:
        Exception.__init__(
            self, f"the account {nick!r} is connected from {MAX_DEVICES} devices already: close one first"
        )
        self.suggestion = ""


class Registry:
    """nick_key -> the sessions holding that name (one, or an account's devices)."""

    def __init__(self) -> None:
        self._nicks: dict[str, list[Participant]] = {}
        #: The nick keys held by more than one session (an account's devices); never rebound, so
        #: ``Rooms`` holds it too and asks ``extra_in`` only when it is not empty.
        self.several: set[str] = set()
        self._accounts: dict[str, str] = {}  # an account's key -> the nick key its sessions here hold

    def claim(self, sub: Participant, new: str, replacing: Participant | None = None) -> str:
        """Give ``sub`` the nickname ``new`` (``replacing`` may hold it; a session of ``sub``'s
        account holds it with it); returns the old one."""
        key = nick_key(new)
        held = [s for s in self._nicks.get(key, ()) if s is not sub and s is not replacing]
        if held and not same_account(account_of(sub), account_of(held[0])):
            raise NickTaken(new, self._suggest(new))
        if len(held) >= MAX_DEVICES:
            raise DevicesFull(new)
        self.release(sub)
        self._nicks[key] = [*held, sub]
        if account_of(sub):
            self._accounts[nick_key(account_of(sub))] = key
        if held:
            self.several.add(key)
        else:
            self.several.discard(key)
        old, sub.nick = sub.nick, new
        return old

    def stale_session(self, nick: str, token: str | None) -> Participant | None:
        """The session holding ``nick`` whose resume token is ``token`` (the client's own
        connection, which the server has not yet seen die)."""
        if not token:
            return None
        return next((s for s in self.sessions(nick) if hmac.compare_digest(s.token, token)), None)

    def sessions(self, nick: str) -> list[Participant]:
        """The sessions here holding ``nick``: one, or its account's devices."""
        return list(self._nicks.get(nick_key(nick), ()))

    def others(self, sub: Participant) -> list[Participant]:
        """``sub``'s person's other sessions here (its account's other devices)."""
        return [s for s in self._nicks.get(nick_key(sub.nick), ()) if s is not sub]

    def _suggest(self, nick: str) -> str:
        base = nick[:29]
        for n in range(2, 1000):
            candidate = f"{base}{n}"
            if nick_key(candidate) not in self._nicks:
                return candidate
        return base + "_"  # pragma: no cover

    def release(self, sub: Participant) -> None:
        if not sub.nick:
            return  # (holds no name yet: nothing to look up)
        key = nick_key(sub.nick)
        held = self._nicks.get(key)
        if held is not None and sub in held:
            held.remove(sub)
            if len(held) < 2:
                self.several.discard(key)
            if not held:
                del self._nicks[key]
                if account_of(sub) and self._accounts.get(nick_key(account_of(sub))) == key:
                    del self._accounts[nick_key(account_of(sub))]

    def account_changed(self, sub: Participant) -> None:
        """``sub`` logged in to an account (``/login``, ``/register``) without taking a name: the
        account's index follows (one that logged out is left to ``named``, which checks it)."""
        if account_of(sub) and sub in self._nicks.get(nick_key(sub.nick), ()):
            self._accounts[nick_key(account_of(sub))] = nick_key(sub.nick)

    def named(self, account: str) -> str | None:
        """The name ``account``'s sessions here hold (None: none is here), in O(devices)."""
        held = self._nicks.get(self._accounts.get(nick_key(account), ""))
        return next((s.nick for s in held or () if same_account(account_of(s), account)), None)

    def extra_in(self, members: dict[Participant, int]) -> int:
        """How many of ``members`` are a person's second (third...) session, in O(min(D, M)): the
        sessions of the names several sessions hold (D: at most ``MAX_DEVICES`` each), or the
        room's M members, whichever is fewer (a small room's count on a server of many people
        with several devices does not walk all of them)."""
        several = self.several
        if not several:
            return 0
        if len(several) * 2 <= len(members):  # (each of those names has two sessions at least)
            return sum(max(0, sum(s in members for s in self._nicks[key]) - 1) for key in several)
        seen: set[str] = set()
        extra = 0
        for sub in members:
            key = nick_key(sub.nick)
            if key in several:
                if key in seen:
                    extra += 1
                else:
                    seen.add(key)
        return extra

    def holder(self, nick: str) -> Participant | None:
        """The session named for ``nick``'s person (its first device)."""
        held = self._nicks.get(nick_key(nick))
        return held[0] if held else None

    def everyone(self) -> list[Participant]:
        """One session per person."""
        return [held[0] for held in self._nicks.values()]
