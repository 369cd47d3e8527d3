"""An IRC client's registration: ``CAP`` negotiation, ``PASS``, ``NICK``, ``USER``, then ``Participant.register``.

What a client says before it is registered is kept here (``Registering``)
until ``NICK``, ``USER`` and (if it began one) ``CAP END`` are all in; then
the person registers as a native ``hello`` does, with the server's password
and SASL's login token, and is told its first room's ``NAMES``. The
capabilities offered (``CAPS``) never change, so there is never a ``CAP
NEW``/``DEL``; those with a value, or offered only with accounts, are listed
by their own modules (``LISTED``). ``NICK`` after registration is a rename.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Protocol

from common import messages as m

from . import accountreg, readmarker, sasl, tagmsg
from .names import lanchat_nick
from .people import People
from .replies import Client

if TYPE_CHECKING:
    from chatserver.net.session import Session

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


@dataclasses.dataclass
class Registering:
    """What a client said before it is registered."""

    nick: str | None = None  # as given by NICK
    user: str | None = None
    realname: str = ""
    password: str | None = None
    negotiating: bool = False  # CAP LS/REQ said, END not yet


class IrcDialect(Protocol):
    """What registration uses of the dialect (``dialect.IrcDialect``)."""

    client: Client
    people: People
    sasl: sasl.Sasl
    registering: Registering
    reach: tagmsg.Deliver | None

    def send(self, session: Session, lines: list[list[str]]) -> None: ...
    def ask(self, session: Session, command: str, target: str, msg: m.Message) -> None: ...
    def names_of_new(self, session: Session, before: set[str], *, registering: bool = False) -> None: ...
    def tagged(self, session: Session, t: tagmsg.Tagged) -> None: ...


def cap(d: IrcDialect, session: Session, params: list[str]) -> None:
    """``CAP LS [302]``, ``LIST``, ``REQ``, ``END`` (which ends a negotiation begun before registration)."""
    sub = params[0].upper()
    me = d.client.nick
    if sub == "LS":
        if not session.participant.registered:
            d.registering.negotiating = True
        version = int(params[1]) if len(params) > 1 and params[1].isdigit() else 0
        listed = [shown for c in CAPS if (shown := LISTED.get(c, _as_is)(session, c, version))]
        d.send(session, [["CAP", me, "LS", " ".join(listed)]])
    elif sub == "LIST":
        d.send(session, [["CAP", me, "LIST", " ".join(sorted(d.client.caps))]])
    elif sub == "REQ" and len(params) > 1:
        if not session.participant.registered:
            d.registering.negotiating = True
        wanted = params[1].split()
        if all(c.lstrip("-") in CAPS for c in wanted):
            for c in wanted:
                if c.startswith("-"):
                    d.client.caps.discard(c[1:])
                else:
                    d.client.caps.add(c)
            session.participant.echoes = "echo-message" in d.client.caps
            session.participant.rewire()  # (its wire format follows its capabilities: ``wire``)
            d.send(session, [["CAP", me, "ACK", params[1]]])
        else:
            d.send(session, [["CAP", me, "NAK", params[1]]])
    elif sub == "END":
        d.registering.negotiating = False
        register(d, session)
    else:
        d.send(session, [["410", params[0][:16], "Invalid CAP command"]])


def pass_(d: IrcDialect, session: Session, params: list[str]) -> None:
    if session.participant.registered:
        d.send(session, [["462", "You may not reregister"]])
    else:
        d.registering.password = params[0]


def nick(d: IrcDialect, session: Session, params: list[str]) -> None:
    wanted = params[0]
    d.client.wanted = wanted
    if session.participant.registered:
        if wanted == d.client.nick:
            return  # (its own nick, as it is: nothing changes, nobody is told, as on any IRC server)
        d.ask(session, "NICK", wanted, m.SetNick(lanchat_nick(wanted)))
    else:
        d.registering.nick = wanted
        register(d, session)


def user(d: IrcDialect, session: Session, params: list[str]) -> None:
    if session.participant.registered or d.registering.user is not None:
        d.send(session, [["462", "You may not reregister"]])
        return
    if not params[0] or not params[3]:
        d.send(session, [["461", "USER", "Not enough parameters"]])
        return
    d.registering.user, d.registering.realname = params[0], params[3]
    register(d, session)


def register(d: IrcDialect, session: Session) -> None:
    """Register the person once ``NICK`` and ``USER`` are in and no ``CAP`` negotiation is open."""
    p = session.participant
    if p.registered or d.registering.negotiating or d.registering.nick is None or d.registering.user is None:
        return
    d.client.wanted = d.registering.nick
    p.realname = d.client.realname = d.registering.realname  # (told with its joins: extended-join)
    done = p.register(lanchat_nick(d.registering.nick), password=d.registering.password, login_token=d.sasl.token)
    sasl.registered(d, session, done)
    if done:
        d.reach = functools.partial(d.tagged, session)  # (this client, among its name's devices)
        d.people.came(p.nick, d.registering.user, d.registering.realname, d.reach)
        d.client.name = p.nick
        d.names_of_new(session, set(), registering=True)
        p.followed = functools.partial(d.followed, session)  # (roomsfollow: rules/devices.py)


def _as_is(session: Session, cap: str, version: int) -> str:
    return cap
