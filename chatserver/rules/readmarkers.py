"""Read markers: where a person's are kept (an account's, shared by its devices; a guest's, its own) and ``markread``.

IRCv3 ``draft/read-marker``'s idea (docs/accounts.md, "Shared read
markers"): per room and per private conversation (``@NAME``), the time of
the last message read. A person logged in to an account keeps them in the
server's ``MarkerStore`` (``backends/markers.py``), and what one device marks
is told to the others. A guest, who has no account to keep them for and one
device, keeps them in memory for its session's life (``own``): not stored,
told to nobody, gone when it disconnects; logging in makes the account's the
ones that count (a guest's are kept aside, and count again after ``/logout``).
Every way in (native ``markread``, IRC's ``MARKREAD``) goes through ``kept``
and ``read_marker`` here.
"""

from __future__ import annotations

import time

from chatserver.backends.markers import MarkerStore, MemoryMarkers
from chatserver.core.fanout import Frame
from chatserver.rules import privates
from chatserver.rules.effects import Effect, error
from chatserver.rules.services import Me
from common import messages as m
from common.rooms import room_key

#: A guest's markers, at most (the oldest go first): a session's own, in memory.
GUEST_MARKERS = 100
#: The key a guest's own store keeps its markers under (it has one person: itself).
_GUEST = "*"


def kept(me: Me) -> tuple[MarkerStore, str]:
    """Where ``me``'s markers are, and under which key: the account's store, or the guest's own,
    made when first needed."""
    markers = me.server.markers
    if me.account is not None and markers is not None:
        return markers, me.account
    own = me.guest_markers
    if own is None:
        own = me.guest_markers = MemoryMarkers(cap=GUEST_MARKERS)
    return own, _GUEST


def markers(me: Me) -> dict[str, float]:
    """Every marker of ``me``'s: target -> time."""
    if me.account is None and me.guest_markers is None:
        return {}  # (a guest that never set one: none made to say so)
    store, key = kept(me)
    return store.markers(key)


def read_marker(me: Me, msg: m.ReadMarker) -> list[Effect]:
    """A device read ``msg.target`` up to ``msg.ts``: kept (only ever forward, never past now);
    an account's other devices are told, so they stop counting it unread."""
    target = marked(me, msg.target)
    if isinstance(target, list):
        return target
    store, key = kept(me)
    now = store.mark(key, target, min(msg.ts, time.time()))
    if me.account is not None:
        me.hub.echo(me, Frame(m.ReadMarker(target=target, ts=now)), plain=False)
    return []


def marked(me: Me, target: str) -> str | list[Effect]:
    """The target as kept: a room we are in, as the server spells it; ``@NAME`` of a private
    conversation, NAME as its account is registered, or (a guest's) as its person is connected
    (the refusal, if none of these)."""
    if target.startswith("@"):
        other = privates.account_of(me, target[1:])
        if other is None and me.account is None:  # (a guest's conversations are with anyone here)
            person = me.hub.find(target[1:])
            other = None if person is None else person.nick
        if other is None:
            return [error("no_such_account", f"{target[1:41]!r} is not an account: no conversation is kept")]
        return "@" + other
    room = me.rooms.get(room_key(target))
    return room if room is not None else [error("not_in_room", f"you are not in {target[:40]!r}")]
