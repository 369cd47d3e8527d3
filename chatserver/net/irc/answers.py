"""The answers to an IRC client's questions as numerics: NAMES, WHO, WHOIS, LIST, ban lists, modes, a topic's setter.

Each renders the rules' answer (``rules/lookup.py``, ``rules/rooms.py``, the
native ``RoomList`` and ``Users``) for one client (``replies.Client``: its
capabilities, the command the answer is for, the names said with ``USER``).
"""

from __future__ import annotations

from typing import Protocol

from chatserver.rules import lookup, rooms
from common import messages as m

from . import names
from .errors import Said
from .names import HOST, irc_nick, prefix
from .people import People


class Client(Protocol):
    """What an answer's rendering reads of the connection (``replies.Client``; not imported: it renders these)."""

    caps: set[str]
    people: People
    context: Said

    def numeric(self, code: str, *params: str) -> str: ...
    def notice(self, text: str) -> list[str]: ...


def members(client: Client, msg: lookup.Members) -> list[str]:
    room = msg.room
    if client.context.command == "WHO":
        lines = [
            client.numeric(
                "352",
                room,
                client.people.of(p.nick).user,
                HOST,
                names.SERVER,
                irc_nick(p.nick),
                ("G" if p.away else "H") + marks(client, p.op, p.voice),
                f"0 {client.people.of(p.nick).realname}",
            )
            for p in msg.members
        ]
        return [*lines, client.numeric("315", client.context.target, "End of /WHO list")]
    shown = [name_in_list(client, p) for p in msg.members]
    lines, line = [], []
    for name in shown:
        line.append(name)
        if sum(len(n) + 1 for n in line) > 380:
            lines.append(client.numeric("353", "@" if msg.secret else "=", room, " ".join(line)))
            line = []
    if line:
        lines.append(client.numeric("353", "@" if msg.secret else "=", room, " ".join(line)))
    return [*lines, client.numeric("366", room, "End of /NAMES list")]


def name_in_list(client: Client, p: lookup.Member) -> str:
    name = irc_nick(p.nick)
    if "userhost-in-names" in client.caps:
        name = prefix(p.nick)
    return marks(client, p.op, p.voice) + name


def marks(client: Client, op: bool, voice: bool) -> str:
    """``@`` before an operator's name, ``+`` before a voiced one's (``PREFIX=(ov)@+``); both
    for a voiced operator when the client asked for ``multi-prefix``, else the highest."""
    if "multi-prefix" in client.caps:
        return ("@" if op else "") + ("+" if voice else "")
    return "@" if op else "+" if voice else ""


def modes(client: Client, msg: rooms.Modes) -> list[str]:
    lines = [client.numeric("324", msg.room, msg.modes, *msg.args)]
    if msg.created:
        lines.append(client.numeric("329", msg.room, str(int(msg.created))))
    return lines


def invited(client: Client, msg: rooms.Invited) -> list[str]:
    return [client.numeric("341", irc_nick(msg.nick), msg.room)]


def profile(client: Client, msg: lookup.Profile) -> list[str]:
    nick = irc_nick(msg.nick)
    if client.context.command == "WHO":
        room = msg.rooms[0] if msg.rooms else "*"
        mark = msg.marks[0] if msg.marks else ""
        flags = ("G" if msg.away else "H") + ("*@" if msg.op else marks(client, "@" in mark, "+" in mark))
        said = client.people.of(msg.nick)
        found = [client.numeric("352", room, said.user, HOST, names.SERVER, nick, flags, f"0 {said.realname}")]
        return [*(found if msg.found else []), client.numeric("315", client.context.target, "End of /WHO list")]
    if not msg.found:
        return [client.numeric("401", nick, "No such nick"), client.numeric("318", nick, "End of /WHOIS list")]
    said = client.people.of(msg.nick)
    lines = [client.numeric("311", nick, said.user, HOST, "*", said.realname)]
    if msg.rooms:
        room_marks = msg.marks or [""] * len(msg.rooms)
        shown = [
            ("@" if msg.op else marks(client, "@" in mark, "+" in mark)) + r
            for r, mark in zip(msg.rooms, room_marks, strict=False)
        ]
        lines.append(client.numeric("319", nick, " ".join(shown)))
    lines.append(client.numeric("312", nick, names.SERVER, "lanchat"))
    if msg.account:
        lines.append(client.numeric("330", nick, irc_nick(msg.account), "is logged in as"))
    if msg.op:
        lines.append(client.numeric("313", nick, "is an operator" + (" (runs this server)" if msg.host else "")))
    if msg.address:
        lines.append(client.numeric("378", nick, f"is connecting from *@{msg.address} {msg.address}"))
    if msg.away:
        lines.append(client.numeric("301", nick, msg.away))
    return [*lines, client.numeric("318", nick, "End of /WHOIS list")]


def bans(client: Client, msg: lookup.Bans) -> list[str]:
    room = client.context.target
    lines = [
        client.numeric("367", room, f"{irc_nick(nick)}!*@{address or '*'}", irc_nick(by))
        for nick, address, by in msg.bans
    ]
    return [*lines, client.numeric("368", room, "End of channel ban list")]


def topic_set(client: Client, msg: rooms.TopicSet) -> list[str]:
    """``333``: who set the topic and when, if known (``TOPIC #room``, and after joining a room with one)."""
    if not msg.topic or not msg.by:
        return []
    return [client.numeric("333", msg.room, irc_nick(msg.by), str(int(msg.at)))]


def room_bans(client: Client, msg: rooms.RoomBans) -> list[str]:
    lines = [client.numeric("367", msg.room, mask, irc_nick(by), str(int(at))) for mask, by, at in msg.bans]
    return [*lines, client.numeric("368", msg.room, "End of channel ban list")]


def room_list(client: Client, msg: m.RoomList) -> list[str]:
    lines = [client.numeric("321", "Channel", "Users  Name")]
    for name, count, topic in zip(msg.names, msg.counts, msg.topics, strict=False):
        lines.append(client.numeric("322", name, str(count), topic))
    if msg.more:
        lines += client.notice(f"{msg.more} more room(s) not listed: LIST >{msg.names[-1]} lists those after it")
    return [*lines, client.numeric("323", "End of /LIST")]


def users(client: Client, msg: m.Users) -> list[str]:
    found = [lookup.Member(nick, False, "away" if nick in msg.away else "") for nick in msg.nicks]
    return members(client, lookup.Members(msg.room, found, msg.more))
