"""The IRC dialect: an IRC client's lines read, registered, and handed to the rules as the other ways in hand theirs.

Registration (``PASS``, ``NICK``, ``USER``, ``CAP``) ends in
``Participant.register``, as a native ``hello`` does; after it, each IRC
command becomes the rules' message for it (``PRIVMSG #room`` a ``Say``,
``MODE +o`` an ``Op``, ``WHOIS`` a ``lookup.Whois``...) and goes through
the same table, limits, bans and mutes. Answers come back through the
person's ordered channel and are rendered by ``replies.Client``; room
traffic arrives in one of the IRC wire formats (``wire.py``). Messages to
rooms read together are handed over together (``Together``), as on the
chat port.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatserver.net.dialects.together import Together
from chatserver.net.stream import Sniffed
from chatserver.rules import lookup, rooms
from chatserver.rules.effects import SessionEnd
from common import messages as m
from common.limits import MAX_FIELD

from . import accountreg, names, readmarker, sasl, tagmsg
from .commands import CHAT, Run
from .lines import MAX_CLIENT_TAGS, MAX_LINE, Parsed, build, client_tags, encode, parse
from .names import lanchat_nick, prefix
from .people import People
from .replies import Client, Context, Raw, Reply
from .wire import flags_of, wire_name

if TYPE_CHECKING:
    from chatserver.core.fanout import Frame
    from chatserver.net.session import Session

log = logging.getLogger(__name__)

#: The IRCv3 capabilities offered (``cap-notify`` is implied by ``CAP LS 302``; none ever change).
CAPS = (
    "server-time",
    "message-tags",
    "echo-message",
    "batch",
    "draft/chathistory",
    "away-notify",
    "multi-prefix",
    "userhost-in-names",
    "cap-notify",
    "account-notify",
    "extended-join",
    "account-tag",
    "sasl",
    accountreg.CAP,
    readmarker.CAP,
)
#: How a capability with a value (or offered only with accounts) is listed in ``CAP LS``.
LISTED = {"sasl": sasl.listed, accountreg.CAP: accountreg.listed}
#: Bytes a client may leave unended before its line is refused as too long (tags, then the line).
_MAX_PENDING = 1 + MAX_CLIENT_TAGS + 1 + MAX_LINE + 2
_CTCP_ACTION = re.compile(r"\x01ACTION ?(.*?)\x01?$", re.DOTALL)


class IrcDialect:
    """One IRC connection (see the module docstring)."""

    plain = False
    pings = True

    def __init__(self, network: str, history: int, people: People | None = None) -> None:
        self.people = People() if people is None else people
        #: How a TAGMSG reaches this client (``tagmsg.Deliver``), once it is registered.
        self.reach: tagmsg.Deliver | None = None
        self.client = Client(network, history, self.people)
        self._nick: str | None = None  # as given by NICK, before registration
        self._user: str | None = None
        self._realname = ""
        self._password: str | None = None
        self._negotiating = False  # CAP LS/REQ said, END not yet
        self._said: tuple[str, str] | None = None  # the last Context sent
        self.sasl = sasl.Sasl()
        self._source: tuple[str, int] = ("", 0)  # a name, and what its prefix adds to a relayed line

    # -- the Dialect interface ----------------------------------------------------
    def wire(self, session: Session) -> str:
        return wire_name(*flags_of(self.client.caps))

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        participant = session.participant
        registered = participant.registered
        lines = self.client.render(frame.msg, participant.nick if registered else "", participant.account)
        return encode(lines) if lines else None

    def write(self, session: Session, data: bytes) -> None:
        session.stream.write(data)

    def writer(self, session: Session) -> Callable[[bytes], object]:
        return session.straight()

    def goodbye(self, session: Session) -> None:
        sasl.ended(self, session)
        if self.client.name:
            self.people.left(self.client.name, self.reach)  # (WHOWAS remembers it)

    def run(self, session: Session, first: bytes | None) -> None:
        cfg = session.server.config
        stream = session.stream
        if cfg.tls_context is not None:
            sniffed = stream.open_tls(cfg.tls_context, cfg.login_timeout)
            if sniffed is Sniffed.PLAIN:
                stream.write(encode([build("ERROR", "this port speaks TLS: connect with TLS (irssi -tls, /set ssl)")]))
                raise SessionEnd("a plain client on the TLS IRC port")
            if sniffed is not Sniffed.TLS:
                return
        together = Together(session.participant)
        pending = b"" if first is None else first
        skipping = False  # inside a line refused as too long: dropped up to its end
        while True:
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if skipping:
                    skipping = False
                    continue
                self._line(session, together, raw.rstrip(b"\r"))
            if len(pending) > _MAX_PENDING:
                together.flush()
                self._too_long(session)
                pending, skipping = b"", True
            together.flush()  # (before waiting for more)
            data = stream.read()
            if not data:
                return
            pending += data

    # -- one line ---------------------------------------------------------------
    def _line(self, session: Session, together: Together, raw: bytes) -> None:
        if _too_long(raw):
            together.flush()
            self._too_long(session)
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            together.flush()
            command = raw.split(b" ", 2)[1 if raw.startswith((b"@", b":")) else 0].decode("latin-1")[:32].upper()
            self.send(
                session, [["FAIL", command or "*", "INVALID_UTF8", "that line was not valid UTF-8 and was not taken"]]
            )
            return
        if "\0" in text:
            together.flush()
            self.notice(session, "that line held a NUL character and was not taken")
            return
        # (most lines: a message to one room, taken as ``_message`` takes it, without ``parse``)
        if text.startswith("PRIVMSG #") and session.participant.registered:
            room, colon, said = text[8:].partition(" :")
            if colon and not said.startswith("\x01") and "," not in room and " " not in room and room.isprintable():
                if len(raw) + self._source_cost(session) > MAX_LINE:
                    together.flush()
                    self._too_long_to_relay(session, room)
                    return
                self.context(session, "PRIVMSG", room)
                together.add(m.Say(text=said, room=room))
                return
        parsed = parse(text)
        if parsed is None:
            return
        p = session.participant
        if parsed.command in ("PRIVMSG", "NOTICE") and p.registered and len(parsed.params) >= 2:
            self._message(session, together, parsed)
            return
        if parsed.command == "TAGMSG" and p.registered and parsed.params:
            together.flush()
            tagmsg.relay(self, session, parsed)
            return
        together.flush()
        command = COMMANDS.get(parsed.command)
        if command is None:
            self.send(session, [["421", parsed.command[:32], "Unknown command"]])
            return
        needed, registered, run = command
        if registered and not p.registered:
            self.send(session, [["451", "You have not registered"]])
            return
        if len(parsed.params) < needed:
            self.send(session, [["461", parsed.command, "Not enough parameters"]])
            return
        run(self, session, parsed.params)

    def _too_long(self, session: Session) -> None:
        self.send(session, [["417", "Input line was too long"]])

    def _source_cost(self, session: Session) -> int:
        """The bytes a line of this person's gains when relayed: ``:nick!user@host `` before it, CRLF after."""
        nick = session.participant.nick
        if self._source[0] != nick:
            self._source = (nick, len(prefix(nick).encode()) + 4)
        return self._source[1]

    def _too_long_to_relay(self, session: Session, target: str) -> None:
        """A message that fits from the client but not once relayed with its sender's prefix: refused
        whole (as Ergo does, 417), neither cut nor split, and the client told how much is too much."""
        self.send(session, [["417", f"Input line was too long to relay to {target[:64]}: send it in shorter pieces"]])

    # -- sending ----------------------------------------------------------------------
    def send(self, session: Session, lines: list[list[str]]) -> None:
        """Lines of our own, in the person's turn (before registration: now)."""
        session.participant.send(Reply(lines))

    def notice(self, session: Session, text: str) -> None:
        self.send(session, [["NOTICE", self.client.nick, text]])

    def context(self, session: Session, command: str, target: str = "*") -> None:
        """What the answers that follow are about (sent only when it changes)."""
        if self._said != (command, target):
            self._said = (command, target)
            session.participant.send(Context(command, target))

    def ask(self, session: Session, command: str, target: str, msg: m.Message) -> None:
        self.context(session, command, target)
        session.participant.handle(msg)

    def names_of_new(self, session: Session, before: set[str], *, registering: bool = False) -> None:
        """NAMES for each room just joined (after its JOIN and replay); ``registering``: the rooms it arrives in."""
        p = session.participant
        for key, room in list(p.rooms.items()):
            if key not in before:
                readmarker.joined(self, session, room, registering=registering)  # (before NAMES, as the spec says)
                if p.hub.topic(room):
                    self.ask(session, "TOPIC", room, rooms.TopicOf(room))  # (``333`` after its ``332``)
                self.ask(session, "NAMES", room, lookup.Names(room))

    # -- messages -------------------------------------------------------------------
    def _message(self, session: Session, together: Together, parsed: Parsed) -> None:
        targets, text = parsed.params[0], parsed.params[1]
        notice = parsed.command == "NOTICE" or None
        tags = client_tags(parsed.tags)
        if tags is not None and len(tags) > MAX_FIELD:  # (what a message carries of them: ``ChatMessage.tags``)
            told = f"Input line was too long: client-only tags on a message are relayed up to {MAX_FIELD} characters"
            self.send(session, [["417", told]])
            return
        action = _CTCP_ACTION.match(text)
        for target in targets.split(",")[:4]:
            relayed = len(f"{parsed.command} {target} :{text}".encode()) + self._source_cost(session)
            if relayed > MAX_LINE and not notice:  # (a NOTICE is never answered: it is split as before)
                together.flush()
                self._too_long_to_relay(session, target)
                continue
            if target.startswith("#"):
                if text.startswith("\x01") and action is None:
                    continue  # (a CTCP query to a room: nobody there answers them)
                self.context(session, parsed.command, target)
                if action is not None:
                    together.add(m.Action(text=action.group(1), room=target))
                else:
                    together.add(m.Say(text=text, room=target, notice=notice, tags=tags))
            elif target:
                together.flush()
                self.ask(
                    session,
                    parsed.command,
                    target,
                    m.PrivateSay(to=lanchat_nick(target), text=text, notice=notice, tags=tags),
                )

    # -- registration -------------------------------------------------------------
    def cap(self, session: Session, params: list[str]) -> None:
        sub = params[0].upper()
        me = self.client.nick
        if sub == "LS":
            if not session.participant.registered:
                self._negotiating = True
            version = int(params[1]) if len(params) > 1 and params[1].isdigit() else 0
            listed = [shown for c in CAPS if (shown := LISTED.get(c, _as_is)(session, c, version))]
            self.send(session, [["CAP", me, "LS", " ".join(listed)]])
        elif sub == "LIST":
            self.send(session, [["CAP", me, "LIST", " ".join(sorted(self.client.caps))]])
        elif sub == "REQ" and len(params) > 1:
            if not session.participant.registered:
                self._negotiating = True
            wanted = params[1].split()
            if all(c.lstrip("-") in CAPS for c in wanted):
                for c in wanted:
                    if c.startswith("-"):
                        self.client.caps.discard(c[1:])
                    else:
                        self.client.caps.add(c)
                session.participant.echoes = "echo-message" in self.client.caps
                session.participant.rewire()  # (its wire format follows its capabilities: ``wire``)
                self.send(session, [["CAP", me, "ACK", params[1]]])
            else:
                self.send(session, [["CAP", me, "NAK", params[1]]])
        elif sub == "END":
            self._negotiating = False
            self._register(session)
        else:
            self.send(session, [["410", params[0][:16], "Invalid CAP command"]])

    def pass_(self, session: Session, params: list[str]) -> None:
        if session.participant.registered:
            self.send(session, [["462", "You may not reregister"]])
        else:
            self._password = params[0]

    def nick(self, session: Session, params: list[str]) -> None:
        wanted = params[0]
        self.client.wanted = wanted
        if session.participant.registered:
            if wanted == self.client.nick:
                return  # (its own nick, as it is: nothing changes, nobody is told, as on any IRC server)
            self.ask(session, "NICK", wanted, m.SetNick(lanchat_nick(wanted)))
        else:
            self._nick = wanted
            self._register(session)

    def user(self, session: Session, params: list[str]) -> None:
        if session.participant.registered or self._user is not None:
            self.send(session, [["462", "You may not reregister"]])
            return
        if not params[0] or not params[3]:
            self.send(session, [["461", "USER", "Not enough parameters"]])
            return
        self._user, self._realname = params[0], params[3]
        self._register(session)

    def _register(self, session: Session) -> None:
        p = session.participant
        if p.registered or self._negotiating or self._nick is None or self._user is None:
            return
        self.client.wanted = self._nick
        p.realname = self.client.realname = self._realname  # (told with its joins: extended-join)
        done = p.register(lanchat_nick(self._nick), password=self._password, login_token=self.sasl.token)
        sasl.registered(self, session, done)
        if done:
            self.reach = functools.partial(self._tagged, session)  # (this client, among its name's devices)
            self.people.came(p.nick, self._user, self._realname, self.reach)
            self.client.name = p.nick
            self.names_of_new(session, set(), registering=True)

    def _tagged(self, session: Session, t: tagmsg.Tagged) -> None:
        """A ``TAGMSG`` relayed to this client (from another's thread): in its turn, as its caps say."""
        line = tagmsg.line_for(t, self.client.caps)
        if line is not None:
            session.participant.send(Raw([line]))

    # -- chat ---------------------------------------------------------------------------
    def quit(self, session: Session, params: list[str]) -> None:
        if self.client.name:
            self.people.left(self.client.name, self.reach)  # (now: WHOWAS knows it before the client reads its ERROR)
        session.participant.handle(m.Quit(text=params[0] if params else ""))

    def ping(self, session: Session, params: list[str]) -> None:
        if session.participant.registered:
            session.participant.handle(m.Ping(params[0]))
        else:
            self.send(session, [["PONG", names.SERVER, params[0]]])

    def pong(self, session: Session, params: list[str]) -> None:
        pass  # (heard: the stream's reads say the peer is alive)


def _as_is(session: Session, cap: str, version: int) -> str:
    return cap


def _too_long(raw: bytes) -> bool:
    """Over 512 bytes with CRLF, tags apart (at most 8,191 bytes of them)."""
    if raw.startswith(b"@"):
        tags, _, raw = raw.partition(b" ")
        if len(tags) - 1 > MAX_CLIENT_TAGS:  # (the "@" apart)
            return True
    return len(raw) + 2 > MAX_LINE


#: Each command: (parameters needed, only once registered, what it does).
COMMANDS: dict[str, tuple[int, bool, Run]] = {
    "CAP": (1, False, IrcDialect.cap),
    "PASS": (1, False, IrcDialect.pass_),
    "NICK": (1, False, IrcDialect.nick),
    "USER": (4, False, IrcDialect.user),
    "PING": (1, False, IrcDialect.ping),
    "PONG": (0, False, IrcDialect.pong),
    "QUIT": (0, False, IrcDialect.quit),
    "AUTHENTICATE": (1, False, sasl.authenticate),
    "REGISTER": (3, False, accountreg.register),
    "VERIFY": (2, False, accountreg.verify),
    "MARKREAD": (0, True, readmarker.markread),  # (no target: its own FAIL, as the spec says)
    "PRIVMSG": (2, True, lambda d, s, p: None),  # (fewer than 2 parameters: 461; else ``_message``)
    "NOTICE": (2, True, lambda d, s, p: None),
    "TAGMSG": (1, True, lambda d, s, p: None),  # (with a target: ``tagmsg.relay``)
    **{name: (needed, True, run) for name, (needed, run) in CHAT.items()},
}
