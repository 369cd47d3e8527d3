"""Room modes and invitations from a native client: ``/mode`` and ``/invite`` (IRC's ``MODE`` and ``INVITE``)."""

from __future__ import annotations

from .base import Message, Str, Strs, sent


class RoomMode(Message, tag="mode"):
    """``/mode [#ROOM] [CHANGES [ARGS...]]``: change ``room``'s modes as IRC writes them
    (``+tk-i KEY``: ``o``, ``v`` and ``b`` take an argument, ``k`` and ``l`` when set), or,
    with no ``changes``, ask what they are (``+b`` alone: the room's bans). Absent ``room``:
    the focused room. Answered by notices (event "modes", "bans"), the change told to the
    room (notice event "mode"), or an ``Error`` saying why not."""

    room: Str | None = None
    changes: Str = sent("")
    args: Strs = sent([])


class Invite(Message, tag="invite"):
    """``/invite NICK [#ROOM]``: invite ``nick`` into ``room`` (one we are in; absent: the focused
    room), which lets them past its ``+i``; they are told (notice event "invite")."""

    nick: Str
    room: Str | None = None
