"""Questions any dialect may ask about people and rooms (who is in a room, who someone is, the bans), as values.

These are table entries like any command (``COMMANDS``, merged into the chat
table), so they pass the same rate limit and come back in the person's turn.
Their messages and answers are Structs of the native protocol's kind but not
on its wire (a native client cannot send them: the terminal client has
``/who``, ``/ops`` and ``/bans``); a dialect that asks (IRC's ``NAMES``,
``WHO``, ``WHOIS``, ``MODE +b``) builds the question and renders the answer.
"""

from __future__ import annotations

import msgspec

from chatserver.rules.effects import Answer, Effect
from chatserver.rules.membership import member_of
from chatserver.rules.services import Handler, Me
from common import messages as m
from common.rooms import room_key

#: At most this many names in one answer (a room of 5,000 is asked for in full only this far).
MAX_NAMES = 2000


class Names(m.Message, tag="names"):
    """Who is in ``room`` (one we are in)."""

    room: str


class Member(msgspec.Struct, frozen=True, gc=False):
    nick: str
    op: bool = False  # a server operator, or one of the room's (``roommodes.py``)
    away: str = ""
    voice: bool = False  # voiced in the room


class Members(m.Message, tag="members"):
    """The answer to ``Names``: everyone in ``room`` (the first ``MAX_NAMES``)."""

    room: str
    members: list[Member]
    more: int = 0
    secret: bool = False  # a secret room (``+s``)


class Whois(m.Message, tag="whois"):
    """Who is ``nick``."""

    nick: str


class Profile(m.Message, tag="profile"):
    """The answer to ``Whois``: ``found`` False when nobody has that name. The address is told
    to operators (and to the person itself) only; ``rooms`` are those the asker shares with them,
    and the room they are in now."""

    nick: str
    found: bool
    op: bool = False
    host: bool = False
    away: str = ""
    address: str = ""
    rooms: list[str] = msgspec.field(default_factory=list)
    #: For each of ``rooms``: "@" (its operator), "+" (voiced), "@+" or "".
    marks: list[str] = msgspec.field(default_factory=list)
    #: The account they are logged in to ("": a guest, as far as this server can tell).
    account: str = ""


class BanList(m.Message, tag="banlist"):
    """The bans in force (name, address, by whom, when set), for anyone to read as an
    IRC channel's ban list is; the reasons and mutes stay with ``/bans`` (operators)."""


class Bans(m.Message, tag="bans-reply"):
    """The answer to ``BanList``: (nick, address, by) each."""

    bans: list[tuple[str, str, str]]


def names(me: Me, msg: Names) -> list[Effect]:
    room, refused = member_of(me, msg.room)
    if room is None:
        return refused
    people, count = me.hub.first_members(room, MAX_NAMES)  # (a bound: not the whole of a big room)
    state = me.server.sanctions.rooms.get(room)
    if state is None:
        shown = [Member(p.nick, p.op, p.away) for p in people]
    else:
        shown = [Member(p.nick, p.op or state.is_op(p.nick), p.away, state.voice(p.nick)) for p in people]
    secret = state is not None and "s" in state.flags
    return [Answer(Members(room, shown, max(0, count - len(shown)), secret))]


def whois(me: Me, msg: Whois) -> list[Effect]:
    target = me.hub.find(msg.nick)
    if target is None:
        return [Answer(Profile(msg.nick, False))]
    rooms = [target.room] if target.room else []
    for name in me.rooms.values():
        if room_key(name) != room_key(target.room) and any(p.nick == target.nick for p in me.hub.members(name)):
            rooms.append(name)
    marks = []
    for name in rooms:
        state = me.server.sanctions.rooms.get(name)
        marks.append(
            ""
            if state is None
            else ("@" if state.is_op(target.nick) else "") + ("+" if state.voice(target.nick) else "")
        )
    told = me.op or target.nick == me.nick
    address = target.address if told else ""
    account = target.account  # (the hub says it: no read of the accounts store, right for a renamed account)
    profile = Profile(target.nick, True, target.op, target.host, target.away, address, rooms, marks, account)
    return [Answer(profile)]


def ban_list(me: Me, msg: BanList) -> list[Effect]:
    bans = me.server.sanctions.bans()
    return [Answer(Bans([(s.nick, s.address if me.op else "", s.by) for s in bans]))]


#: The questions' handlers, for the chat table.
COMMANDS: dict[type[m.Message], Handler] = {Names: names, Whois: whois, BanList: ban_list}


class Recent(m.Message, tag="recent"):
    """A room's messages (one we are in) within bounds: after ``after_seq``/``after_ts`` and before
    ``before_seq``/``before_ts``, at most ``limit``, the newest of them (``newest``) or the oldest;
    looked for among the room's last ``chat.MAX_LOOK_BACK`` (IRC's ``draft/chathistory``)."""

    room: str
    limit: int
    after_seq: int | None = None
    before_seq: int | None = None
    after_ts: float | None = None
    before_ts: float | None = None
    newest: bool = True


class Found(m.Message, tag="found"):
    """The answer to ``Recent``: oldest first."""

    room: str
    messages: list[m.ChatMessage]


#: How far back ``Recent`` and ``/history`` look, at most (``chat.MAX_LOOK_BACK`` is this one).
LOOK_BACK = 1000


def recent(me: Me, msg: Recent) -> list[Effect]:
    room, refused = member_of(me, msg.room)
    if room is None:
        return refused
    found = [
        x
        for x in me.hub.recent(room, LOOK_BACK, msg.before_seq)  # (the store reads below it, not 1000 then filters)
        if (msg.after_seq is None or x.seq > msg.after_seq)
        and (msg.before_seq is None or x.seq < msg.before_seq)
        and (msg.after_ts is None or x.ts > msg.after_ts)
        and (msg.before_ts is None or x.ts < msg.before_ts)
    ]
    limit = max(0, min(msg.limit, LOOK_BACK))
    found = found[-limit:] if msg.newest else found[:limit]
    return [Answer(Found(room, found if limit else []))]


COMMANDS[Recent] = recent
