"""Who is on the server: nicknames and the sessions holding them, and the view others get of them.

A ``Registry`` is a plain structure the hub uses under its own lock. What
the hub hands out about a person is a ``Person``: a value (name, away,
operator, host) that any backend can produce, never the session itself,
so no caller can reach into another connection.
"""

from __future__ import annotations

import hmac

from chatserver.backends.records import Person
from chatserver.core.fanout import Subscriber
from common.nicks import nick_key


def person(sub: Subscriber) -> Person:
    return Person(sub.nick, sub.away, sub.op, sub.is_host, sub.room, sub.address, sub.token)


class NickTaken(Exception):
    def __init__(self, nick: str, suggestion: str) -> None:
        super().__init__(f"the nickname {nick!r} is taken")
        self.suggestion = suggestion


class Registry:
    """nick_key -> the session holding that name."""

    def __init__(self) -> None:
        self._nicks: dict[str, Subscriber] = {}

    def claim(self, sub: Subscriber, new: str, replacing: Subscriber | None = None) -> str:
        """Give ``sub`` the nickname ``new`` (``replacing`` may hold it); returns the old one."""
        holder = self._nicks.get(nick_key(new))
        if holder is not None and holder is not sub and holder is not replacing:
            raise NickTaken(new, self._suggest(new))
        old = sub.nick
        if old and self._nicks.get(nick_key(old)) is sub:
            del self._nicks[nick_key(old)]
        self._nicks[nick_key(new)] = sub
        sub.nick = new
        return old

    def stale_session(self, nick: str, token: str | None) -> Subscriber | None:
        """The session holding ``nick`` if ``token`` is its resume token (the
        client's own connection, which the server has not yet seen die)."""
        holder = self._nicks.get(nick_key(nick))
        if holder is None or not token or not hmac.compare_digest(holder.token, token):
            return None
        return holder

    def _suggest(self, nick: str) -> str:
        base = nick[:29]
        for n in range(2, 1000):
            candidate = f"{base}{n}"
            if nick_key(candidate) not in self._nicks:
                return candidate
        return base + "_"  # pragma: no cover

    def release(self, sub: Subscriber) -> None:
        key = nick_key(sub.nick)
        if self._nicks.get(key) is sub:
            del self._nicks[key]

    def holder(self, nick: str) -> Subscriber | None:
        return self._nicks.get(nick_key(nick))

    def everyone(self) -> list[Subscriber]:
        return list(self._nicks.values())
