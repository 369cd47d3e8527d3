"""What the IRC users of this port said of themselves (USER: user name, real name), and who was here (WHOWAS).

lanchat knows a person by name alone; an IRC client also gives a user name
and a real name, which ``WHO`` and ``WHOIS`` show. They are kept here, for
the IRC users of this server while they are connected (someone who came in
another way, or through another node of a cluster, is shown with their
name for both). ``WHOWAS`` reads the last ``MAX_WHOWAS`` IRC users who left
or took another name, in memory: nothing of it is stored.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from common.nicks import nick_key

#: People remembered by ``WHOWAS``, at most (the oldest go first).
MAX_WHOWAS = 1000
#: A user name is cut to this many characters (as ``USERLEN``).
USERLEN = 16


@dataclasses.dataclass(frozen=True, slots=True)
class Said:
    """What one IRC user said of itself, and under which name (when it left, for ``WHOWAS``)."""

    nick: str
    user: str
    realname: str
    when: float = 0.0


class People:
    """One IRC port's users (``Said`` by name) and its ``WHOWAS`` record; safe from any thread."""

    def __init__(self, clock: Callable[[], float] = time.time, keep: int = MAX_WHOWAS) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._here: dict[str, Said] = {}
        self._was: collections.deque[Said] = collections.deque(maxlen=keep)
        #: How each connected IRC client is reached directly (``tagmsg.py``'s ``Deliver``), by name: an
        #: account's devices share one name, so a name has one for each of its IRC clients here.
        self._reach: dict[str, list[Callable[[Any], None]]] = {}

    def came(self, nick: str, user: str, realname: str, reach: Callable[[Any], None] | None = None) -> None:
        with self._lock:
            self._here[nick_key(nick)] = Said(nick, user[:USERLEN], realname)
            if reach is not None:
                self._reach.setdefault(nick_key(nick), []).append(reach)

    def reached(self, nick: str) -> list[Callable[[Any], None]]:
        """How the IRC clients of this port called ``nick`` are reached directly (none: it is not one)."""
        with self._lock:
            return list(self._reach.get(nick_key(nick), ()))

    def renamed(self, old: str, new: str) -> None:
        with self._lock:
            said = self._here.pop(nick_key(old), None)
            reach = self._reach.pop(nick_key(old), None)  # (its devices are renamed with it: the first moves all)
            if reach is not None:
                self._reach.setdefault(nick_key(new), []).extend(reach)
            if said is not None:
                self._here[nick_key(new)] = dataclasses.replace(said, nick=new)
                self._was.append(dataclasses.replace(said, when=self.clock()))

    def left(self, nick: str, reach: Callable[[Any], None] | None = None) -> None:
        """``nick``'s IRC client ``reach`` went (its other devices stay reachable)."""
        with self._lock:
            mine = self._reach.get(nick_key(nick), [])
            if reach in mine:
                mine.remove(reach)
            if not mine:
                self._reach.pop(nick_key(nick), None)
            said = self._here.pop(nick_key(nick), None)
            if said is not None:
                self._was.append(dataclasses.replace(said, when=self.clock()))

    def of(self, nick: str) -> Said:
        """What ``nick`` said of itself (its name for both, if it is not an IRC user of this port)."""
        with self._lock:
            said = self._here.get(nick_key(nick))
        return said if said is not None and said.nick == nick else Said(nick, nick[:USERLEN], nick)

    def was(self, nick: str, count: int) -> list[Said]:
        """The last ``count`` (0 or less: all) who were called ``nick``, newest first."""
        key = nick_key(nick)
        with self._lock:
            found = [s for s in reversed(self._was) if nick_key(s.nick) == key]
        return found[:count] if count > 0 else found
