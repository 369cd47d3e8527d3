"""``PRIVMSG`` and ``NOTICE`` from an IRC client: to rooms (read together) and to people, CTCP ``ACTION`` as ``/me``.

A message that fits in 512 bytes from the client but not once relayed with
its sender's ``nick!user@host`` is refused whole with ``417`` (as Ergo
does): neither cut nor split; a ``NOTICE``, which nothing answers, is split
by the wire instead. Client-only tags travel with the message
(``ChatMessage.tags``, at most ``MAX_FIELD`` characters). A CTCP query to a
room is dropped (nobody there answers them). The common case, a plain
``PRIVMSG #room :text``, is taken without ``lines.parse`` (``fast``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

from chatserver.net.dialects.together import Together
from common import messages as m
from common.limits import MAX_FIELD

from .lines import MAX_LINE, Parsed, client_tags
from .names import lanchat_nick, prefix

if TYPE_CHECKING:
    from chatserver.net.session import Session

_CTCP_ACTION = re.compile(r"\x01ACTION ?(.*?)\x01?$", re.DOTALL)


class IrcDialect(Protocol):
    """What messages use of the dialect (``dialect.IrcDialect``)."""

    #: The last name whose relayed prefix was measured, and what it adds to a line (``source_cost``).
    source: tuple[str, int]

    def send(self, session: Session, lines: list[list[str]]) -> None: ...
    def context(self, session: Session, command: str, target: str = "*") -> None: ...
    def ask(self, session: Session, command: str, target: str, msg: m.Message) -> None: ...


def fast(d: IrcDialect, session: Session, together: Together, text: str, raw: bytes) -> bool:
    """``PRIVMSG #room :text`` (most lines) taken as ``message`` takes it, without parsing the line;
    False: not that simple (the line is parsed, then)."""
    room, colon, said = text[8:].partition(" :")
    if not colon or said.startswith("\x01") or "," in room or " " in room or not room.isprintable():
        return False
    if len(raw) + source_cost(d, session) > MAX_LINE:
        together.flush()
        too_long_to_relay(d, session, room)
        return True
    d.context(session, "PRIVMSG", room)
    together.add(m.Say(text=said, room=room))
    return True


def source_cost(d: IrcDialect, session: Session) -> int:
    """The bytes a line of this person's gains when relayed: ``:nick!user@host `` before it, CRLF after."""
    nick = session.participant.nick
    if d.source[0] != nick:
        d.source = (nick, len(prefix(nick).encode()) + 4)
    return d.source[1]


def too_long_to_relay(d: IrcDialect, session: Session, target: str) -> None:
    """A message that fits from the client but not once relayed with its sender's prefix: refused
    whole (as Ergo does, 417), neither cut nor split, and the client told how much is too much."""
    d.send(session, [["417", f"Input line was too long to relay to {target[:64]}: send it in shorter pieces"]])


def message(d: IrcDialect, session: Session, together: Together, parsed: Parsed) -> None:
    """A ``PRIVMSG`` or ``NOTICE`` to up to four targets, rooms and people."""
    targets, text = parsed.params[0], parsed.params[1]
    notice = parsed.command == "NOTICE" or None
    tags = client_tags(parsed.tags)
    if tags is not None and len(tags) > MAX_FIELD:  # (what a message carries of them: ``ChatMessage.tags``)
        told = f"Input line was too long: client-only tags on a message are relayed up to {MAX_FIELD} characters"
        d.send(session, [["417", told]])
        return
    action = _CTCP_ACTION.match(text)
    for target in targets.split(",")[:4]:
        relayed = len(f"{parsed.command} {target} :{text}".encode()) + source_cost(d, session)
        if relayed > MAX_LINE and not notice:  # (a NOTICE is never answered: it is split as before)
            together.flush()
            too_long_to_relay(d, session, target)
            continue
        if target.startswith("#"):
            if text.startswith("\x01") and action is None:
                continue  # (a CTCP query to a room: nobody there answers them)
            d.context(session, parsed.command, target)
            if action is not None:
                together.add(m.Action(text=action.group(1), room=target))
            else:
                together.add(m.Say(text=text, room=target, notice=notice, tags=tags))
        elif target:
            together.flush()
            d.ask(
                session,
                parsed.command,
                target,
                m.PrivateSay(to=lanchat_nick(target), text=text, notice=notice, tags=tags),
            )
