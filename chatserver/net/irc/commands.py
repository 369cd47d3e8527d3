"""What a registered IRC client's commands do: each one the rules' message for it, or an answer of IRC's own.

Functions of the dialect (``dialect.IrcDialect``) and the session; the
table ``CHAT`` names them. ``PRIVMSG`` and ``NOTICE`` are ``messages.py``'s
(they take the together-read path); ``MODE #room`` is read by the rules'
one parser (``rules/modeline.py``), as the native ``/mode`` is.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chatserver.rules import lookup, modeline, operators, rooms
from common import messages as m
from common.rooms import room_key

from . import names
from .names import HOST, irc_nick, lanchat_nick
from .wire import seq_of

if TYPE_CHECKING:
    from chatserver.net.session import Session

    from .people import People
    from .replies import Client


class IrcDialect(Protocol):
    """What the commands use of the dialect (``dialect.IrcDialect``)."""

    client: Client
    people: People

    def send(self, session: Session, lines: list[list[str]]) -> None: ...
    def notice(self, session: Session, text: str) -> None: ...
    def context(self, session: Session, command: str, target: str = "*") -> None: ...
    def ask(self, session: Session, command: str, target: str, msg: m.Message) -> None: ...
    def names_of_new(self, session: Session, before: set[str]) -> None: ...


#: The most a chathistory answer holds.
HISTORY_MAX = lookup.LOOK_BACK
Run = Callable[["IrcDialect", "Session", list[str]], None]


def join(d: IrcDialect, session: Session, params: list[str]) -> None:
    p = session.participant
    if params[0] == "0":  # leave every room (the lobby stays: lanchat's people are always somewhere)
        for room in list(p.rooms.values()):
            part(d, session, [room])
        return
    keys = params[1].split(",") if len(params) > 1 else []
    for i, room in enumerate(params[0].split(",")[:10]):
        before = set(p.rooms)
        key = keys[i] if i < len(keys) and keys[i] else None
        d.ask(session, "JOIN", room, m.Join(room, key=key))
        d.names_of_new(session, before)


def part(d: IrcDialect, session: Session, params: list[str]) -> None:
    p = session.participant
    reason = params[1] if len(params) > 1 and params[1] else None
    for room in params[0].split(",")[:10]:
        before = set(p.rooms)
        d.ask(session, "PART", room, m.Part(room, reason=reason))
        d.names_of_new(session, before)  # (out of the last room: back in the lobby)


def topic(d: IrcDialect, session: Session, params: list[str]) -> None:
    p = session.participant
    room = p.rooms.get(room_key(params[0]))
    if room is None and not p.hub.first_names(params[0], 1)[1]:
        d.send(session, [["403", params[0], "No such channel"]])
        return
    if room is None:
        d.send(session, [["442", params[0], "You're not on that channel"]])
        return
    if len(params) == 1:
        topic = p.hub.topic(room)
        d.send(session, [["332", room, topic]] if topic else [["331", room, "No topic is set"]])
        if topic:
            d.ask(session, "TOPIC", room, rooms.TopicOf(room))  # (``333``: who set it and when, if known)
        return
    d.ask(session, "TOPIC", room, m.SetTopic(params[1], room=room, clear=not params[1].strip() or None))


def names_(d: IrcDialect, session: Session, params: list[str]) -> None:
    p = session.participant
    rooms = params[0].split(",")[:10] if params else list(p.rooms.values())
    for room in rooms:
        if room_key(room) in p.rooms:
            d.ask(session, "NAMES", room, lookup.Names(room))
        else:
            d.send(session, [["366", room, "End of /NAMES list"]])


def who(d: IrcDialect, session: Session, params: list[str]) -> None:
    mask = params[0] if params else "*"
    p = session.participant
    if mask.startswith("#"):
        if room_key(mask) in p.rooms:
            d.ask(session, "WHO", mask, lookup.Names(mask))
        else:
            d.send(session, [["315", mask, "End of /WHO list"]])
    elif "*" in mask or "?" in mask or mask == "0":
        _who_mask(d, session, "*" if mask == "0" else mask)
    else:
        d.ask(session, "WHO", mask, lookup.Whois(lanchat_nick(mask)))


def _who_mask(d: IrcDialect, session: Session, mask: str) -> None:
    """``WHO`` with a mask (``*``, ``coolni*``): everyone whose nick matches, at most ``MAX_WHO``."""
    pattern = mask.casefold()
    lines = []
    for person in session.participant.hub.sessions():
        shown = irc_nick(person.nick)
        if fnmatch.fnmatchcase(shown.casefold(), pattern):
            said = d.people.of(person.nick)
            flags = ("G" if person.away else "H") + ("*" if person.op else "")
            lines.append(["352", "*", said.user, HOST, names.SERVER, shown, flags, f"0 {said.realname}"])
            if len(lines) >= MAX_WHO:
                break
    d.send(session, [*lines, ["315", mask, "End of /WHO list"]])


#: ``WHO`` with a mask answers at most this many people.
MAX_WHO = 200


def whowas(d: IrcDialect, session: Session, params: list[str]) -> None:
    nick = params[0].split(",")[0]
    try:
        count = int(params[1]) if len(params) > 1 else 0
    except ValueError:
        count = 0
    lines: list[list[str]] = []
    for said in d.people.was(lanchat_nick(nick), count):
        lines += [["314", nick, said.user, HOST, "*", said.realname], ["312", nick, names.SERVER, "lanchat"]]
    if not lines:
        lines = [["406", nick, "There was no such nickname"]]
    d.send(session, [*lines, ["369", nick, "End of WHOWAS"]])


def oper(d: IrcDialect, session: Session, params: list[str]) -> None:
    d.ask(session, "OPER", "*", operators.Oper(params[0], params[1]))


def lusers(d: IrcDialect, session: Session, params: list[str]) -> None:
    hub = session.participant.hub
    people = hub.sessions()
    count, ops, rooms = len(people), sum(1 for p in people if p.op), len(hub.rooms())
    d.send(
        session,
        [
            ["251", f"There are {count} users and 0 invisible on 1 servers"],
            ["252", str(ops), "operator(s) online"],
            ["254", str(rooms), "channels formed"],
            ["255", f"I have {count} clients and 0 servers"],
            ["265", f"Current local users {count}"],
            ["266", f"Current global users {count}"],
        ],
    )


def whois(d: IrcDialect, session: Session, params: list[str]) -> None:
    nick = params[-1].split(",")[0]
    d.ask(session, "WHOIS", nick, lookup.Whois(lanchat_nick(nick)))


def list_(d: IrcDialect, session: Session, params: list[str]) -> None:
    after = params[0][1:] if params and params[0].startswith(">#") else None
    d.ask(session, "LIST", "*", m.ListRooms(after=after))


def away(d: IrcDialect, session: Session, params: list[str]) -> None:
    p = session.participant
    d.ask(session, "AWAY", "*", m.Away(reason=params[0] if params else ""))
    if p.away:
        d.send(session, [["306", "You have been marked as being away"]])
    else:
        d.send(session, [["305", "You are no longer marked as being away"]])


def kick(d: IrcDialect, session: Session, params: list[str]) -> None:
    room, nick = params[0], params[1].split(",")[0]
    if room_key(room) not in session.participant.rooms and not session.participant.hub.first_names(room, 1)[1]:
        d.send(session, [["403", room, "No such channel"]])
        return
    d.ask(session, "KICK", room, m.Kick(lanchat_nick(nick), reason=params[2] if len(params) > 2 else "", room=room))


def mode(d: IrcDialect, session: Session, params: list[str]) -> None:
    """``MODE #room [letters [args]]``, read by the rules' one parser (``modeline.read``, as the native
    ``/mode``); ``MODE nick``: its own user modes."""
    target = params[0]
    if not target.startswith("#"):
        _user_mode(d, session, params)
        return
    letters = params[1] if len(params) > 1 else ""
    d.context(session, "MODE", target)
    for asked in modeline.read(target, letters, params[2:], lanchat_nick):
        if not isinstance(asked, modeline.Refused):
            d.ask(session, "MODE", target, asked)
        elif asked.why == "value":
            d.send(session, [["461", "MODE", "Not enough parameters"]])
        elif asked.why == "mask":
            d.notice(session, asked.text)
        else:
            d.send(session, [["472", asked.letter, asked.text]])


def invite(d: IrcDialect, session: Session, params: list[str]) -> None:
    d.ask(session, "INVITE", params[1], rooms.Invite(lanchat_nick(params[0]), params[1]))


def _user_mode(d: IrcDialect, session: Session, params: list[str]) -> None:
    if lanchat_nick(params[0]).casefold() != session.participant.nick.casefold():
        d.send(session, [["502", "Can't change mode for other users"]])
    elif len(params) == 1:
        d.send(session, [["221", "+"]])
    elif params[1].strip("+-") and params[1].strip("+-") not in ("i", "w", "iw", "wi"):
        d.send(session, [["501", "Unknown MODE flag"]])


def chathistory(d: IrcDialect, session: Session, params: list[str]) -> None:
    sub, target = params[0].upper(), params[1]
    rest = params[2:]
    try:
        limit = min(int(rest[-1]), HISTORY_MAX) if rest else 0
    except ValueError:
        limit = -1
    if sub == "TARGETS":
        d.send(session, [["BATCH", "+t", "draft/chathistory-targets"], ["BATCH", "-t"]])
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
        d.send(session, [["FAIL", "CHATHISTORY", "INVALID_PARAMS", params[0], "cannot do that"]])
        return
    if room_key(target) not in session.participant.rooms:
        d.send(session, [["FAIL", "CHATHISTORY", "INVALID_TARGET", params[0], target, "not a room you are in"]])
        return
    d.ask(session, "CHATHISTORY", target, lookup.Recent(target, limit, newest=newest, **bounds))  # type: ignore[arg-type]


def ison(d: IrcDialect, session: Session, params: list[str]) -> None:
    hub = session.participant.hub
    here = [n for word in params for n in word.split() if hub.find(lanchat_nick(n)) is not None]
    d.send(session, [["303", " ".join(here)]])


def userhost(d: IrcDialect, session: Session, params: list[str]) -> None:
    hub = session.participant.hub
    found = []
    for nick in params[:5]:
        person = hub.find(lanchat_nick(nick))
        if person is not None:
            found.append(f"{nick}{'*' if person.op else ''}={'-' if person.away else '+'}{nick[:16]}@lanchat")
    d.send(session, [["302", " ".join(found)]])


def kill(d: IrcDialect, session: Session, params: list[str]) -> None:
    """``KILL nick [reason]``: lanchat's kick, which disconnects (a server operator's right: else ``481``)."""
    d.ask(session, "KILL", params[0], m.Kick(lanchat_nick(params[0]), reason=params[1] if len(params) > 1 else ""))


def info(d: IrcDialect, session: Session, params: list[str]) -> None:
    lines = [
        f"{names.SERVER} is a lanchat server: a LAN chat whose rooms are these channels,",
        "shared with its terminal client, its chat page and nc (see docs/irc.md).",
    ]
    d.send(session, [*(["371", line] for line in lines), ["374", "End of INFO list"]])


def motd(d: IrcDialect, session: Session, params: list[str]) -> None:
    d.send(session, d.client.motd())


def time_(d: IrcDialect, session: Session, params: list[str]) -> None:
    now = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime())
    d.send(session, [["391", names.SERVER, now]])


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


#: Each command once registered: (parameters needed, what it does); ``dialect.COMMANDS`` adds registration's.
CHAT: dict[str, tuple[int, Run]] = {
    "JOIN": (1, join),
    "PART": (1, part),
    "TOPIC": (1, topic),
    "NAMES": (0, names_),
    "WHO": (0, who),
    "WHOIS": (1, whois),
    "LIST": (0, list_),
    "AWAY": (0, away),
    "KICK": (2, kick),
    "MODE": (1, mode),
    "INVITE": (2, invite),
    "CHATHISTORY": (3, chathistory),
    "ISON": (1, ison),
    "USERHOST": (1, userhost),
    "MOTD": (0, motd),
    "WHOWAS": (1, whowas),
    "LUSERS": (0, lusers),
    "OPER": (2, oper),
    "KILL": (1, kill),
    "INFO": (0, info),
    "TIME": (0, time_),
}
