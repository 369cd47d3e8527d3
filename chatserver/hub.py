"""Fan-out between sessions, behind one small interface.

Sessions never talk to each other directly: they register a nickname, join a
room and publish to it; the hub stamps each message with the room's sequence
number and time and hands the *same* encoded ``Frame`` to every member. A
second backend (say, rooms shared between servers through Redis) implements
``Hub`` and leaves session code untouched.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable
from typing import Protocol

from common import messages as m
from common.nicks import nick_key
from common.plain import render_plain

LOBBY = "#lobby"
DEFAULT_HISTORY = 1000  # messages kept per room, for reconnecting clients


class Frame:
    """A message encoded at most once per wire format, however many receive it."""

    __slots__ = ("msg", "__dict__")

    def __init__(self, msg: m.Message) -> None:
        self.msg = msg

    @functools.cached_property
    def native(self) -> bytes:
        return m.encode(self.msg)

    @functools.cached_property
    def plain(self) -> bytes:
        return (render_plain(self.msg) + "\r\n").encode("utf-8")


class Subscriber(Protocol):
    """What the hub needs of a session."""

    nick: str

    def deliver(self, frame: Frame) -> None:
        """Queue ``frame`` for the peer; must not block."""


class NickTaken(Exception):
    def __init__(self, nick: str, suggestion: str) -> None:
        super().__init__(f"the nickname {nick!r} is taken")
        self.suggestion = suggestion


class Hub(Protocol):
    def register(self, sub: Subscriber, nick: str, replacing: Subscriber | None = None) -> None: ...
    def rename(self, sub: Subscriber, new: str) -> str: ...
    def unregister(self, sub: Subscriber) -> None: ...
    def find(self, nick: str) -> Subscriber | None: ...
    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Callable[[list[m.Message], int], None] | None = None,
        after: int | None = None,
    ) -> None: ...
    def leave(self, room: str, sub: Subscriber) -> None: ...
    def members(self, room: str) -> list[str]: ...
    def publish(
        self, room: str, build: Callable[[int, float], m.Message], exclude: Subscriber | None = None
    ) -> Frame: ...
    def announce(self, room: str, build: Callable[[float], m.Message], exclude: Subscriber | None = None) -> None: ...
    def history(self, room: str, after: int) -> tuple[list[m.Message], int]: ...
    def sessions(self) -> list[Subscriber]: ...


class LocalHub:
    """The in-process hub: one lock orders every room's messages."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self._lock = threading.RLock()  # greet() may ask for members while joining
        self._nicks: dict[str, Subscriber] = {}  # nick_key -> session
        self._rooms: dict[str, dict[Subscriber, None]] = {}  # insertion-ordered sets
        self._seq: dict[str, int] = {}
        self._history_size = history
        self._history: dict[str, collections.deque[m.Message]] = {}

    # -- nicknames --
    def register(self, sub: Subscriber, nick: str, replacing: Subscriber | None = None) -> None:
        """Claim ``nick`` for ``sub``; raises ``NickTaken`` with a free alternative.

        ``replacing`` may hold the name already: a reconnecting client taking
        over from its own stale session.
        """
        self.rename(sub, nick, replacing)

    def rename(self, sub: Subscriber, new: str, replacing: Subscriber | None = None) -> str:
        """Give ``sub`` the nickname ``new``; returns the old one."""
        with self._lock:
            holder = self._nicks.get(nick_key(new))
            if holder is not None and holder is not sub and holder is not replacing:
                raise NickTaken(new, self._suggest(new))
            old = getattr(sub, "nick", "")
            if self._nicks.get(nick_key(old)) is sub:
                del self._nicks[nick_key(old)]
            self._nicks[nick_key(new)] = sub
            sub.nick = new
            return old

    def _suggest(self, nick: str) -> str:
        base = nick[:29]
        for n in range(2, 1000):
            candidate = f"{base}{n}"
            if nick_key(candidate) not in self._nicks:
                return candidate
        return base + "_"  # pragma: no cover

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            key = nick_key(sub.nick)
            if self._nicks.get(key) is sub:
                del self._nicks[key]
            for members in self._rooms.values():
                members.pop(sub, None)

    def find(self, nick: str) -> Subscriber | None:
        with self._lock:
            return self._nicks.get(nick_key(nick))

    # -- rooms --
    def join(
        self,
        room: str,
        sub: Subscriber,
        greet: Callable[[list[m.Message], int], None] | None = None,
        after: int | None = None,
    ) -> None:
        """Add ``sub`` to ``room``. ``greet`` is called with the messages after
        ``after`` (and how many of those are lost) before any live message can
        reach ``sub``."""
        with self._lock:
            self._rooms.setdefault(room, {})[sub] = None
            if greet is not None:
                greet(*self._history_after(room, after) if after is not None else ([], 0))

    def leave(self, room: str, sub: Subscriber) -> None:
        with self._lock:
            self._rooms.get(room, {}).pop(sub, None)

    def members(self, room: str) -> list[str]:
        with self._lock:
            return [s.nick for s in self._rooms.get(room, {})]

    def sessions(self) -> list[Subscriber]:
        with self._lock:
            return list(self._nicks.values())

    def publish(self, room: str, build: Callable[[int, float], m.Message], exclude: Subscriber | None = None) -> Frame:
        """Stamp with the room's next sequence number, keep in the room's history,
        encode once, and queue to every member but ``exclude``, in room order."""
        with self._lock:
            seq = self._seq.get(room, 0) + 1
            self._seq[room] = seq
            frame = Frame(build(seq, time.time()))
            history = self._history.get(room)
            if history is None:
                history = self._history[room] = collections.deque(maxlen=self._history_size)
            history.append(frame.msg)
            self._fan_out(room, frame, exclude)
        return frame

    def announce(self, room: str, build: Callable[[float], m.Message], exclude: Subscriber | None = None) -> None:
        """A notice to the room: in order with messages, but not sequenced or kept."""
        with self._lock:
            self._fan_out(room, Frame(build(time.time())), exclude)

    def _fan_out(self, room: str, frame: Frame, exclude: Subscriber | None) -> None:
        for sub in self._rooms.get(room, ()):
            if sub is not exclude:
                sub.deliver(frame)

    def history(self, room: str, after: int) -> tuple[list[m.Message], int]:
        """Messages of ``room`` numbered above ``after``, and how many of those
        are no longer kept (more were missed than the history holds)."""
        with self._lock:
            return self._history_after(room, after)

    def _history_after(self, room: str, after: int) -> tuple[list[m.Message], int]:
        kept = self._history.get(room, ())
        last = self._seq.get(room, 0)
        if after >= last:
            return [], 0
        missed = [msg for msg in kept if getattr(msg, "seq", 0) > after]
        first = getattr(missed[0], "seq", last + 1) if missed else last + 1
        return missed, max(0, first - after - 1)
