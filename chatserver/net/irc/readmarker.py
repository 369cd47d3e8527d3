"""``MARKREAD``: IRCv3 ``draft/read-marker`` on the IRC port, mapped to the rules' read markers.

An IRC client logged in is one of an account's devices (issue 23): how far
it has read a channel or a private conversation is the account's marker
(``backends/markers.py``), kept and told to the other devices by the rules
(``rules/readmarkers.py``, the native ``markread``); a guest's are its own,
for the connection's life. Here only the mapping: a channel target is the
room, a nick target the private conversation with that person
(``@NAME`` in the native marker).

- ``MARKREAD <target> timestamp=YYYY-MM-DDThh:mm:ss.sssZ`` sets: handed to the
  rules as a ``ReadMarker``, then the marker kept is sent back (a marker only
  moves forward: an older timestamp gets the newer one).
- ``MARKREAD <target>`` asks: the marker kept, or ``timestamp=*``.
- After a ``JOIN`` the channel's marker is sent, before ``NAMES`` (``joined``);
  after a login, each kept marker (``rules/accounts.logged_in``), so the first
  room's ``JOIN`` at registration does not tell it again.
- Another device's marker reaches the client as ``MARKREAD`` (``rendered``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from chatserver.rules import readmarkers
from common import messages as m
from common.rooms import room_key

from . import names
from .lines import build, irc_time
from .names import irc_nick, lanchat_nick

if TYPE_CHECKING:
    from chatserver.net.session import Session

CAP = "draft/read-marker"


class Client(Protocol):
    """What is read of the connection's state (``replies.Client``): the capabilities it asked for."""

    caps: set[str]


class IrcDialect(Protocol):
    """What ``MARKREAD`` uses of the dialect (``dialect.IrcDialect``; not imported: it renders these)."""

    @property
    def client(self) -> Client: ...
    def send(self, session: Session, lines: list[list[str]]) -> None: ...
    def ask(self, session: Session, command: str, target: str, msg: m.Message) -> None: ...


_TIMESTAMP = re.compile(r"timestamp=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")


def _stamp(ts: float | None) -> str:
    """A MARKREAD's last parameter: ``timestamp=...``, or ``*`` when nothing is kept."""
    return "*" if ts is None else "timestamp=" + irc_time(ts)


def parse_time(param: str) -> float | None:
    """``timestamp=...`` as seconds since the epoch (None: not that form, or no such date)."""
    found = _TIMESTAMP.fullmatch(param)
    if found is None:
        return None
    try:
        when = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return round(when.timestamp() * 1000) / 1000


def markread(d: IrcDialect, session: Session, params: list[str]) -> None:
    """``MARKREAD <target> [timestamp=...]``: set, or ask for, the account's marker of ``target``."""
    if not params or not params[0]:
        _fail(d, session, "NEED_MORE_PARAMS", "*", "MARKREAD needs a target")
        return
    target, setting = params[0], len(params) > 1
    ts = parse_time(params[1]) if setting else None
    if setting and ts is None:
        _fail(d, session, "INVALID_PARAMS", target, "the timestamp is not timestamp=YYYY-MM-DDThh:mm:ss.sssZ")
        return
    kept = _kept(session, target, setting)
    if kept is None:
        _fail(d, session, "INVALID_TARGET", target, "neither a channel you are in nor a person's conversation")
        return
    if ts is not None:
        d.ask(session, "MARKREAD", target, m.ReadMarker(target=_native(target), ts=ts))
    now = readmarkers.markers(session.participant).get(kept)
    d.send(session, [["MARKREAD", target, _stamp(now)]])


def joined(d: IrcDialect, session: Session, room: str, *, registering: bool = False) -> None:
    """The channel's marker, told after its ``JOIN`` (before ``NAMES``), to a client that asked for
    it; ``registering``: the rooms it arrives in, whose kept markers its login told already."""
    if CAP not in d.client.caps:
        return
    p = session.participant
    now = readmarkers.markers(p).get(room)
    if registering and now is not None and p.account is not None:
        return  # (told with every other kept marker as it logged in)
    d.send(session, [["MARKREAD", room, _stamp(now)]])


def rendered(client: Client, msg: m.ReadMarker) -> list[str]:
    """Another device's marker (or, after a login, each kept one), as ``MARKREAD``, if the client asked for it."""
    if CAP not in client.caps:
        return []
    target = irc_nick(msg.target[1:]) if msg.target.startswith("@") else msg.target
    return [build("MARKREAD", target, "timestamp=" + irc_time(msg.ts), source=names.SERVER)]


def _native(target: str) -> str:
    return target if target.startswith("#") else "@" + lanchat_nick(target)


def _kept(session: Session, target: str, setting: bool) -> str | None:
    """The target as its marker is kept: a room's name as the server spells it, ``@NAME``. To set
    one, the client must be in the channel, the nick an account's (a guest's: anyone's here) (None:
    not so); asking is free (a channel it is not in: the marker kept under that name, if any)."""
    p = session.participant
    if target.startswith("#"):
        room = p.rooms.get(room_key(target))
        if room is not None or setting:
            return room
        kept = readmarkers.markers(p)
        return next((name for name in kept if room_key(name) == room_key(target)), target)
    found = readmarkers.marked(p, "@" + lanchat_nick(target))
    if isinstance(found, list):
        return None if setting else "@" + lanchat_nick(target)
    return found


def _fail(d: IrcDialect, session: Session, code: str, target: str, text: str) -> None:
    d.send(session, [["FAIL", "MARKREAD", code, target, text]])
