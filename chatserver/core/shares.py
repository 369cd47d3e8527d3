"""A run's posts to one room and what each member gets of them: ``Share``, the fan-out's hot path.

A member of the room for the whole run that gets nothing else of it (the usual
case) gets the room's encoding whole, or cut around its own posts, in one call
(two or three for a sender in a big batch: ``pieces.give``). One that joined or
left meanwhile gets the posts within its window; a sender that is gone since
still gets its receipts. Those in several rooms of the run, or sent a frame of
their own in it, are set aside (``Held``) to get their shares merged in queue
order (``merged.py``).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterator

from chatserver.core.frames import Frame, wire_bytes
from chatserver.core.pieces import Encoded, give
from chatserver.core.posts import Member, Participant, Post

log = logging.getLogger(__name__)

SUB = operator.attrgetter("sub")


class Held:
    """The participants in several rooms of a run, or sent a frame of their own in it,
    set aside to get their shares merged."""

    __slots__ = ("windows", "uneven", "direct")

    def __init__(self, direct: dict[Participant, list[Post]]) -> None:
        #: sub -> its windows in each such room (none in a room where it is only
        #: an absent sender, owed its receipts)
        self.windows: dict[Participant, dict[Share, list[Member]]] = {}
        #: those not in each of their rooms for the whole run, as one member
        self.uneven: set[Participant] = set()
        #: sub -> the frames for it alone in the run (a greeting, a reply, a private message)
        self.direct = direct


class Share:
    """A run's posts to one room (or, ``room`` None, to several: those a member
    of them all gets, in queue order), and what each member gets of them."""

    __slots__ = ("room", "posts", "members", "own", "first", "last", "_encoded")

    def __init__(self, room: object, posts: list[Post], members: list[Member]) -> None:
        self.room, self.posts, self.members = room, posts, members
        self.first, self.last = posts[0].index, posts[-1].index
        #: sender -> where its posts are among ``posts``
        self.own: dict[Participant, list[int]] = {}
        for i, p in enumerate(posts):
            if p.exclude is not None:
                self.own.setdefault(p.exclude, []).append(i)
        self._encoded: dict[str, Encoded] = {}

    def encoded(self, wire: str) -> Encoded:
        enc = self._encoded.get(wire)
        if enc is None:
            enc = self._encoded[wire] = Encoded(self.posts, wire)
        return enc

    def all_along(self, windows: list[Member]) -> bool:
        """One window covering every post of the run: it gets the room's encoding (cut around its own)."""
        return len(windows) == 1 and windows[0].since < self.first and windows[0].until >= self.last

    def visible(self, sub: Participant, windows: list[Member], lo: int = 0, hi: int | None = None) -> Iterator[Frame]:
        """What ``sub`` gets of ``posts[lo:hi]``, in order: the posts within its
        ``windows``, its own as their receipts (all of them if it has no window:
        a sender that is gone since still gets its acks)."""
        for p in self.posts[lo:hi]:
            seen = any(w.since < p.index <= w.until for w in windows)
            if p.exclude is sub:
                frame = p.receipt if seen or not windows else None
            else:
                frame = p.frame if seen else None
            if frame is not None:
                yield frame

    def deliver(self, skip: frozenset[Participant] | set[Participant], held: Held) -> list[Participant]:
        """Give each member, in one call, the room's posts it should see, but
        those in ``skip`` (in other rooms of the run too), whose windows go to
        ``held``; returns the members left ``full``."""
        full = []
        posts, own, encoded = self.posts, self.own, self._encoded
        first, last = self.first, self.last
        members = self.members
        if skip:  # (a run to several rooms: who is in more than one gets its shares merged)
            members = []
            windows, uneven = held.windows, held.uneven
            for member in self.members:
                sub = member.sub
                if sub not in skip:
                    members.append(member)
                    continue
                mine = windows.get(sub)
                if mine is None:
                    mine = windows[sub] = {}
                if self in mine or not (member.since < first and member.until >= last):
                    uneven.add(sub)  # (twice here: it left and came back)
                mine.setdefault(self, []).append(member)
        for member in members:  # (the hot path: as little as can be per member)
            sub = member.sub
            try:
                wire = sub.wire
                if wire is None:
                    for frame in self.visible(sub, [member]):
                        sub.deliver(frame)
                    continue
                if member.since < first and member.until >= last:  # here all along: the usual case
                    enc = encoded.get(wire)
                    if enc is None:
                        enc = self.encoded(wire)
                    mine = own.get(sub)
                    if mine is None:
                        if enc.blob:  # (a run said as nothing in this wire: IRC's, of frames it shows not)
                            sub.deliver_bytes(enc.blob)
                    else:  # a sender: its receipts in its posts' places, the rest shared
                        give(sub.deliver_bytes, enc.part(posts, mine, 0, len(posts)))
                else:  # joined or left while this batch was being queued
                    data = b"".join([wire_bytes(frame, wire) for frame in self.visible(sub, [member])])
                    if data:
                        sub.deliver_bytes(data)
                if sub.full:
                    full.append(sub)
            except Exception:  # one broken member must not cost the others their messages
                log.exception("delivering to %s", getattr(sub, "nick", sub))
        if own:  # a sender that is gone since (disconnected) still gets its acks
            present = set(map(SUB, self.members))
            for sender in own:
                if sender in present:
                    continue
                if skip and sender in skip:
                    held.windows.setdefault(sender, {})[self] = []  # (no window: owed its receipts only)
                    held.uneven.add(sender)
                    continue
                try:
                    wire = sender.wire
                    if wire is not None:
                        data = b"".join([wire_bytes(frame, wire) for frame in self.visible(sender, [])])
                        if data:
                            sender.deliver_bytes(data)
                except Exception:
                    log.exception("delivering to %s", getattr(sender, "nick", sender))
        return full
