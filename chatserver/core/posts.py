"""What the hub queues for the dispatcher and who gets it: ``Post``, ``Member`` and the ``Participant`` it is handed to.

The hub queues *posts*: a frame for a room (every member gets it, its sender
its receipt instead) or a frame for one participant (a reply, a private
message). A room's recipients for one batch are its ``Member``s: each gets the
posts numbered within its window (who joined later does not get what was
posted before; who left still gets what was posted while it was there).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

from chatserver.core.frames import Frame

log = logging.getLogger(__name__)

#: ``Member.until`` of a current member: it gets everything from ``since`` on.
FOREVER = float("inf")


class Participant(Protocol):
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
    #: The account it is logged in to (None: a guest); an account's devices share its name.
    account: str | None
    #: ``"native"``, ``"websocket"``, ``"plain"`` or ``"plain_rooms"`` (plain lines that
    #: name their room): a ``Frame`` property; takes room batches as bytes in that wire format through
    #: ``deliver_bytes``; ``None``: takes ``Frame`` objects one by one.
    wire: str | None

    def deliver(self, frame: Frame) -> None:
        """Send ``frame`` to the peer (frames for it alone come this way); must not block."""

    def deliver_bytes(self, data: bytes) -> None:
        """Send encoded room frames to the peer; must not block. ``data`` is whole frames: ``bytes``,
        or, for a stretch of a big batch, a ``memoryview`` of the batch's one encoding (``pieces.py``)."""

    @property
    def full(self) -> bool:
        """Behind by more than its peer may be: publishers to its room wait."""

    def wait_room(self, timeout: float) -> None:
        """Wait until not ``full`` (or the peer is dropped), at most ``timeout`` s."""

    def notice(self, text: str, event: str = "info") -> None:
        """Tell the peer something, in its turn."""

    def kick(self, reason: str) -> None:
        """End the session from another thread."""

    def asked(self, room: str, join: bool, by: str, reason: str) -> None:
        """From another thread: join ``room`` (a device of its person did), or leave it (a device
        did, or ``by`` kicked the person out of it); done in the participant's own turn."""


@dataclasses.dataclass(slots=True)
class Post:
    """A frame queued for the dispatcher: to a room (``room`` is set) or to ``to`` alone."""

    room: object | None  # the hub's room; None for a frame to one participant
    index: int  # the room's ``posted`` count for it: who joined later does not get it
    frame: Frame
    exclude: Participant | None = None
    receipt: Frame | None = None  # what ``exclude`` gets in its place (its own message's ack)
    to: Participant | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """A room's recipient for one batch: gets posts numbered in (``since``, ``until``]."""

    sub: Participant
    since: int
    until: float = FOREVER


def deliver_direct(post: Post) -> None:
    """A frame for one participant."""
    assert post.to is not None
    try:
        post.to.deliver(post.frame)
    except Exception:  # one broken peer must not stop the dispatcher
        log.exception("delivering to %s", getattr(post.to, "nick", post.to))
