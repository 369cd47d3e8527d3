"""What a person is told on entering: the welcome, who is here, then the recent or missed messages.

Each list costs the same in a room of 5 as of 5,000: a welcome names the
first people here (``limits.first``) and counts the rest, and is fitted to
its frame once. ``/who`` (``users_reply``) names everyone who fits one frame.
"""

from __future__ import annotations

import dataclasses

from chatserver.core.hub import Greeting
from chatserver.rules import membership
from chatserver.rules.executor import Actor
from chatserver.rules.modes import Mode
from common import messages as m
from common.limits import bound, fit


def greet(p: Actor, g: Greeting) -> None:
    """Registered: send the welcome, then recent or missed messages (runs under
    the hub lock, so no live message can come between them). A plain peer gets
    the welcome line and who is here first, and outside chat mode nothing."""
    if p.plain and p.mode is not Mode.CHAT:
        return  # a plain client there sees only the answers to its lines
    membership.entered(p, g)
    if p.plain:
        p.send(welcome(p))
        p.send(users_on_entry(p))
    else:
        p.send(dataclasses.replace(welcome(p), replay=len(g.messages), seq=g.seq))
    membership.replay(p, g)


def welcome(p: Actor) -> m.Welcome:
    """The handshake's answer: it names the first people here (``limits.first``) and counts
    the rest, so it costs the same in a room of 5 as of 5,000 and always fits its frame."""
    users, more = _nicks_here(p)
    bucket = p.bucket
    return fit(
        m.Welcome(
            version=m.PROTOCOL_VERSION,
            server=p.server.config.name,
            nick=p.nick,
            room=p.room,
            users=users,
            mode=p.mode.value,
            exit_words=list(p.mode.exit_words),
            token=p.token,
            topic=p.hub.topic(p.room) if p.mode is Mode.CHAT else "",
            epoch=p.epoch,
            rate=bucket.rate if bucket else 0.0,
            burst=bucket.burst if bucket else 0,
            more=more,
            accounts=_accounts_mode(p),
        )
    )


def _accounts_mode(p: Actor) -> str | None:
    """What a welcome says of accounts: "required", "optional", or None (none here)."""
    accounts = p.server.accounts
    if accounts is None or p.mode is not Mode.CHAT:
        return None
    return "required" if accounts.required else "optional"


def _nicks_here(p: Actor) -> tuple[list[str], int]:
    """The names a welcome lists, and how many more people are here."""
    if p.mode is not Mode.CHAT:
        return [p.nick], 0
    shown, count = p.hub.first_names(p.room, bound(m.Welcome))
    return shown, count - len(shown)


def users_on_entry(p: Actor) -> m.Users:
    """Who is here, as a plain peer is told on entering: the first ``limits.first`` of them
    with their away marks, and the count of the rest (``/who`` names as many as fit)."""
    nicks, away, count = p.hub.first_present(p.room, bound(m.Users))  # (names: no record each)
    return fit(m.Users(p.room, nicks, away=away, more=count - len(nicks)))


def users_reply(p: Actor) -> m.Users:
    """``/who``: everyone here who fits one frame (``limits.fit`` measures each name once;
    asked for, not paid on every join), and the count of the rest."""
    here = p.hub.members(p.room) if p.mode is Mode.CHAT else [p]
    return fit(m.Users(p.room, [q.nick for q in here], away=[q.nick for q in here if q.away]))
