"""Those set aside from a run's shares (in several rooms, or sent frames of their own) get them merged in order.

One in several rooms of the run all along that was sent nothing of its own (the
usual case of a person in several rooms) gets the posts to its rooms encoded
once for every such member of the same rooms, cut around its own, in one call.
Every other one (sent a frame of its own, or joined or left one of its rooms
while the run was queued, or gone) goes stretch by stretch through the run
(``in_order``): a stretch of a room it was in all along is cut out of the room's
one encoding, its own frames go in their places, and as few calls are made as
those frames allow.
"""

from __future__ import annotations

import logging

from chatserver.core.frames import wire_bytes
from chatserver.core.pieces import Piece, give
from chatserver.core.posts import Member, Participant, Post
from chatserver.core.shares import Held, Share

log = logging.getLogger(__name__)

#: The run as consecutive stretches: [share, lo, hi] is ``share.posts[lo:hi]``; a frame
#: for one participant is [None, post, 0].
Stretches = list[list]


def deliver_merged(run: list[Post], shares: list[Share], held: Held, full: dict[object, list[Participant]]) -> None:
    """Each participant ``held`` gets its shares of ``run`` merged in queue order, its own
    frames in their places; who is left ``full`` is added to each of its rooms' lists."""
    merged: dict[tuple[Share, ...], Share] = {}
    stretches: Stretches = []
    direct = held.direct
    for sub, mine in held.windows.items():
        try:
            wire = sub.wire
            if wire is not None and sub not in held.uneven and sub not in direct:
                rooms = tuple(mine)  # (in the order of ``shares``)
                share = merged.get(rooms)
                if share is None:
                    wanted = {share.room for share in rooms}
                    share = merged[rooms] = Share(None, [p for p in run if p.room in wanted], [])
                enc, own = share.encoded(wire), share.own.get(sub)
                if own is not None:
                    give(sub.deliver_bytes, enc.part(share.posts, own, 0, len(share.posts)))
                elif enc.blob:
                    sub.deliver_bytes(enc.blob)
            else:  # sent a frame of its own, or joined or left one of its rooms meanwhile, or gone
                if not stretches:
                    stretches = _stretches(run, shares)
                in_order(sub, wire, mine, stretches)
            if sub.full:
                for share, windows in mine.items():
                    if windows:
                        full[share.room].append(sub)
        except Exception:  # one broken member must not cost the others their messages
            log.exception("delivering to %s", getattr(sub, "nick", sub))


def in_order(sub: Participant, wire: str | None, mine: dict[Share, list[Member]], stretches: Stretches) -> None:
    """What ``sub`` gets of the run, stretch by stretch: room posts within its
    windows as bytes (as few calls as its own frames allow), its own frames
    (``share`` None: ``lo`` is the post) through ``deliver``, in queue order."""
    pieces: list[Piece] = []
    for share, lo, hi in stretches:
        if share is None:
            if lo.to is sub:
                if pieces:
                    give(sub.deliver_bytes, pieces)
                    pieces = []
                sub.deliver(lo.frame)
            continue
        windows = mine.get(share)
        if windows is None:
            continue
        if wire is None:
            for frame in share.visible(sub, windows, lo, hi):
                sub.deliver(frame)
        elif share.all_along(windows):
            # Here all along (the usual case: only a frame of its own between two stretches): the
            # stretch cut out of the room's encoding, not encoded again post by post for this member.
            pieces += share.encoded(wire).part(share.posts, share.own.get(sub), lo, hi)
        else:
            pieces += [wire_bytes(frame, wire) for frame in share.visible(sub, windows, lo, hi)]
    if pieces:
        give(sub.deliver_bytes, pieces)


def _stretches(run: list[Post], shares: list[Share]) -> Stretches:
    """The run as [share, lo, hi]: ``share.posts[lo:hi]``, consecutive in the run;
    a frame for one participant as [None, post, 0]."""
    by_room = {share.room: share for share in shares}
    counts = dict.fromkeys(by_room, 0)
    stretches: Stretches = []
    for post in run:
        if post.to is not None:
            stretches.append([None, post, 0])
            continue
        share = by_room[post.room]
        i = counts[post.room]
        counts[post.room] = i + 1
        if stretches and stretches[-1][0] is share:
            stretches[-1][2] = i + 1
        else:
            stretches.append([share, i, i + 1])
    return stretches
