"""The IRC dialect: an IRC client's lines read, one by one, and handed to the command that takes each.

One connection's reading: lines cut and checked (too long, not UTF-8, a
NUL), then each to its command (``COMMANDS``). Registration (``PASS``,
``NICK``, ``USER``, ``CAP``: ``registration.py``) ends in
``Participant.register``, as a native ``hello`` does; after it, each IRC
command becomes the rules' message for it (``commands.py``; ``PRIVMSG``
and ``NOTICE``: ``messages.py``): ``PRIVMSG #room`` a ``Say``, ``MODE +o``
an ``Op``, ``WHOIS`` a ``lookup.Whois``..., through the same table, limits,
bans and mutes. Answers come back through the
person's ordered channel and are rendered by ``replies.Client``; room
traffic arrives in one of the IRC wire formats (``wire.py``). Messages to
rooms read together are handed over together (``Together``), as on the
chat port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatserver.net.dialects.together import Together
from chatserver.net.stream import Sniffed
from chatserver.rules import lookup, rooms
from chatserver.rules.effects import SessionEnd
from common import messages as m
from common.rooms import room_key

from . import accountreg, messages, names, readmarker, registration, sasl, tagmsg
from .commands import CHAT, Run
from .lines import MAX_CLIENT_TAGS, MAX_LINE, build, encode, parse
from .people import People
from .replies import Client, Context, Raw, Reply
from .wire import flags_of, wire_name

if TYPE_CHECKING:
    from chatserver.core.fanout import Frame
    from chatserver.net.session import Session

log = logging.getLogger(__name__)

#: Bytes a client may leave unended before its line is refused as too long (tags, then the line).
_MAX_PENDING = 1 + MAX_CLIENT_TAGS + 1 + MAX_LINE + 2


class IrcDialect:
    """One IRC connection (see the module docstring)."""

    plain = False
    pings = True

    def __init__(self, network: str, history: int, people: People | None = None) -> None:
        self.people = People() if people is None else people
        #: How a TAGMSG reaches this client (``tagmsg.Deliver``), once it is registered.
        self.reach: tagmsg.Deliver | None = None
        self.client = Client(network, history, self.people)
        self.registering = registration.Registering()
        self._said: tuple[str, str] | None = None  # the last Context sent
        self.sasl = sasl.Sasl()
        self.source: tuple[str, int] = ("", 0)  # a name, and what its prefix adds to a relayed line (``messages``)

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
        # (most lines: a message to one room, taken as ``messages.message`` takes it, without ``parse``)
        p = session.participant
        if text.startswith("PRIVMSG #") and p.registered and messages.fast(self, session, together, text, raw):
            return
        parsed = parse(text)
        if parsed is None:
            return
        if parsed.command in ("PRIVMSG", "NOTICE") and p.registered and len(parsed.params) >= 2:
            messages.message(self, session, together, parsed)
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

    def followed(self, session: Session, room: str) -> None:
        """A room another device of the person joined (in this participant's turn, maybe on that
        device's thread): its topic's setter and NAMES after the JOIN, the answers' context as it was."""
        said = self._said
        self.names_of_new(session, {key for key in session.participant.rooms if key != room_key(room)})
        if said is not None:
            self.context(session, *said)

    def tagged(self, session: Session, t: tagmsg.Tagged) -> None:
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


def _too_long(raw: bytes) -> bool:
    """Over 512 bytes with CRLF, tags apart (at most 8,191 bytes of them)."""
    if raw.startswith(b"@"):
        tags, _, raw = raw.partition(b" ")
        if len(tags) - 1 > MAX_CLIENT_TAGS:  # (the "@" apart)
            return True
    return len(raw) + 2 > MAX_LINE


#: Each command: (parameters needed, only once registered, what it does).
COMMANDS: dict[str, tuple[int, bool, Run]] = {
    "CAP": (1, False, registration.cap),
    "PASS": (1, False, registration.pass_),
    "NICK": (1, False, registration.nick),
    "USER": (4, False, registration.user),
    "PING": (1, False, IrcDialect.ping),
    "PONG": (0, False, IrcDialect.pong),
    "QUIT": (0, False, IrcDialect.quit),
    "AUTHENTICATE": (1, False, sasl.authenticate),
    "REGISTER": (3, False, accountreg.register),
    "VERIFY": (2, False, accountreg.verify),
    "MARKREAD": (0, True, readmarker.markread),  # (no target: its own FAIL, as the spec says)
    "PRIVMSG": (2, True, lambda d, s, p: None),  # (fewer than 2 parameters: 461; else ``messages.message``)
    "NOTICE": (2, True, lambda d, s, p: None),
    "TAGMSG": (1, True, lambda d, s, p: None),  # (with a target: ``tagmsg.relay``)
    **{name: (needed, True, run) for name, (needed, run) in CHAT.items()},
}
