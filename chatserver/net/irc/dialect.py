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

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chatserver.net.dialects.together import Together
from chatserver.net.stream import Sniffed
from chatserver.rules import lookup
from chatserver.rules.effects import SessionEnd
from common import messages as m
from common.rooms import room_key

from . import names
from .lines import MAX_CLIENT_TAGS, MAX_LINE, Parsed, build, encode, parse
from .names import lanchat_nick
from .replies import Client, Context, Reply
from .wire import seq_of, wire_name

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
)
#: Bytes a client may leave unended before its line is refused as too long (tags, then the line).
_MAX_PENDING = MAX_CLIENT_TAGS + MAX_LINE + 2
#: The chathistory limit when a client asks for more.
_HISTORY_MAX = lookup.LOOK_BACK
_CTCP_ACTION = re.compile(r"\x01ACTION ?(.*?)\x01?$", re.DOTALL)


class IrcDialect:
    """One IRC connection (see the module docstring)."""

    plain = False
    pings = True

    def __init__(self, network: str, history: int) -> None:
        self.client = Client(network, history)
        self._nick: str | None = None  # as given by NICK, before registration
        self._user: str | None = None
        self._password: str | None = None
        self._negotiating = False  # CAP LS/REQ said, END not yet
        self._said: tuple[str, str] | None = None  # the last Context sent

    # -- the Dialect interface ----------------------------------------------------
    def wire(self, session: Session) -> str:
        caps = self.client.caps
        return wire_name("server-time" in caps, "message-tags" in caps, "away-notify" in caps)

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        participant = session.participant
        lines = self.client.render(frame.msg, participant.nick if participant.registered else "")
        return encode(lines) if lines else None

    def write(self, session: Session, data: bytes) -> None:
        session.stream.write(data)

    def goodbye(self, session: Session) -> None:
        pass

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
            self._send(
                session, [["FAIL", command or "*", "INVALID_UTF8", "that line was not valid UTF-8 and was not taken"]]
            )
            return
        if "\0" in text:
            together.flush()
            self._notice(session, "that line held a NUL character and was not taken")
            return
        parsed = parse(text)
        if parsed is None:
            return
        p = session.participant
        if parsed.command in ("PRIVMSG", "NOTICE") and p.registered and len(parsed.params) >= 2:
            self._message(session, together, parsed)
            return
        together.flush()
        command = COMMANDS.get(parsed.command)
        if command is None:
            self._send(session, [["421", parsed.command[:32], "Unknown command"]])
            return
        needed, registered, run = command
        if registered and not p.registered:
            self._send(session, [["451", "You have not registered"]])
            return
        if len(parsed.params) < needed:
            self._send(session, [["461", parsed.command, "Not enough parameters"]])
            return
        run(self, session, parsed.params)

    def _too_long(self, session: Session) -> None:
        self._send(session, [["417", "Input line was too long"]])

    # -- sending ----------------------------------------------------------------------
    def _send(self, session: Session, lines: list[list[str]]) -> None:
        """Lines of our own, in the person's turn (before registration: now)."""
        session.participant.send(Reply(lines))

    def _notice(self, session: Session, text: str) -> None:
        self._send(session, [["NOTICE", self.client.nick, text]])

    def _context(self, session: Session, command: str, target: str = "*") -> None:
        """What the answers that follow are about (sent only when it changes)."""
        if self._said != (command, target):
            self._said = (command, target)
            session.participant.send(Context(command, target))

    def _ask(self, session: Session, command: str, target: str, msg: m.Message) -> None:
        self._context(session, command, target)
        session.participant.handle(msg)

    def _names_of_new(self, session: Session, before: set[str]) -> None:
        """NAMES for each room just joined (after its JOIN and replay)."""
        p = session.participant
        for key, room in list(p.rooms.items()):
            if key not in before:
                self._ask(session, "NAMES", room, lookup.Names(room))

    # -- messages -------------------------------------------------------------------
    def _message(self, session: Session, together: Together, parsed: Parsed) -> None:
        targets, text = parsed.params[0], parsed.params[1]
        action = _CTCP_ACTION.match(text)
        for target in targets.split(",")[:4]:
            if target.startswith("#"):
                if text.startswith("\x01") and action is None:
                    continue  # (a CTCP query to a room: nobody there answers them)
                self._context(session, parsed.command, target)
                if action is not None:
                    together.add(m.Action(text=action.group(1), room=target))
                else:
                    together.add(m.Say(text=text, room=target))
            elif target:
                together.flush()
                self._ask(session, parsed.command, target, m.PrivateSay(to=lanchat_nick(target), text=text))

    # -- registration -------------------------------------------------------------
    def cap(self, session: Session, params: list[str]) -> None:
        sub = params[0].upper()
        me = self.client.nick
        if sub == "LS":
            if not session.participant.registered:
                self._negotiating = True
            self._send(session, [["CAP", me, "LS", " ".join(CAPS)]])
        elif sub == "LIST":
            self._send(session, [["CAP", me, "LIST", " ".join(sorted(self.client.caps))]])
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
                self._send(session, [["CAP", me, "ACK", params[1]]])
            else:
                self._send(session, [["CAP", me, "NAK", params[1]]])
        elif sub == "END":
            self._negotiating = False
            self._register(session)
        else:
            self._send(session, [["410", params[0][:16], "Invalid CAP command"]])

    def pass_(self, session: Session, params: list[str]) -> None:
        if session.participant.registered:
            self._send(session, [["462", "You may not reregister"]])
        else:
            self._password = params[0]

    def nick(self, session: Session, params: list[str]) -> None:
        wanted = params[0]
        self.client.wanted = wanted
        if session.participant.registered:
            self._ask(session, "NICK", wanted, m.SetNick(lanchat_nick(wanted)))
        else:
            self._nick = wanted
            self._register(session)

    def user(self, session: Session, params: list[str]) -> None:
        if session.participant.registered or self._user is not None:
            self._send(session, [["462", "You may not reregister"]])
            return
        if not params[0] or not params[3]:
            self._send(session, [["461", "USER", "Not enough parameters"]])
            return
        self._user = params[0]
        self._register(session)

    def _register(self, session: Session) -> None:
        p = session.participant
        if p.registered or self._negotiating or self._nick is None or self._user is None:
            return
        self.client.wanted = self._nick
        if p.register(lanchat_nick(self._nick), password=self._password):
            self._names_of_new(session, set())

    # -- chat ---------------------------------------------------------------------------
    def join(self, session: Session, params: list[str]) -> None:
        p = session.participant
        if params[0] == "0":  # leave every room (the lobby stays: lanchat's people are always somewhere)
            for room in list(p.rooms.values()):
                self.part(session, [room])
            return
        for room in params[0].split(",")[:10]:
            before = set(p.rooms)
            self._ask(session, "JOIN", room, m.Join(room))
            self._names_of_new(session, before)

    def part(self, session: Session, params: list[str]) -> None:
        p = session.participant
        for room in params[0].split(",")[:10]:
            before = set(p.rooms)
            self._ask(session, "PART", room, m.Part(room))
            self._names_of_new(session, before)  # (out of the last room: back in the lobby)

    def topic(self, session: Session, params: list[str]) -> None:
        p = session.participant
        room = p.rooms.get(room_key(params[0]))
        if room is None:
            self._send(session, [["442", params[0], "You're not on that channel"]])
            return
        if len(params) == 1:
            topic = p.hub.topic(room)
            self._send(session, [["332", room, topic]] if topic else [["331", room, "No topic is set"]])
            return
        self._ask(session, "TOPIC", room, m.Join(room))  # (focused: /topic is about the focused room)
        p.handle(m.SetTopic(params[1]))

    def names(self, session: Session, params: list[str]) -> None:
        p = session.participant
        rooms = params[0].split(",")[:10] if params else list(p.rooms.values())
        for room in rooms:
            if room_key(room) in p.rooms:
                self._ask(session, "NAMES", room, lookup.Names(room))
            else:
                self._send(session, [["366", room, "End of /NAMES list"]])

    def who(self, session: Session, params: list[str]) -> None:
        mask = params[0] if params else "*"
        p = session.participant
        if mask.startswith("#"):
            if room_key(mask) in p.rooms:
                self._ask(session, "WHO", mask, lookup.Names(mask))
            else:
                self._send(session, [["315", mask, "End of /WHO list"]])
        elif mask in ("*", "0"):
            self._send(session, [["315", mask, "End of /WHO list"]])
        else:
            self._ask(session, "WHO", mask, lookup.Whois(lanchat_nick(mask)))

    def whois(self, session: Session, params: list[str]) -> None:
        nick = params[-1].split(",")[0]
        self._ask(session, "WHOIS", nick, lookup.Whois(lanchat_nick(nick)))

    def list_(self, session: Session, params: list[str]) -> None:
        after = params[0][1:] if params and params[0].startswith(">#") else None
        self._ask(session, "LIST", "*", m.ListRooms(after=after))

    def away(self, session: Session, params: list[str]) -> None:
        p = session.participant
        self._ask(session, "AWAY", "*", m.Away(reason=params[0] if params else ""))
        if p.away:
            self._send(session, [["306", "You have been marked as being away"]])
        else:
            self._send(session, [["305", "You are no longer marked as being away"]])

    def quit(self, session: Session, params: list[str]) -> None:
        session.participant.handle(m.Quit(text=params[0] if params else ""))

    def ping(self, session: Session, params: list[str]) -> None:
        if session.participant.registered:
            session.participant.handle(m.Ping(params[0]))
        else:
            self._send(session, [["PONG", names.SERVER, params[0]]])

    def pong(self, session: Session, params: list[str]) -> None:
        pass  # (heard: the stream's reads say the peer is alive)

    def kick(self, session: Session, params: list[str]) -> None:
        room, nick = params[0], params[1].split(",")[0]
        self._ask(session, "KICK", room, m.Kick(lanchat_nick(nick), reason=params[2] if len(params) > 2 else ""))

    def mode(self, session: Session, params: list[str]) -> None:
        target = params[0]
        if not target.startswith("#"):
            self._user_mode(session, params)
            return
        if len(params) == 1:
            self._send(session, [["324", target, "+"]])
            return
        self._context(session, "MODE", target)
        args = params[2:]
        sign = "+"
        for ch in params[1]:
            if ch in "+-":
                sign = ch
            elif ch == "b" and not args:
                self._ask(session, "MODE", target, lookup.BanList())
            elif ch == "b":
                self._ban(session, sign, args.pop(0))
            elif ch == "o" and args:
                nick = lanchat_nick(args.pop(0))
                session.participant.handle(m.Op(nick) if sign == "+" else m.Deop(nick))
            elif ch == "o":
                self._send(session, [["461", "MODE", "Not enough parameters"]])
            else:
                self._send(session, [["472", ch, "is unknown mode char to me (channels here have o and b)"]])

    def _ban(self, session: Session, sign: str, mask: str) -> None:
        nick, _, userhost = mask.partition("!")
        host = userhost.partition("@")[2]
        if nick not in ("", "*"):
            msg: m.Message = m.Ban(lanchat_nick(nick)) if sign == "+" else m.Unban(lanchat_nick(nick))
        elif sign == "-" and host not in ("", "*"):
            msg = m.Unban(host)
        else:
            self._notice(
                session, "a ban here names a nick (MODE #room +b nick, or nick!*@*), and bans their address too"
            )
            return
        session.participant.handle(msg)

    def _user_mode(self, session: Session, params: list[str]) -> None:
        if lanchat_nick(params[0]).casefold() != session.participant.nick.casefold():
            self._send(session, [["502", "Can't change mode for other users"]])
        elif len(params) == 1:
            self._send(session, [["221", "+"]])
        elif params[1].strip("+-") and params[1].strip("+-") not in ("i", "w", "iw", "wi"):
            self._send(session, [["501", "Unknown MODE flag"]])

    def chathistory(self, session: Session, params: list[str]) -> None:
        sub, target = params[0].upper(), params[1]
        rest = params[2:]
        try:
            limit = min(int(rest[-1]), _HISTORY_MAX) if rest else 0
        except ValueError:
            limit = -1
        if sub == "TARGETS":
            self._send(session, [["BATCH", "+t", "draft/chathistory-targets"], ["BATCH", "-t"]])
            return
        bounds: dict[str, object] = {}
        if sub == "LATEST" and len(rest) == 2 and limit >= 0:
            ok = rest[0] == "*" or _bound(rest[0], bounds, "after")
            newest = True
        elif sub in ("BEFORE", "AFTER") and len(rest) == 2 and limit >= 0:
            ok = _bound(rest[0], bounds, sub.lower())
            newest = sub == "BEFORE"
        elif sub == "BETWEEN" and len(rest) == 3 and limit >= 0:
            ok = _bound(rest[0], bounds, "after") and _bound(rest[1], bounds, "before")
            newest = False
        else:
            ok = False
        if not ok:
            self._send(session, [["FAIL", "CHATHISTORY", "INVALID_PARAMS", params[0], "cannot do that"]])
            return
        if room_key(target) not in session.participant.rooms:
            self._send(session, [["FAIL", "CHATHISTORY", "INVALID_TARGET", params[0], target, "not a room you are in"]])
            return
        self._ask(session, "CHATHISTORY", target, lookup.Recent(target, limit, newest=newest, **bounds))  # type: ignore[arg-type]

    def ison(self, session: Session, params: list[str]) -> None:
        hub = session.participant.hub
        here = [n for word in params for n in word.split() if hub.find(lanchat_nick(n)) is not None]
        self._send(session, [["303", " ".join(here)]])

    def userhost(self, session: Session, params: list[str]) -> None:
        hub = session.participant.hub
        found = []
        for nick in params[:5]:
            person = hub.find(lanchat_nick(nick))
            if person is not None:
                found.append(f"{nick}{'*' if person.op else ''}={'-' if person.away else '+'}{nick[:16]}@lanchat")
        self._send(session, [["302", " ".join(found)]])

    def motd(self, session: Session, params: list[str]) -> None:
        self._send(session, self.client.motd())

    def time(self, session: Session, params: list[str]) -> None:
        now = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime())
        self._send(session, [["391", names.SERVER, now]])


def _too_long(raw: bytes) -> bool:
    """Over 512 bytes with CRLF, tags apart (at most 8,191 bytes of them)."""
    if raw.startswith(b"@"):
        tags, _, raw = raw.partition(b" ")
        if len(tags) > MAX_CLIENT_TAGS:
            return True
    return len(raw) + 2 > MAX_LINE


def _bound(selector: str, bounds: dict[str, object], side: str) -> bool:
    """A chathistory selector (``msgid=`` or ``timestamp=``) as the bound on ``side`` ("after"/"before")."""
    kind, _, value = selector.partition("=")
    if kind == "msgid":
        seq = seq_of(value)
        if seq is None:
            return False
        bounds[f"{side}_seq"] = seq
        return True
    if kind == "timestamp":
        try:
            bounds[f"{side}_ts"] = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return False
        return True
    return False


Run = Callable[[IrcDialect, "Session", list[str]], None]
#: Each command: (parameters needed, only once registered, what it does).
COMMANDS: dict[str, tuple[int, bool, Run]] = {
    "CAP": (1, False, IrcDialect.cap),
    "PASS": (1, False, IrcDialect.pass_),
    "NICK": (1, False, IrcDialect.nick),
    "USER": (4, False, IrcDialect.user),
    "PING": (1, False, IrcDialect.ping),
    "PONG": (0, False, IrcDialect.pong),
    "QUIT": (0, False, IrcDialect.quit),
    "PRIVMSG": (2, True, lambda d, s, p: None),  # (fewer than 2 parameters: 461; else ``_message``)
    "NOTICE": (2, True, lambda d, s, p: None),
    "JOIN": (1, True, IrcDialect.join),
    "PART": (1, True, IrcDialect.part),
    "TOPIC": (1, True, IrcDialect.topic),
    "NAMES": (0, True, IrcDialect.names),
    "WHO": (0, True, IrcDialect.who),
    "WHOIS": (1, True, IrcDialect.whois),
    "LIST": (0, True, IrcDialect.list_),
    "AWAY": (0, True, IrcDialect.away),
    "KICK": (2, True, IrcDialect.kick),
    "MODE": (1, True, IrcDialect.mode),
    "CHATHISTORY": (3, True, IrcDialect.chathistory),
    "ISON": (1, True, IrcDialect.ison),
    "USERHOST": (1, True, IrcDialect.userhost),
    "MOTD": (0, True, IrcDialect.motd),
    "TIME": (0, True, IrcDialect.time),
}
