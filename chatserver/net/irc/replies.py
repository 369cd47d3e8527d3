"""What one IRC client alone is sent: numerics, its JOINs, answers, history, errors, rendered from the rules' messages.

A ``Client`` is one connection's state as the encoder needs it (its
capabilities, its batches); ``render`` turns each message for this person
alone into IRC lines. Room traffic is not rendered here (``wire.py``). The
dialect sends its own replies through the rules' ordered channel too
(``Reply``, ``Context``), so that every answer comes in the
person's turn, after what was queued for it before.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable

from chatserver.rules import lookup, rooms
from common import messages as m
from common.rooms import MAX_ROOM, MAX_TOPIC

from . import names, readmarker
from .lines import build, text_lines
from .names import HOST, irc_nick, prefix
from .people import People
from .wire import chat_lines, flags_of, room_lines, tags_of

NICKLEN = 96  # a lanchat name has at most 32 characters; escaped (names.py) it may take three each
_STARTED = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
_ROOM_IN = re.compile(r"#[\w.-]+")


class Reply(m.Message, tag="irc-reply"):
    """Lines the dialect made: each ``[command, *params]`` (a numeric gets the client's nick first)."""

    lines: list[list[str]]


class Raw(m.Message, tag="irc-raw"):
    """Whole lines made for this client alone, sent as they are (a relayed ``TAGMSG``: ``tagmsg.py``)."""

    lines: list[str]


class Context(m.Message, tag="irc-context"):
    """The IRC command the next answers are for, and its target (a numeric names it)."""

    command: str
    target: str = "*"


#: The rules' error codes as IRC numerics, and what the numeric names: the target, the nick asked for, or nothing.
ERRORS: dict[str, tuple[str, str]] = {
    "nick_taken": ("433", "wanted"),
    "name_registered": ("433", "wanted"),  # (an account's name: ergo says so with 433 too)
    "too_many_devices": ("433", "wanted"),  # (an account's devices at their cap: another name, or later)
    "invalid_nick": ("432", "wanted"),
    "nick_reserved": ("432", "wanted"),
    "nick_banned": ("432", "wanted"),
    "password_required": ("464", ""),
    "bad_password": ("464", ""),
    "banned": ("465", ""),
    "no_such_nick": ("401", "target"),
    "not_in_room": ("442", "target"),
    "muted": ("404", "target"),
    "not_operator": ("482", "target"),
    "protected": ("482", "target"),
    "not_kickable": ("482", "target"),
    "too_many_rooms": ("405", "target"),
    "too_many_joins": ("405", "target"),
    "invalid_room": ("403", "target"),
    "empty_message": ("412", ""),
    "no_oper_host": ("491", ""),
    "no_such_room": ("403", "target"),
    "not_in_that_room": ("441", "person"),
    "already_in_room": ("443", "person"),
    "room_full": ("471", "target"),
    "unknown_mode": ("472", "mode"),
    "invite_only": ("473", "target"),
    "bad_key": ("475", "target"),
    "moderated": ("404", "target"),
    "bad_mode_value": ("696", "mode"),
    "banned_from_room": ("474", "target"),
}
#: Where an IRC command's refusal is said as another numeric than the rules' code says (a message
#: to a room one is not in is 404, not 442).
_BY_COMMAND = {("PRIVMSG", "442"): "404", ("NOTICE", "442"): "404", ("KILL", "482"): "481"}


class Client:
    """One IRC connection's state as its encoder needs it (used under the session's send lock)."""

    def __init__(self, network: str, history: int, people: People) -> None:
        self.network = network
        self.history = history
        self.people = people
        self.name = ""  # its lanchat name, once registered (``People`` follows its renames)
        self.caps: set[str] = set()
        self.nick = "*"  # as shown to it (its lanchat name, escaped)
        self.account: str | None = None  # the account it is logged in to (its own JOIN says it: extended-join)
        self.realname = ""  # what it said with USER
        self.wanted = "*"  # the nick it asked for last
        self.context = Context("", "*")
        self._batches = itertools.count(1)
        self._batch: str | None = None  # the replay batch open, and how many are left of it
        self._left = 0

    # -- what it asked for ----------------------------------------------------
    @property
    def replays(self) -> bool:
        """Does it get a room's recent messages on joining (as Ergo: with server-time and batch)?"""
        return "server-time" in self.caps and "batch" in self.caps

    def numeric(self, code: str, *params: str) -> str:
        return build(code, self.nick, *params, source=names.SERVER)

    def notice(self, text: str) -> list[str]:
        return text_lines("NOTICE", names.SERVER, self.nick, text)

    # -- rendering ----------------------------------------------------------------
    def render(self, msg: m.Message, nick: str, account: str | None = None) -> list[str]:
        """``msg`` for this client alone, as lines; ``nick``, its lanchat name ("" before it has one),
        ``account`` the one it is logged in to."""
        self.account = account
        if nick:
            self.nick = irc_nick(nick)
            if nick != self.name and self.name:
                self.people.renamed(self.name, nick)
                self.name = nick
        render = _RENDER.get(msg.__class__)
        if render is None:
            text = getattr(msg, "text", "")
            return self.notice(text) if isinstance(text, str) and text else []
        before = []
        if self._batch is not None and not (isinstance(msg, m.ChatMessage) and msg.replay):
            before = [
                f":{names.SERVER} BATCH -{self._batch}"
            ]  # (the replay was cut short: closed before anything else)
            self._batch = None
        return before + render(self, msg)

    def _tags(self, msg: m.Message, batch: str | None = None) -> str:
        more = {"batch": batch} if batch else {}
        caps = self.caps
        return tags_of(msg, "server-time" in caps, "message-tags" in caps, "account-tag" in caps, **more)

    def welcome(self, msg: m.Welcome) -> list[str]:
        me = self.nick
        isupport = [
            "CHANTYPES=#",
            f"NICKLEN={NICKLEN}",
            f"CHANNELLEN={MAX_ROOM + 1}",
            "CASEMAPPING=ascii",
            "PREFIX=(ov)@+",
            f"NETWORK={self.network}",
            "CHANMODES=b,k,l,imnst",
            f"TOPICLEN={MAX_TOPIC}",
            f"AWAYLEN={MAX_TOPIC}",
            f"KICKLEN={MAX_TOPIC}",
            "UTF8ONLY",
            f"CHATHISTORY={max(self.history, 100)}",
        ]
        lines = [
            self.numeric("001", f"Welcome to the {self.network} IRC network, {me}"),
            self.numeric("002", f"Your host is {names.SERVER}, running lanchat"),
            self.numeric("003", f"This server was created {_STARTED}"),
            self.numeric("004", names.SERVER, "lanchat", "i", "biklmnostv", "bklov"),
            self.numeric("005", *isupport, "are supported by this server"),
            *self.reply(Reply(self.motd())),
        ]
        return lines + self._joined(msg.room, msg.topic, msg.replay)

    def motd(self) -> list[list[str]]:
        """The message of the day, as ``Reply`` lines."""
        text = [
            f"{self.network} is a lanchat server: its rooms are these channels, shared with the",
            "terminal client and the chat page. You start in #lobby. Operators are server-wide,",
            "KILL disconnects, and bans are by name and address (see docs/irc.md).",
        ]
        return [
            ["375", f"- {names.SERVER} Message of the day -"],
            *(["372", f"- {line}"] for line in text),
            ["376", "End of /MOTD command"],
        ]

    def _joined(self, room: str, topic: str, replay: int) -> list[str]:
        if "extended-join" in self.caps:  # (its own JOIN too: ``JOIN #room ACCOUNT :realname``)
            account = irc_nick(self.account) if self.account else "*"
            lines = [build("JOIN", room, account, self.realname or self.nick, source=prefix_of(self.nick))]
        else:
            lines = [build("JOIN", room, source=prefix_of(self.nick))]
        if topic:
            lines.append(self.numeric("332", room, topic))
        if replay and self.replays:
            self._batch, self._left = f"h{next(self._batches)}", replay
            lines.append(build("BATCH", f"+{self._batch}", "chathistory", room, source=names.SERVER))
        return lines

    def joined(self, msg: m.Joined) -> list[str]:
        return self._joined(msg.room, msg.topic, msg.replay)

    def chat(self, msg: m.ChatMessage) -> list[str]:
        """A message for this client alone: replayed on joining, or asked for."""
        if msg.replay is None:  # (a room message sent alone: as the room's)
            return room_lines(msg, *flags_of(self.caps))
        if self._batch is None:
            if not self.replays:
                return []  # (a client without server-time and batch is not replayed to)
            return chat_lines(msg, self._tags(msg))
        lines = chat_lines(msg, self._tags(msg, self._batch))
        self._left -= 1
        if self._left <= 0:
            lines.append(f":{names.SERVER} BATCH -{self._batch}")
            self._batch = None
        return lines

    def history(self, msg: lookup.Found) -> list[str]:
        if "batch" not in self.caps:
            return [line for x in msg.messages for line in chat_lines(x, self._tags(x))]
        batch = f"h{next(self._batches)}"
        lines = [build("BATCH", f"+{batch}", "chathistory", msg.room, source=names.SERVER)]
        for x in msg.messages:
            lines += chat_lines(x, self._tags(x, batch))
        return [*lines, f":{names.SERVER} BATCH -{batch}"]

    def private(self, msg: m.Private) -> list[str]:
        command = "NOTICE" if msg.notice else "PRIVMSG"
        if irc_nick(msg.nick) == self.nick and irc_nick(msg.to) != self.nick:  # the sender's copy
            if "echo-message" not in self.caps:
                return []
            return text_lines(command, prefix(msg.nick), irc_nick(msg.to), msg.text, tags=self._tags(msg))
        return text_lines(command, prefix(msg.nick), self.nick, msg.text, tags=self._tags(msg))

    def notice_of(self, msg: m.Notice) -> list[str]:
        if msg.room is not None:  # (a room's notice sent alone: as the room's)
            return room_lines(msg, *flags_of(self.caps))
        if msg.event == "kicked":  # (out of one room: the KICK that ``parted`` makes says it; roomsfollow)
            return []
        if msg.event == "oper":
            return [
                self.numeric("381", "You are now an IRC operator"),
                build("MODE", self.nick, "+o", source=self.nick),
            ]
        if msg.event == "invite" and msg.nick and msg.target and msg.invited_to:
            source = prefix(msg.nick)
            return [build("INVITE", irc_nick(msg.target), msg.invited_to, source=source, tags=self._tags(msg))]
        if msg.event == "away" and self.context.command in ("PRIVMSG", "NOTICE"):  # (``chat.private``'s word)
            nick, _, reason = msg.text.partition(" is away: ")
            return [self.numeric("301", irc_nick(nick), reason)] if reason else []
        return text_lines("NOTICE", names.SERVER, self.nick, msg.text, tags=self._tags(msg))

    def error(self, msg: m.Error) -> list[str]:
        code = ERRORS.get(msg.code)
        if self.context.command == "NOTICE" and msg.code != "login_timeout":
            return []  # (nothing answers a NOTICE, not even with an error: RFC 1459 4.4.2)
        if msg.code == "login_timeout":
            return [build("ERROR", f"Closing link: {msg.message}")]
        if code is None:
            return self.notice(msg.message)
        numeric, named = code
        numeric = _BY_COMMAND.get((self.context.command, numeric), numeric)
        text = msg.message
        if msg.suggestion:
            text += f" (try {irc_nick(msg.suggestion)})"
        if named == "wanted":
            return [build(numeric, self.nick, self.wanted, text, source=names.SERVER)]
        if named == "mode":  # (the mode refused is the error's target; 696 names the room first)
            mode = msg.target or "*"
            params = [msg.room or self.context.target, mode, "*"] if numeric == "696" else [mode]
            return [self.numeric(numeric, *params, text)]
        if named == "person":  # (a person, then the room: 441, 443)
            return [self.numeric(numeric, irc_nick(msg.target or "*"), msg.room or self.context.target, text)]
        if named == "target":
            target = msg.room or self.context.target
            if target == "*" and (room := _ROOM_IN.search(text)):
                target = room.group()
            return [self.numeric(numeric, target, text)]
        return [self.numeric(numeric, text)]

    def reply(self, msg: Reply) -> list[str]:
        out = []
        for command, *params in msg.lines:
            if command.isdigit():
                out.append(self.numeric(command, *params))
            elif command.startswith(":"):  # (a line from someone: [":source", COMMAND, params...])
                out.append(build(params[0], *params[1:], source=command[1:]))
            else:
                out.append(build(command, *params, source=names.SERVER))
        return out

    def members(self, msg: lookup.Members) -> list[str]:
        room = msg.room
        if self.context.command == "WHO":
            lines = [
                self.numeric(
                    "352",
                    room,
                    self.people.of(p.nick).user,
                    HOST,
                    names.SERVER,
                    irc_nick(p.nick),
                    ("G" if p.away else "H") + self.marks(p.op, p.voice),
                    f"0 {self.people.of(p.nick).realname}",
                )
                for p in msg.members
            ]
            return [*lines, self.numeric("315", self.context.target, "End of /WHO list")]
        shown = [self.name_in_list(p) for p in msg.members]
        lines, line = [], []
        for name in shown:
            line.append(name)
            if sum(len(n) + 1 for n in line) > 380:
                lines.append(self.numeric("353", "@" if msg.secret else "=", room, " ".join(line)))
                line = []
        if line:
            lines.append(self.numeric("353", "@" if msg.secret else "=", room, " ".join(line)))
        return [*lines, self.numeric("366", room, "End of /NAMES list")]

    def name_in_list(self, p: lookup.Member) -> str:
        name = irc_nick(p.nick)
        if "userhost-in-names" in self.caps:
            name = prefix(p.nick)
        return self.marks(p.op, p.voice) + name

    def marks(self, op: bool, voice: bool) -> str:
        """``@`` before an operator's name, ``+`` before a voiced one's (``PREFIX=(ov)@+``); both
        for a voiced operator when the client asked for ``multi-prefix``, else the highest."""
        if "multi-prefix" in self.caps:
            return ("@" if op else "") + ("+" if voice else "")
        return "@" if op else "+" if voice else ""

    def modes(self, msg: rooms.Modes) -> list[str]:
        lines = [self.numeric("324", msg.room, msg.modes, *msg.args)]
        if msg.created:
            lines.append(self.numeric("329", msg.room, str(int(msg.created))))
        return lines

    def invited(self, msg: rooms.Invited) -> list[str]:
        return [self.numeric("341", irc_nick(msg.nick), msg.room)]

    def profile(self, msg: lookup.Profile) -> list[str]:
        nick = irc_nick(msg.nick)
        if self.context.command == "WHO":
            room = msg.rooms[0] if msg.rooms else "*"
            mark = msg.marks[0] if msg.marks else ""
            flags = ("G" if msg.away else "H") + ("*@" if msg.op else self.marks("@" in mark, "+" in mark))
            said = self.people.of(msg.nick)
            found = [self.numeric("352", room, said.user, HOST, names.SERVER, nick, flags, f"0 {said.realname}")]
            return [*(found if msg.found else []), self.numeric("315", self.context.target, "End of /WHO list")]
        if not msg.found:
            return [self.numeric("401", nick, "No such nick"), self.numeric("318", nick, "End of /WHOIS list")]
        said = self.people.of(msg.nick)
        lines = [self.numeric("311", nick, said.user, HOST, "*", said.realname)]
        if msg.rooms:
            marks = msg.marks or [""] * len(msg.rooms)
            shown = [
                ("@" if msg.op else self.marks("@" in mark, "+" in mark)) + r
                for r, mark in zip(msg.rooms, marks, strict=False)
            ]
            lines.append(self.numeric("319", nick, " ".join(shown)))
        lines.append(self.numeric("312", nick, names.SERVER, "lanchat"))
        if msg.account:
            lines.append(self.numeric("330", nick, irc_nick(msg.account), "is logged in as"))
        if msg.op:
            lines.append(self.numeric("313", nick, "is an operator" + (" (runs this server)" if msg.host else "")))
        if msg.address:
            lines.append(self.numeric("378", nick, f"is connecting from *@{msg.address} {msg.address}"))
        if msg.away:
            lines.append(self.numeric("301", nick, msg.away))
        return [*lines, self.numeric("318", nick, "End of /WHOIS list")]

    def bans(self, msg: lookup.Bans) -> list[str]:
        room = self.context.target
        lines = [
            self.numeric("367", room, f"{irc_nick(nick)}!*@{address or '*'}", irc_nick(by))
            for nick, address, by in msg.bans
        ]
        return [*lines, self.numeric("368", room, "End of channel ban list")]

    def topic_set(self, msg: rooms.TopicSet) -> list[str]:
        """``333``: who set the topic and when, if known (``TOPIC #room``, and after joining a room with one)."""
        if not msg.topic or not msg.by:
            return []
        return [self.numeric("333", msg.room, irc_nick(msg.by), str(int(msg.at)))]

    def room_bans(self, msg: rooms.RoomBans) -> list[str]:
        lines = [self.numeric("367", msg.room, mask, irc_nick(by), str(int(at))) for mask, by, at in msg.bans]
        return [*lines, self.numeric("368", msg.room, "End of channel ban list")]

    def rooms(self, msg: m.RoomList) -> list[str]:
        lines = [self.numeric("321", "Channel", "Users  Name")]
        for name, count, topic in zip(msg.names, msg.counts, msg.topics, strict=False):
            lines.append(self.numeric("322", name, str(count), topic))
        if msg.more:
            lines += self.notice(f"{msg.more} more room(s) not listed: LIST >{msg.names[-1]} lists those after it")
        return [*lines, self.numeric("323", "End of /LIST")]

    def users(self, msg: m.Users) -> list[str]:
        members = [lookup.Member(nick, False, "away" if nick in msg.away else "") for nick in msg.nicks]
        return self.members(lookup.Members(msg.room, members, msg.more))

    def context_of(self, msg: Context) -> list[str]:
        self.context = msg
        return []


def prefix_of(shown: str) -> str:
    return f"{shown}!{shown[:16]}@{HOST}"


def _none(client: Client, msg: m.Message) -> list[str]:
    return []


#: How each message for one IRC client is rendered (anything else: its text as a NOTICE, if any).
def _parted(nick: str, msg: m.Parted) -> list[str]:
    """Out of a room: ``PART``, or, kicked out of it by ``msg.by``, ``KICK`` (roomsfollow: rules/devices.py)."""
    if msg.by:
        return [build("KICK", msg.room, nick, msg.reason or irc_nick(msg.by), source=prefix(msg.by))]
    return [build("PART", msg.room, *[msg.reason] if msg.reason else [], source=prefix_of(nick))]


_RENDER: dict[type, Callable[[Client, m.Message], list[str]]] = {
    m.Welcome: Client.welcome,  # type: ignore[dict-item]
    m.Joined: Client.joined,  # type: ignore[dict-item]
    m.ChatMessage: Client.chat,  # type: ignore[dict-item]
    m.Private: Client.private,  # type: ignore[dict-item]
    m.Notice: Client.notice_of,  # type: ignore[dict-item]
    m.Error: Client.error,  # type: ignore[dict-item]
    m.Users: Client.users,  # type: ignore[dict-item]
    m.RoomList: Client.rooms,  # type: ignore[dict-item]
    m.Parted: lambda c, msg: _parted(c.nick, msg),  # type: ignore[attr-defined]
    m.Ping: lambda c, msg: [build("PING", msg.token or names.SERVER)],  # type: ignore[attr-defined]
    m.Pong: lambda c, msg: [build("PONG", names.SERVER, msg.token, source=names.SERVER)],  # type: ignore[attr-defined]
    m.Bye: lambda c, msg: [build("ERROR", f"Closing link: {msg.reason or 'goodbye'}")],  # type: ignore[attr-defined]
    m.ReadMarker: readmarker.rendered,  # type: ignore[dict-item]
    m.Focused: _none,
    m.Token: _none,
    m.Accepted: _none,
    Reply: Client.reply,  # type: ignore[dict-item]
    Raw: lambda c, msg: list(msg.lines),  # type: ignore[attr-defined]
    Context: Client.context_of,  # type: ignore[dict-item]
    lookup.Found: Client.history,  # type: ignore[dict-item]
    lookup.Members: Client.members,  # type: ignore[dict-item]
    lookup.Profile: Client.profile,  # type: ignore[dict-item]
    lookup.Bans: Client.bans,  # type: ignore[dict-item]
    rooms.Modes: Client.modes,  # type: ignore[dict-item]
    rooms.Invited: Client.invited,  # type: ignore[dict-item]
    rooms.RoomBans: Client.room_bans,  # type: ignore[dict-item]
    rooms.TopicSet: Client.topic_set,  # type: ignore[dict-item]
}
