"""How one dispatched batch reaches each recipient: encoded once per wire format, in order.

Everything queued for one participant reaches it in queue order, which is the
order the server decided: a reply or a private message never overtakes a room
message queued before it, a member of several rooms gets their posts in the
order they were stamped (not room by room), and a member that left a room
still gets what the room was sent while it was there.

The parts: ``frames.py`` (a message encoded once per wire format), ``posts.py``
(what is queued, and for whom), ``pieces.py`` (a room's encoding, and a
sender's copy cut out of it), ``shares.py`` (a room's posts to its members: the
hot path), ``merged.py`` (those in several rooms of a batch, or sent a frame of
their own in it). The names the rest of the server takes from the fan-out are
here too (``Frame``, ``Participant``, ``Post``, ``Member``...).
"""

from __future__ import annotations

from chatserver.core.frames import Frame, add_wire, wire_bytes
from chatserver.core.merged import deliver_merged
from chatserver.core.posts import FOREVER, Member, Participant, Post, deliver_direct
from chatserver.core.shares import SUB, Held, Share

__all__ = ["FOREVER", "Frame", "Member", "Post", "Participant", "add_wire", "deliver_direct", "dispatch", "wire_bytes"]

_NOBODY: frozenset[Participant] = frozenset()


def dispatch(batch: list[Post], members: dict[object, list[Member]]) -> dict[object, list[Participant]]:
    """Give each recipient of ``batch`` (posts in queue order: to rooms, and
    frames for one participant) what it should see of it, in queue order, in as
    few calls as can be; returns each room's members left ``full``.

    A room's posts are encoded once per wire format; a member of one room of
    the batch that gets nothing of its own in it (the usual case: the members
    of a room that many join at once included) gets that room's encoding whole,
    or cut around its own posts, in one call. A frame for one participant that
    gets nothing else of the batch goes to it alone; one in several rooms of
    the batch, or sent a frame of its own in it, has its shares merged, so that
    it too gets everything in queue order."""
    by_room: dict[object, list[Post]] = {}
    direct: dict[Participant, list[Post]] = {}
    for post in batch:
        if post.to is None:
            by_room.setdefault(post.room, []).append(post)
        else:
            direct.setdefault(post.to, []).append(post)
    shares = [Share(room, posts, members[room]) for room, posts in by_room.items()]
    several = _in_several(shares) if len(shares) > 1 else set()
    if direct:
        several.update(direct)
    held = Held(direct)
    full = {share.room: share.deliver(several or _NOBODY, held) for share in shares}
    if held.windows:
        deliver_merged(batch, shares, held, full)
    for sub, posts in direct.items():
        if sub not in held.windows:  # nothing else of the batch for it: its own frames alone
            for post in posts:
                deliver_direct(post)
    return full


def _in_several(shares: list[Share]) -> set[Participant]:
    """Who is in more than one of these rooms (a member, or a sender of posts to it)."""
    seen: set[Participant] = set()
    several: set[Participant] = set()
    for share in shares:
        subs = set(map(SUB, share.members))
        subs.update(share.own)
        several |= subs & seen
        seen |= subs
    return several
