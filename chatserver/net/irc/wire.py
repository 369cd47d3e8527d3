"""The fan-out's IRC wire formats: a room's frames as IRC lines, encoded once per format per batch, never per recipient.

An IRC client's room lines depend only on what it asked for with ``CAP``:
``server-time`` (a ``time`` tag), ``message-tags`` (a ``msgid``),
``away-notify`` (``AWAY`` lines), ``account-tag`` (an ``account`` tag on what
a logged-in person says), ``extended-join`` (``JOIN #room ACCOUNT :realname``)
and ``account-notify`` (``ACCOUNT`` lines). Each combination is one wire
format (``wire_name``), added to the fan-out (``add_wire``), so a batch is
encoded at most once for each combination in use, whatever the number of IRC
clients: the account and real name travel on the message (``ChatMessage``'s
and ``Notice``'s ``account``), never looked up per recipient. A room frame names its sender and room, so
its lines are the same for every recipient; a sender's own message comes back as itself (its
receipt, ``Participant.echoes``) to one with ``echo-message``, and as
nothing (``Accepted``) to one without.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable

from chatserver.core.frames import Frame, add_wire, wire_bytes
from common import messages as m

from . import lines, names
from .lines import build, encode, irc_time, tag_text, text_lines, with_client_tags
from .names import irc_nick, mode_params, prefix

#: The texts of the rules' leave notices (``membership.part``; ``Participant.unregister``; a kick).
_KICKED = re.compile(r"\(kicked by (\S+?)(?:: (.*))?\)$")
_REASON = re.compile(r"\((.*)\)$")


#: The capabilities a client's room lines depend on, in ``wire_name``'s order, each with its letter there.
WIRE_CAPS = {
    "server-time": "t",
    "message-tags": "m",
    "away-notify": "a",
    "account-tag": "c",
    "extended-join": "j",
    "account-notify": "n",
}


def wire_name(
    server_time: bool,
    msgid: bool,
    away: bool,
    account_tag: bool = False,
    extended_join: bool = False,
    account_notify: bool = False,
) -> str:
    """The fan-out wire format of an IRC client with these capabilities (``WIRE_CAPS``'s order)."""
    flags = (server_time, msgid, away, account_tag, extended_join, account_notify)
    return "irc" + "".join(letter for letter, on in zip(WIRE_CAPS.values(), flags, strict=True) if on)


def flags_of(caps: set[str]) -> tuple[bool, ...]:
    """A client's capabilities as ``wire_name``'s and ``room_lines``'s flags."""
    return tuple(cap in caps for cap in WIRE_CAPS)


def msgid(room: str, seq: int) -> str:
    """A room message's ``msgid`` (``draft/chathistory`` reads it back: ``seq_of``)."""
    return f"{seq}{room}"


def seq_of(msgid: str) -> int | None:
    digits = re.match(r"\d+", msgid)
    return int(digits.group()) if digits else None


def tags_of(msg: m.Message, server_time: bool, with_msgid: bool, account_tag: bool = False, **more: str) -> str:
    tags = dict(more)
    if server_time and isinstance(getattr(msg, "ts", None), float | int):
        tags["time"] = irc_time(msg.ts)  # type: ignore[attr-defined]
    cls = msg.__class__
    if with_msgid and cls is m.ChatMessage:
        tags["msgid"] = msgid(msg.room, msg.seq)  # type: ignore[attr-defined]
    elif with_msgid and cls is m.Private:  # (not kept in a room's numbering: its time names it)
        tags["msgid"] = f"p{int(msg.ts * 1_000_000)}"  # type: ignore[attr-defined]
    if account_tag and (account := getattr(msg, "account", None)):  # (ChatMessage, Private, Notice: the sender's)
        tags["account"] = irc_nick(account)
    text = tag_text(tags)
    if with_msgid and cls in _TAGGED:  # (the sender's client-only tags, to a client with message-tags)
        return with_client_tags(text, msg.tags)  # type: ignore[attr-defined]
    return text


#: The messages that carry a sender's client-only tags (``tags``).
_TAGGED = (m.ChatMessage, m.Private)


def chat_lines(msg: m.ChatMessage, tags: str) -> list[str]:
    command = "NOTICE" if msg.notice else "PRIVMSG"
    return text_lines(command, prefix(msg.nick), msg.room, msg.text, action=msg.action, tags=tags)


def notice_lines(
    msg: m.Notice, tags: str, away: bool, extended_join: bool = False, account_notify: bool = False
) -> list[str]:
    """A room's notice as what an IRC client expects of it (a JOIN, a NICK, ...), else a server NOTICE."""
    room, nick, event = msg.room or "*", msg.nick, msg.event
    if nick is not None:
        source = prefix(nick)
        if event == "join":  # (``JOIN #room ACCOUNT :realname`` with extended-join; ``*``: a guest)
            account = irc_nick(msg.account) if msg.account else "*"
            extended = (account, msg.realname or nick) if extended_join else ()
            joined = [build("JOIN", room, *extended, source=source, tags=tags)]
            if away and msg.reason:  # (away-notify: someone away who joins is said to be; ``reason``: why away)
                joined.append(build("AWAY", msg.reason, source=source, tags=tags))
            return joined
        if event == "account":  # (logged in or out: ``ACCOUNT NAME``, ``ACCOUNT *``)
            told = irc_nick(msg.account) if msg.account else "*"
            return [build("ACCOUNT", told, source=source, tags=tags)] if account_notify else []
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


def _nothing(msg: m.Message, tags: str, *flags: bool) -> list[str]:
    return []


def _error(msg: m.Error, tags: str, *flags: bool) -> list[str]:
    return text_lines("NOTICE", names.SERVER, "*", msg.message, tags=tags)


#: How each frame that goes to a room is said on IRC (anything else: a server NOTICE of its text, if any).
_ROOM_LINES: dict[type, Callable[..., list[str]]] = {
    m.ChatMessage: lambda msg, tags, *flags: chat_lines(msg, tags),
    m.Notice: notice_lines,
    m.Accepted: _nothing,  # (a receipt: an IRC client without echo-message gets nothing for its own line)
    m.Error: _error,
}


def room_lines(
    msg: m.Message,
    server_time: bool,
    with_msgid: bool,
    away: bool,
    account_tag: bool = False,
    extended_join: bool = False,
    account_notify: bool = False,
) -> list[str]:
    render = _ROOM_LINES.get(msg.__class__)
    if render is None:
        text = getattr(msg, "text", "")
        return text_lines("NOTICE", names.SERVER, "*", text) if isinstance(text, str) and text else []
    return render(msg, tags_of(msg, server_time, with_msgid, account_tag), away, extended_join, account_notify)


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


def _encoder(*flags: bool) -> tuple[Callable[[Frame], bytes], Callable[[list[Frame]], list[bytes]]]:
    server_time, with_msgid, _, account_tag = flags[:4]
    tagged = server_time or with_msgid or account_tag
    # A room's message reads the same whatever away-notify, extended-join and account-notify say: the
    # wires that differ only in those share one encoding of it (64 wires, 8 ways to write a message).
    chat_wire = wire_name(server_time, with_msgid, False, account_tag)
    shares = wire_name(*flags) != chat_wire

    def encode_frame(frame: Frame) -> bytes:
        msg = frame.msg
        cls = msg.__class__
        if cls is m.ChatMessage:  # (most frames: the room's messages, and echoes)
            if shares:
                return wire_bytes(frame, chat_wire)
            tags = tags_of(msg, server_time, with_msgid, account_tag) if tagged else ""
            return chat_bytes(msg, tags)  # type: ignore[arg-type]
        if cls is m.Accepted:  # (a receipt for a client without echo-message: nothing)
            return b""
        return encode(room_lines(msg, *flags))

    def encode_run(frames: list[Frame]) -> list[bytes]:
        """``encode_frame`` of each, in one call: a batch's messages (and receipts) cost one
        Python call each (``chat_bytes``), not a chain of three."""
        if shares:  # (a message's bytes made once, for its wire; the rest as ``encode_frame`` makes them)
            return [wire_bytes(f, chat_wire) if f.msg.__class__ is m.ChatMessage else encode_frame(f) for f in frames]
        out = []
        for frame in frames:
            msg = frame.msg
            cls = msg.__class__
            if cls is m.ChatMessage:
                out.append(chat_bytes(msg, tags_of(msg, server_time, with_msgid, account_tag) if tagged else ""))
            elif cls is m.Accepted:
                out.append(b"")
            else:
                out.append(encode_frame(frame))
        return out

    return encode_frame, encode_run


for _flags in itertools.product((False, True), repeat=len(WIRE_CAPS)):
    add_wire(wire_name(*_flags), *_encoder(*_flags))
