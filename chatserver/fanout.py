"""How one dispatched batch reaches each recipient: encoded once per wire format, in order.

The hub queues *posts*: a frame for a room (every member gets it, its sender
its receipt instead) or a frame for one subscriber (a reply, a private
message). Everything queued for one subscriber reaches it in queue order,
which is the order the server decided: a reply or a private message never
overtakes a room message queued before it, and a member that left a room
still gets what the room was sent while it was there.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
from collections.abc import Iterator
from typing import Protocol

from common import messages as m
from common.plain import render_plain

log = logging.getLogger(__name__)

#: ``Member.until`` of a current member: it gets everything from ``since`` on.
FOREVER = float("inf")


class Frame:
    """A message encoded at most once per wire format, however many receive it."""

    __slots__ = ("msg", "__dict__")

    def __init__(self, msg: m.Message) -> None:
        self.msg = msg

    @property
    def size(self) -> int:
        """A bound on its size in memory while queued (cheap: no encoding)."""
        return 4 * len(getattr(self.msg, "text", "")) + 200

    @functools.cached_property
    def native(self) -> bytes:
        return m.encode(self.msg)

    @functools.cached_property
    def plain(self) -> bytes:
        return (render_plain(self.msg) + "\r\n").encode("utf-8")

    @functools.cached_property
    def plain_rooms(self) -> bytes:
        """The plain line for a session in several rooms: a room's line names it first."""
        return (render_plain(self.msg, with_room=True) + "\r\n").encode("utf-8")


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
    #: ``"native"``, ``"plain"`` or ``"plain_rooms"`` (plain lines that name their
    #: room): takes room batches as bytes in that wire format through
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


def runs(posts: list[Post]) -> Iterator[list[Post]]:
    """The batch cut where a frame for one subscriber stands: room posts go out
    a run at a time (a run per room batched together), the others alone, so
    every subscriber gets everything in queue order."""
    run: list[Post] = []
    for post in posts:
        if post.to is None:
            run.append(post)
            continue
        if run:
            yield run
            run = []
        yield [post]
    if run:
        yield run


class _Encoded:
    """A batch of posts in one wire format: the whole as one byte string, and
    where each post starts in it, so a member's own copy (its messages
    replaced by their receipts) is cut out of it with a few slices."""

    def __init__(self, posts: list[Post], wire: str) -> None:
        chunks = [getattr(p.frame, wire) for p in posts]
        self.blob = b"".join(chunks)
        self.starts = [0, *itertools.accumulate(len(c) for c in chunks)]
        self.wire = wire

    def without(self, posts: list[Post], own: list[int]) -> bytes:
        view = memoryview(self.blob)
        pieces: list[bytes | memoryview] = []
        pos = 0
        for i in own:
            pieces.append(view[pos : self.starts[i]])
            receipt = posts[i].receipt
            if receipt is not None:
                pieces.append(getattr(receipt, self.wire))
            pos = self.starts[i + 1]
        pieces.append(view[pos:])
        return b"".join(pieces)


def _visible(posts: list[Post], member: Member) -> Iterator[Frame]:
    """What ``member`` gets of ``posts``, in order: a post, or for its own its receipt (if any)."""
    for p in posts:
        if member.since < p.index <= member.until:
            frame = p.frame if p.exclude is not member.sub else p.receipt
            if frame is not None:
                yield frame


def deliver_direct(post: Post) -> None:
    """A frame for one subscriber."""
    assert post.to is not None
    try:
        post.to.deliver(post.frame)
    except Exception:  # one broken peer must not stop the dispatcher
        log.exception("delivering to %s", getattr(post.to, "nick", post.to))


def dispatch(posts: list[Post], members: list[Member]) -> list[Subscriber]:
    """Give each member, in one call, the posts of one room it should see (in
    room order); returns the members left ``full``."""
    full = []
    first, last = posts[0].index, posts[-1].index
    own: dict[Subscriber, list[int]] = {}  # sender -> where its posts are in the batch
    for i, p in enumerate(posts):
        if p.exclude is not None:
            own.setdefault(p.exclude, []).append(i)
    encoded: dict[str, _Encoded] = {}
    for member in members:
        sub = member.sub
        try:
            wire = sub.wire
            if wire is None:
                for frame in _visible(posts, member):
                    sub.deliver(frame)
                continue
            if member.since < first and member.until >= last:  # the usual case: here all along
                enc = encoded.get(wire)
                if enc is None:
                    enc = encoded[wire] = _Encoded(posts, wire)
                mine = own.get(sub)
                data = enc.blob if mine is None else enc.without(posts, mine)
            else:  # joined or left while this batch was being queued
                data = b"".join([getattr(frame, wire) for frame in _visible(posts, member)])
            if data:
                sub.deliver_bytes(data)
                if sub.full:
                    full.append(sub)
        except Exception:  # one broken member must not cost the others their messages
            log.exception("delivering to %s", getattr(sub, "nick", sub))
    if own:  # a sender that is gone since (disconnected) still gets its acks
        present = {member.sub for member in members}
        for sender, mine in own.items():
            wire = sender.wire
            if sender in present or wire is None:
                continue
            receipts = [getattr(posts[i].receipt, wire) for i in mine if posts[i].receipt is not None]
            try:
                if receipts:
                    sender.deliver_bytes(b"".join(receipts))
            except Exception:
                log.exception("delivering to %s", getattr(sender, "nick", sender))
    return full
