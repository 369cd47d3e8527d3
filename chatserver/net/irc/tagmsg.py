"""``TAGMSG``: client-only tags without a message (``+typing``...), relayed to this port's IRC clients that want them.

IRCv3 message-tags: a ``TAGMSG`` carries only tags. A room keeps messages,
not tags, and the other ways in (the terminal, the page, nc) have no use for
a line with nothing to show, so a ``TAGMSG`` is not a room message: it goes
from the sender's thread straight to the IRC clients of this port that are
in the room (or are the person named) and asked for ``message-tags``, each in
its turn (``Participant.send``), as it would render it; with
``echo-message`` the sender gets it back. It is not kept, and IRC clients on
another node of a cluster do not get it. Client-only tags on a ``PRIVMSG``
travel with the message instead (``ChatMessage.tags``).

A ``TAGMSG`` counts against the sender's rate limit as any command does, and
a muted person's are dropped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from chatserver.rules.lookup import MAX_NAMES
from common import messages as m
from common.rooms import room_key

from .lines import client_tags, irc_time, tag_text, with_client_tags
from .names import irc_nick, lanchat_nick, prefix

if TYPE_CHECKING:
    from chatserver.net.session import Session

    from .lines import Parsed
    from .people import People
    from .replies import Client


class Counted(m.Message, tag="irc-tagmsg"):
    """A ``TAGMSG`` handed to the rules only to be counted by the rate limit (no command table has it)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Tagged:
    """One ``TAGMSG`` as relayed: from whom, to what (a room, or a nick as shown), its tags, when, its msgid."""

    nick: str
    account: str | None
    target: str
    tags: str
    ts: float
    msgid: str


#: How an IRC client of this port takes a ``Tagged`` (``People.reach``).
Deliver = Callable[[Tagged], None]


class Dialect(Protocol):
    client: Client
    people: People
    reach: Deliver | None

    def send(self, session: Session, lines: list[list[str]]) -> None: ...


def line_for(t: Tagged, caps: set[str]) -> str | None:
    """``t`` as a client with ``caps`` is sent it (None: it did not ask for ``message-tags``)."""
    if "message-tags" not in caps:
        return None
    tags = {"time": irc_time(t.ts)} if "server-time" in caps else {}
    tags["msgid"] = t.msgid
    if "account-tag" in caps and t.account:
        tags["account"] = irc_nick(t.account)
    return with_client_tags(tag_text(tags), t.tags) + f":{prefix(t.nick)} TAGMSG {t.target}"


def relay(d: Dialect, session: Session, parsed: Parsed) -> None:
    """``TAGMSG target`` with its client-only tags (see the module docstring)."""
    p = session.participant
    p.handle(Counted())  # (the rate limit: slowed, or disconnected for flooding, as for any command)
    target, tags = parsed.params[0], client_tags(parsed.tags)
    if target.startswith("#"):
        room = p.rooms.get(room_key(target))
        if room is None:
            d.send(session, [["404", target[:64], "Cannot send to channel: you are not in it"]])
            return
        shown, recipients = room, p.hub.first_names(room, MAX_NAMES)[0]
    else:
        person = p.hub.find(lanchat_nick(target))
        if person is None:
            d.send(session, [["401", target[:64], "No such nick"]])
            return
        shown, recipients = irc_nick(person.nick), [person.nick]
    if tags is None or p.mute() is not None:
        return  # (nothing to relay; a muted person's are dropped, unheard)
    now = time.time()
    t = Tagged(p.nick, p.account, shown, tags, now, f"t{int(now * 1_000_000)}")
    for nick in recipients:
        for deliver in d.people.reached(nick):
            if deliver is not d.reach:  # (the sender's other devices have it too)
                deliver(t)
    if "echo-message" in d.client.caps and d.reach is not None:
        d.reach(t)
