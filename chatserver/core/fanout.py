"""How one dispatched batch reaches each recipient: encoded once per wire format, in order.

The hub queues *posts*: a frame for a room (every member gets it, its sender
its receipt instead) or a frame for one subscriber (a reply, a private
message). Everything queued for one subscriber reaches it in queue order,
which is the order the server decided: a reply or a private message never
overtakes a room message queued before it, a member of several rooms gets
their posts in the order they were stamped (not room by room), and a member
that left a room still gets what the room was sent while it was there.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import logging
import operator
from collections.abc import Callable, Iterator
from typing import Protocol

from common import messages as m
from common.plain import render_plain

log = logging.getLogger(__name__)

#: ``Member.until`` of a current member: it gets everything from ``since`` on.
FOREVER = float("inf")


#: Wire formats: name -> its encoding of a frame, made once per frame: the built-in ones
#: (below) and those a transport adds (``add_wire``).
_WIRES: dict[str, Callable[[Frame], bytes]] = {}


def add_wire(name: str, encode: Callable[[Frame], bytes]) -> None:
    """A transport's own wire format (the WebSocket's; an IRC port's): ``getattr(frame, name)``
    is then ``encode(frame)``, made on first use and kept, as the built-in ones are."""
    if name in _WIRES or hasattr(Frame, name):
        raise ValueError(f"wire format {name!r} exists already")
    _WIRES[name] = encode


class Frame:
    """A message encoded at most once per wire format, however many receive it.

    The wire formats are its attributes, each made on first use and kept in
    the instance (a plain attribute from then on: no descriptor, no lock, as
    ``functools.cached_property`` takes on Python 3.11): ``native`` (a JSON
    line), ``plain`` and ``plain_rooms`` (text lines), and those the
    transports add (``add_wire``: ``websocket``)."""

    __slots__ = ("msg", "__dict__")

    native: bytes
    plain: bytes
    #: The plain line for a session in several rooms: a room's line names it first.
    plain_rooms: bytes

    def __init__(self, msg: m.Message) -> None:
        self.msg = msg

    @property
    def size(self) -> int:
        """A bound on its size in memory while queued (cheap: no encoding)."""
        return 4 * len(getattr(self.msg, "text", None) or "") + 200  # (an ``Accepted``'s may be None)

    def __getattr__(self, wire: str) -> bytes:
        """A wire format not made yet (looked up only until it is made: then it is kept)."""
        encode = _WIRES.get(wire)
        if encode is None:
            raise AttributeError(wire)
        data = self.__dict__[wire] = encode(self)
        return data


def wire_bytes(frame: Frame, wire: str) -> bytes:
    """``getattr(frame, wire)`` for the fan-out's loops: a frame seen for the first time
    (most are) is encoded at once, without a failed attribute lookup first."""
    made = frame.__dict__
    data = made.get(wire)
    if data is None:
        data = made[wire] = _WIRES[wire](frame)
    return data


_WIRES["native"] = lambda frame: m.encode(frame.msg)
_WIRES["plain"] = lambda frame: (render_plain(frame.msg) + "\r\n").encode("utf-8")
_WIRES["plain_rooms"] = lambda frame: (render_plain(frame.msg, with_room=True) + "\r\n").encode("utf-8")


class Subscriber(Protocol):
    """What the hub needs of a session (it hands out ``registry.Person`` views, never this)."""

    nick: str
    away: str
    op: bool
    is_host: bool
    room: str
    address: str
    #: Its resume token: a reconnecting client presenting it takes the name over.
    token: str
    #: Set when a reconnected session took over: it leaves silently.
    replaced: bool
    #: ``"native"``, ``"websocket"``, ``"plain"`` or ``"plain_rooms"`` (plain lines that
    #: name their room): a ``Frame`` property; takes room batches as bytes in that wire format through
    #: ``deliver_bytes``; ``None``: takes ``Frame`` objects one by one.
    wire: str | None

    def deliver(self, frame: Frame) -> None:
        """Send ``frame`` to the peer (frames for it alone come this way); must not block."""

    def deliver_bytes(self, data: bytes) -> None:
        """Send encoded room frames to the peer; must not block."""

    @property
    def full(self) -> bool:
        """Behind by more than its peer may be: publishers to its room wait."""

    def wait_room(self, timeout: float) -> None:
        """Wait until not ``full`` (or the peer is dropped), at most ``timeout`` s."""

    def notice(self, text: str, event: str = "info") -> None:
        """Tell the peer something, in its turn."""

    def kick(self, reason: str) -> None:
        """End the session from another thread."""


@dataclasses.dataclass(slots=True)
class Post:
    """A frame queued for the dispatcher: to a room (``room`` is set) or to ``to`` alone."""

    room: object | None  # the hub's room; None for a frame to one subscriber
    index: int  # the room's ``posted`` count for it: who joined later does not get it
    frame: Frame
    exclude: Subscriber | None = None
    receipt: Frame | None = None  # what ``exclude`` gets in its place (its own message's ack)
    to: Subscriber | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """A room's recipient for one batch: gets posts numbered in (``since``, ``until``]."""

    sub: Subscriber
    since: int
    until: float = FOREVER


class _Encoded:
    """Posts in one wire format: the whole as one byte string, and where each
    post starts in it, so a member's own copy (its messages replaced by their
    receipts) is cut out of it with a few slices."""

    def __init__(self, posts: list[Post], wire: str) -> None:
        chunks = [wire_bytes(p.frame, wire) for p in posts]
        self.blob = b"".join(chunks)
        self.starts = [0, *itertools.accumulate(len(c) for c in chunks)]
        self.wire = wire

    def without(self, posts: list[Post], own: list[int]) -> bytes:
        return b"".join(self.part(posts, own, 0, len(posts)))

    def part(self, posts: list[Post], own: list[int] | None, lo: int, hi: int) -> list[bytes | memoryview]:
        """``posts[lo:hi]`` as slices of the whole, a member's own posts (``own``:
        their indices, ascending) replaced by their receipts."""
        view = memoryview(self.blob)
        starts, wire = self.starts, self.wire
        pieces: list[bytes | memoryview] = []
        pos = starts[lo]
        for i in own[bisect.bisect_left(own, lo) :] if own else ():
            if i >= hi:
                break
            start = starts[i]
            if start != pos:  # (a sender's posts are mostly side by side: nothing between them)
                pieces.append(view[pos:start])
            receipt = posts[i].receipt
            if receipt is not None:
                data = wire_bytes(receipt, wire)
                if data:  # (a receipt said as nothing: an IRC client's without echo-message)
                    pieces.append(data)
            pos = starts[i + 1]
        end = starts[hi]
        if end != pos:
            pieces.append(view[pos:end])
        return pieces


def deliver_direct(post: Post) -> None:
    """A frame for one subscriber."""
    assert post.to is not None
    try:
        post.to.deliver(post.frame)
    except Exception:  # one broken peer must not stop the dispatcher
        log.exception("delivering to %s", getattr(post.to, "nick", post.to))


class _Held:
    """The subscribers in several rooms of a run, set aside to get their shares merged."""

    __slots__ = ("windows", "uneven", "direct")

    def __init__(self, direct: dict[Subscriber, list[Post]]) -> None:
        #: sub -> its windows in each such room (none in a room where it is only
        #: an absent sender, owed its receipts)
        self.windows: dict[Subscriber, dict[_Share, list[Member]]] = {}
        #: those not in each of their rooms for the whole run, as one member
        self.uneven: set[Subscriber] = set()
        #: sub -> the frames for it alone in the run (a greeting, a reply, a private message)
        self.direct = direct


_SUB = operator.attrgetter("sub")
_NOBODY: frozenset[Subscriber] = frozenset()


class _Share:
    """A run's posts to one room (or, ``room`` None, to several: those a member
    of them all gets, in queue order), and what each member gets of them."""

    __slots__ = ("room", "posts", "members", "own", "first", "last", "_encoded")

    def __init__(self, room: object, posts: list[Post], members: list[Member]) -> None:
        self.room, self.posts, self.members = room, posts, members
        self.first, self.last = posts[0].index, posts[-1].index
        #: sender -> where its posts are among ``posts``
        self.own: dict[Subscriber, list[int]] = {}
        for i, p in enumerate(posts):
            if p.exclude is not None:
                self.own.setdefault(p.exclude, []).append(i)
        self._encoded: dict[str, _Encoded] = {}

    def encoded(self, wire: str) -> _Encoded:
        enc = self._encoded.get(wire)
        if enc is None:
            enc = self._encoded[wire] = _Encoded(self.posts, wire)
        return enc

    def visible(self, sub: Subscriber, windows: list[Member], lo: int = 0, hi: int | None = None) -> Iterator[Frame]:
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

    def deliver(self, skip: frozenset[Subscriber] | set[Subscriber], held: _Held) -> list[Subscriber]:
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
                    data = enc.blob if mine is None else enc.without(posts, mine)
                else:  # joined or left while this batch was being queued
                    data = b"".join([wire_bytes(frame, wire) for frame in self.visible(sub, [member])])
                if data:
                    sub.deliver_bytes(data)
                    if sub.full:
                        full.append(sub)
            except Exception:  # one broken member must not cost the others their messages
                log.exception("delivering to %s", getattr(sub, "nick", sub))
        if own:  # a sender that is gone since (disconnected) still gets its acks
            present = set(map(_SUB, self.members))
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


def _in_several(shares: list[_Share]) -> set[Subscriber]:
    """Who is in more than one of these rooms (a member, or a sender of posts to it)."""
    seen: set[Subscriber] = set()
    several: set[Subscriber] = set()
    for share in shares:
        subs = set(map(_SUB, share.members))
        subs.update(share.own)
        several |= subs & seen
        seen |= subs
    return several


def _deliver_merged(run: list[Post], shares: list[_Share], held: _Held, full: dict[object, list[Subscriber]]) -> None:
    """Each subscriber set aside (``held``: in several rooms of ``run``, or sent a
    frame of its own in it) gets its shares of them merged in queue order, its own
    frames in their places. One in several rooms all along (the usual case) gets
    the posts to its rooms encoded once for every such member of the same rooms,
    cut around its own, in one call; others go a stretch of consecutive posts at
    a time, a frame of its own between two."""
    merged: dict[tuple[_Share, ...], _Share] = {}
    stretches: list[list] = []  # [share, lo, hi]: posts[lo:hi] of share, consecutive in the run
    cuts: dict[_Share, dict[int, int]] = {}  # share -> ``_cuts`` of the run for its room
    direct = held.direct
    for sub, mine in held.windows.items():
        try:
            wire = sub.wire
            if wire is not None and sub not in held.uneven and sub not in direct:
                rooms = tuple(mine)  # (in the order of ``shares``)
                share = merged.get(rooms)
                if share is None:
                    wanted = {share.room for share in rooms}
                    share = merged[rooms] = _Share(None, [p for p in run if p.room in wanted], [])
                enc = share.encoded(wire)
                own = share.own.get(sub)
                data = enc.blob if own is None else enc.without(share.posts, own)
                if data:
                    sub.deliver_bytes(data)
            elif wire is not None and sub not in held.uneven and len(mine) == 1:
                # in one room of the run all along, sent frames of its own (an IRC client's
                # first line sends its ``Context``): the room's encoding cut at each of them
                (share,) = mine
                at = cuts.get(share)
                if at is None:
                    at = cuts[share] = _cuts(run, share.room)
                _around_own(sub, wire, share, direct[sub], at)
            else:  # joined or left one of them while the run was queued, or gone, or in several and sent its own
                if not stretches:
                    stretches = _stretches(run, shares)
                _in_order(sub, wire, mine, stretches)
            if sub.full:
                for share, windows in mine.items():
                    if windows:
                        full[share.room].append(sub)
        except Exception:  # one broken member must not cost the others their messages
            log.exception("delivering to %s", getattr(sub, "nick", sub))


def _cuts(run: list[Post], room: object) -> dict[int, int]:
    """For each frame for one subscriber in ``run`` (by ``id``): how many posts to ``room`` precede it."""
    at: dict[int, int] = {}
    count = 0
    for post in run:
        if post.to is not None:
            at[id(post)] = count
        elif post.room is room:
            count += 1
    return at


def _around_own(sub: Subscriber, wire: str, share: _Share, its: list[Post], at: dict[int, int]) -> None:
    """A member of ``share``'s room for the whole run: the room's posts, cut out of its
    encoding (its own as their receipts), and its own frames ``its`` each in its place."""
    enc, posts = share.encoded(wire), share.posts
    own = share.own.get(sub)
    pos = 0
    for post in its:
        cut = at[id(post)]
        if cut > pos:
            data = b"".join(enc.part(posts, own, pos, cut))
            if data:
                sub.deliver_bytes(data)
            pos = cut
        sub.deliver(post.frame)
    if pos < len(posts):
        data = b"".join(enc.part(posts, own, pos, len(posts)))
        if data:
            sub.deliver_bytes(data)


def _in_order(sub: Subscriber, wire: str | None, mine: dict[_Share, list[Member]], stretches: list[list]) -> None:
    """What ``sub`` gets of the run, stretch by stretch: room posts within its
    windows as bytes (as few calls as its own frames allow), its own frames
    (``share`` None: ``lo`` is the post) through ``deliver``, in queue order."""
    chunks: list[bytes | memoryview] = []
    for share, lo, hi in stretches:
        if share is None:
            if lo.to is sub:
                if chunks:
                    sub.deliver_bytes(b"".join(chunks))
                    chunks = []
                sub.deliver(lo.frame)
            continue
        windows = mine.get(share)
        if windows is None:
            continue
        if wire is None:
            for frame in share.visible(sub, windows, lo, hi):
                sub.deliver(frame)
        elif len(windows) == 1 and windows[0].since < share.first and windows[0].until >= share.last:
            # Here all along (the usual case: only a frame of its own between two stretches): the
            # stretch cut out of the room's encoding, not encoded again post by post for this member.
            chunks += share.encoded(wire).part(share.posts, share.own.get(sub), lo, hi)
        else:
            chunks += [wire_bytes(frame, wire) for frame in share.visible(sub, windows, lo, hi)]
    if chunks:
        sub.deliver_bytes(b"".join(chunks))


def _stretches(run: list[Post], shares: list[_Share]) -> list[list]:
    """The run as [share, lo, hi]: ``share.posts[lo:hi]``, consecutive in the run;
    a frame for one subscriber as [None, post, 0]."""
    by_room = {share.room: share for share in shares}
    counts = dict.fromkeys(by_room, 0)
    stretches: list[list] = []
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


def dispatch(batch: list[Post], members: dict[object, list[Member]]) -> dict[object, list[Subscriber]]:
    """Give each recipient of ``batch`` (posts in queue order: to rooms, and
    frames for one subscriber) what it should see of it, in queue order, in as
    few calls as can be; returns each room's members left ``full``.

    A room's posts are encoded once per wire format; a member of one room of
    the batch that gets nothing of its own in it (the usual case: the members
    of a room that many join at once included) gets that room's encoding whole,
    or cut around its own posts, in one call. A frame for one subscriber that
    gets nothing else of the batch goes to it alone; one in several rooms of
    the batch, or sent a frame of its own in it, has its shares merged, so that
    it too gets everything in queue order."""
    by_room: dict[object, list[Post]] = {}
    direct: dict[Subscriber, list[Post]] = {}
    for post in batch:
        if post.to is None:
            by_room.setdefault(post.room, []).append(post)
        else:
            direct.setdefault(post.to, []).append(post)
    shares = [_Share(room, posts, members[room]) for room, posts in by_room.items()]
    several = _in_several(shares) if len(shares) > 1 else set()
    if direct:
        several.update(direct)
    held = _Held(direct)
    full = {share.room: share.deliver(several or _NOBODY, held) for share in shares}
    if held.windows:
        _deliver_merged(batch, shares, held, full)
    for sub, posts in direct.items():
        if sub not in held.windows:  # nothing else of the batch for it: its own frames alone
            for post in posts:
                deliver_direct(post)
    return full
