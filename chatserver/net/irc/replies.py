"""What one IRC client alone is sent, rendered from the rules' messages: its welcome, JOINs, history, private lines.

A ``Client`` is one connection's state as the encoder needs it (its
capabilities, its batches); ``render`` turns each message for this person
alone into IRC lines through ``_RENDER``: here the welcome, its own JOIN and
PART, replayed and asked-for history, private messages and notices; the
answers to questions in ``answers.py``, refusals in ``errors.py``. Room
traffic is not rendered here (``wire.py``). The dialect sends its own
replies through the rules' ordered channel too (``Reply``, ``Context``), so
that every answer comes in the person's turn, after what was queued for it
before.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from chatserver.rules import lookup, rooms
from common import messages as m
from common.rooms import MAX_ROOM, MAX_TOPIC

from . import answers, errors, names, readmarker
from .lines import build, text_lines
from .names import HOST, irc_nick, prefix
from .people import People
from .wire import chat_lines, flags_of, room_lines, tags_of

NICKLEN = 96  # a lanchat name has at most 32 characters; escaped (names.py) it may take three each
_STARTED = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


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

    def context_of(self, msg: Context) -> list[str]:
        self.context = msg
        return []


def prefix_of(shown: str) -> str:
    return f"{shown}!{shown[:16]}@{HOST}"


def _none(client: Client, msg: m.Message) -> list[str]:
    return []


def _parted(nick: str, msg: m.Parted) -> list[str]:
    """Out of a room: ``PART``, or, kicked out of it by ``msg.by``, ``KICK`` (roomsfollow: rules/devices.py)."""
    if msg.by:
        return [build("KICK", msg.room, nick, msg.reason or irc_nick(msg.by), source=prefix(msg.by))]
    return [build("PART", msg.room, *[msg.reason] if msg.reason else [], source=prefix_of(nick))]


#: How each message for one IRC client is rendered (anything else: its text as a NOTICE, if any).
_RENDER: dict[type, Callable[[Client, m.Message], list[str]]] = {
    m.Welcome: Client.welcome,  # type: ignore[dict-item]
    m.Joined: Client.joined,  # type: ignore[dict-item]
    m.ChatMessage: Client.chat,  # type: ignore[dict-item]
    m.Private: Client.private,  # type: ignore[dict-item]
    m.Notice: Client.notice_of,  # type: ignore[dict-item]
    m.Error: errors.error,  # type: ignore[dict-item]
    m.Users: answers.users,  # type: ignore[dict-item]
    m.RoomList: answers.room_list,  # type: ignore[dict-item]
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
    lookup.Members: answers.members,  # type: ignore[dict-item]
    lookup.Profile: answers.profile,  # type: ignore[dict-item]
    lookup.Bans: answers.bans,  # type: ignore[dict-item]
    rooms.Modes: answers.modes,  # type: ignore[dict-item]
    rooms.Invited: answers.invited,  # type: ignore[dict-item]
    rooms.RoomBans: answers.room_bans,  # type: ignore[dict-item]
    rooms.TopicSet: answers.topic_set,  # type: ignore[dict-item]
}
