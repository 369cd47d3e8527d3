"""The plain-line form of server messages, for nc/telnet users and line mode.

A line from the server itself (notice, error, list, welcome) starts ``* ``.
A line a person wrote never does: ``NICK: text``, an action ``NICK text``,
``(private) NICK -> TO: text``, a replayed one ``(history) NICK: text`` (a
``/search`` result ``(search DATE TIME) NICK: text``), and
the later lines of a multi-line message are indented. A nickname cannot start
with ``*``, ``(`` or a space, so nobody can forge a notice (``/me joined
#lobby``) or a private message. Peer-controlled text is neutralised here, so
a raw terminal is safe. Someone in several rooms sees each room's line
start with its room: ``[#dev] NICK: text``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from . import messages as m
from .safetext import neutralise

#: A nick as shown: the same few on every line of a busy room.
_safe_nick = functools.lru_cache(maxsize=4096)(neutralise)


def render_plain(msg: m.Message, with_room: bool = False) -> str:
    """One display line (no newline) for a server-to-client message; ``with_room``
    (for someone in several rooms), a room's line starts ``[#room] ``."""
    line = _render(msg)
    room = msg.room if with_room and msg.__class__ in (m.ChatMessage, m.Notice) else None
    return f"[{neutralise(room)}] {line}" if room else line


def _render(msg: m.Message) -> str:
    render = _RENDERERS.get(msg.__class__)
    return render(msg) if render is not None else f"* {msg.TYPE}"


def _chat(msg: m.ChatMessage) -> str:
    nick = _safe_nick(msg.nick)
    # A multi-line message: continuation lines are indented, so none of
    # them can pass for another user's line.
    text = neutralise(msg.text, keep_newlines=True).replace("\n", "\n    ")
    line = f"{nick} {text}" if msg.action else f"{nick}: {text}"
    if msg.replay == "search":  # found among older messages: when matters
        return f"(search {time.strftime('%Y-%m-%d %H:%M', time.localtime(msg.ts))}) {line}"
    return f"({msg.replay}) {line}" if msg.replay else line


def _private(msg: m.Private) -> str:
    return f"(private) {neutralise(msg.nick)} -> {neutralise(msg.to)}: {neutralise(msg.text)}"


def _notice(msg: m.Notice) -> str:
    return "* " + neutralise(msg.text, keep_newlines=True).replace("\n", "\n* ")


def _users(msg: m.Users) -> str:
    away = set(msg.away)
    names = ", ".join(neutralise(n) + (" (away)" if n in away else "") for n in msg.nicks)
    return f"* {len(msg.nicks) + msg.more} in {neutralise(msg.room)}: {names}{_and_more(msg.more)}"


def _joined(msg: m.Joined) -> str:
    topic = f" — topic: {neutralise(msg.topic)}" if msg.topic else ""
    names = ", ".join(neutralise(n) for n in msg.users) + _and_more(msg.more)
    return f"* you are in {neutralise(msg.room)} ({len(msg.users) + msg.more} here: {names}){topic}"


def _rooms(msg: m.RoomList) -> str:
    mine = msg.mine + [False] * (len(msg.names) - len(msg.mine))
    rooms = [
        f"{neutralise(name)} ({count}{', joined' if joined else ''})" + (f" {neutralise(topic)}" if topic else "")
        for name, count, topic, joined in zip(msg.names, msg.counts, msg.topics, mine, strict=False)
    ]
    if msg.more:  # (the next page starts after the last listed)
        rooms.append(f"and {msg.more} more" + (f" (/rooms {neutralise(msg.names[-1])})" if msg.names else ""))
    return "* rooms: " + "; ".join(rooms)


def _conversations(msg: m.Conversations) -> str:
    if not msg.names:
        return "* no private conversation kept yet (/msg NICK TEXT to an account starts one)"
    names = ", ".join(f"@{neutralise(n)}" for n in msg.names) + _and_more(msg.more)
    return f"* private conversations, the most recent first: {names} (/history @NICK reads one)"


def _error(msg: m.Error) -> str:
    hint = f" (try {neutralise(msg.suggestion)!r})" if msg.suggestion else ""
    return f"* error: {neutralise(msg.message)}{hint}"


#: How each type of server message reads as a line (any other: ``* TYPE``).
_RENDERERS: dict[type[m.Message], Callable[[Any], str]] = {
    m.ChatMessage: _chat,
    m.Private: _private,
    m.Notice: _notice,
    m.Users: _users,
    m.Joined: _joined,
    m.RoomList: _rooms,
    m.Conversations: _conversations,
    m.Parted: lambda msg: f"* you left {neutralise(msg.room)}; your messages go to {neutralise(msg.focus)}",
    m.Focused: lambda msg: f"* your messages go to {neutralise(msg.room)} (/say #ROOM TEXT for another of your rooms)",
    m.Welcome: lambda msg: f"* welcome to {neutralise(msg.server)}, {neutralise(msg.nick)}!",
    m.Error: _error,
    m.Bye: lambda msg: f"* bye: {neutralise(msg.reason)}" if msg.reason else "* bye",
    m.Reply: lambda msg: neutralise(msg.text),
    m.Accepted: lambda msg: f"* delivered as #{msg.seq}",
}


def _and_more(more: int) -> str:
    """How a list cut to fit one frame says what it left out."""
    return f" and {more} more" if more else ""
