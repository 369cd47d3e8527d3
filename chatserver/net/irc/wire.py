"""The fan-out's IRC wire formats: a room's frames as IRC lines, encoded once per format per batch, never per recipient.

An IRC client's room lines depend only on what it asked for with ``CAP``:
``server-time`` (a ``time`` tag), ``message-tags`` (a ``msgid``) and
``away-notify`` (``AWAY`` lines). Each combination is one wire format
(``wire_name``), added to the fan-out (``add_wire``), so a batch is encoded
at most once for each combination in use, whatever the number of IRC
clients. A room frame names its sender and room, so its lines are the same
for every recipient; a sender's own message comes back as itself (its
receipt, ``Participant.echoes``) to one with ``echo-message``, and as
nothing (``Accepted``) to one without.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable

from chatserver.core.frames import Frame, add_wire
from common import messages as m

from . import lines, names
from .lines import build, encode, irc_time, tag_text, text_lines
from .names import irc_nick, mode_params, prefix

#: The texts of the rules' leave notices (``membership.part``; ``Participant.unregister``; a kick).
_KICKED = re.compile(r"\(kicked by (\S+?)(?:: (.*))?\)$")
_REASON = re.compile(r"\((.*)\)$")


def wire_name(server_time: bool, msgid: bool, away: bool) -> str:
    """The fan-out wire format of an IRC client with these capabilities."""
    return "irc" + ("t" if server_time else "") + ("m" if msgid else "") + ("a" if away else "")


def msgid(room: str, seq: int) -> str:
    """A room message's ``msgid`` (``draft/chathistory`` reads it back: ``seq_of``)."""
    return f"{seq}{room}"


def seq_of(msgid: str) -> int | None:
    digits = re.match(r"\d+", msgid)
    return int(digits.group()) if digits else None


def tags_of(msg: m.Message, server_time: bool, with_msgid: bool, **more: str) -> str:
    tags = dict(more)
    if server_time and isinstance(getattr(msg, "ts", None), float | int):
        tags["time"] = irc_time(msg.ts)  # type: ignore[attr-defined]
    if with_msgid and isinstance(msg, m.ChatMessage):
        tags["msgid"] = msgid(msg.room, msg.seq)
    return tag_text(tags)


def chat_lines(msg: m.ChatMessage, tags: str) -> list[str]:
    command = "NOTICE" if msg.notice else "PRIVMSG"
    return text_lines(command, prefix(msg.nick), msg.room, msg.text, action=msg.action, tags=tags)


def notice_lines(msg: m.Notice, tags: str, away: bool) -> list[str]:
    """A room's notice as what an IRC client expects of it (a JOIN, a NICK, ...), else a server NOTICE."""
    room, nick, event = msg.room or "*", msg.nick, msg.event
    if nick is not None:
        source = prefix(nick)
        if event == "join":
            return [build("JOIN", room, source=source, tags=tags)]
        if event == "leave":
            if msg.text == f"{nick} left {room}":
                return [build("PART", room, source=source, tags=tags)]
            if msg.reason is not None and msg.text.startswith(f"{nick} left {room}: "):  # (a part message)
                return [build("PART", room, msg.reason, source=source, tags=tags)]
            kicked = _KICKED.search(msg.text)
            if kicked:
                by = kicked.group(1)
                return [build("KICK", room, irc_nick(nick), kicked.group(2) or by, source=prefix(by), tags=tags)]
            if msg.reason is not None:  # (a quit message)
                return [build("QUIT", msg.reason, source=source, tags=tags)]
            reason = _REASON.search(msg.text)
            return [build("QUIT", reason.group(1) if reason else "Quit", source=source, tags=tags)]
        if event == "nick" and msg.previous is not None:
            return [build("NICK", irc_nick(nick), source=prefix(msg.previous), tags=tags)]
        if event == "topic" and msg.topic is not None:
            return [build("TOPIC", room, msg.topic, source=source, tags=tags)]
        if event == "away":
            said = f"{nick} is away: "
            if not away:
                return []
            if msg.text.startswith(said):
                return [build("AWAY", msg.text[len(said) :], source=source, tags=tags)]
            return [build("AWAY", source=source, tags=tags)]
        if event == "mode" and msg.mode:  # (a room's modes: ``rules/rooms.py``)
            return [build("MODE", room, *mode_params(msg.mode, msg.target), source=source, tags=tags)]
        if event in ("op", "deop"):
            sign = "+" if event == "op" else "-"
            return [build("MODE", room, f"{sign}o", irc_nick(nick), source=names.SERVER, tags=tags)]
    return text_lines("NOTICE", names.SERVER, room, msg.text, tags=tags)


def _nothing(msg: m.Message, tags: str, away: bool) -> list[str]:
    return []


def _error(msg: m.Error, tags: str, away: bool) -> list[str]:
    return text_lines("NOTICE", names.SERVER, "*", msg.message, tags=tags)


#: How each frame that goes to a room is said on IRC (anything else: a server NOTICE of its text, if any).
_ROOM_LINES: dict[type, Callable[..., list[str]]] = {
    m.ChatMessage: lambda msg, tags, away: chat_lines(msg, tags),
    m.Notice: notice_lines,
    m.Accepted: _nothing,  # (a receipt: an IRC client without echo-message gets nothing for its own line)
    m.Error: _error,
}


def room_lines(msg: m.Message, server_time: bool, with_msgid: bool, away: bool) -> list[str]:
    render = _ROOM_LINES.get(msg.__class__)
    if render is None:
        text = getattr(msg, "text", "")
        return text_lines("NOTICE", names.SERVER, "*", text) if isinstance(text, str) and text else []
    return render(msg, tags_of(msg, server_time, with_msgid), away)


#: ``prefix`` of a sender, kept: a room's traffic comes from a few senders, each line names one.
_source = functools.lru_cache(maxsize=4096)(prefix)


def chat_bytes(msg: m.ChatMessage, tags: str) -> bytes:
    """``encode(chat_lines(msg, tags))``, the usual message (one line that fits, nothing to
    cut or drop) made in one step; anything else by ``chat_lines``."""
    text = msg.text
    if text and not text.isspace() and "\n" not in text and "\r" not in text and "\0" not in text:
        body = f"\x01ACTION {text}\x01" if msg.action else text
        command = "NOTICE" if msg.notice else "PRIVMSG"
        line = f"{tags}:{_source(msg.nick)} {command} {msg.room} :{body}\r\n".encode("utf-8", "replace")
        if len(line) <= lines.MAX_LINE:  # (tags and all: within what ``text_lines`` would leave whole)
            return line
    return encode(chat_lines(msg, tags))


def _encoder(server_time: bool, with_msgid: bool, away: bool) -> Callable[[Frame], bytes]:
    tagged = server_time or with_msgid

    def encode_frame(frame: Frame) -> bytes:
        msg = frame.msg
        cls = msg.__class__
        if cls is m.ChatMessage:  # (most frames: the room's messages, and echoes)
            return chat_bytes(msg, tags_of(msg, server_time, with_msgid) if tagged else "")  # type: ignore[arg-type]
        if cls is m.Accepted:  # (a receipt for a client without echo-message: nothing)
            return b""
        return encode(room_lines(msg, server_time, with_msgid, away))

    return encode_frame


for _flags in itertools.product((False, True), repeat=3):
    add_wire(wire_name(*_flags), _encoder(*_flags))
