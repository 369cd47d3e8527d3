"""What a session speaks above its byte stream: one module per dialect, one ``Dialect`` interface.

The chat port sniffs among the native JSON lines (``native.py``) and plain
text (``plain.py``, which also turns away an HTTP request); the page's port
speaks HTTP (``http.py``, a table of routes), and its ``/ws`` route carries
the native frames as WebSocket messages (``websocket.py``). Another way in
(an IRC port) is another module here and another port, touching none of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chatserver.core.fanout import Frame
    from chatserver.net.session import Session


class Dialect(Protocol):
    """How a ``Session`` reads its peer and frames what goes out to it."""

    #: Does the peer see plain-line text (``Participant.plain``)?
    plain: bool
    #: Does the peer answer pings (so a silent one is pinged, then dropped)?
    pings: bool

    def wire(self, session: Session) -> str:
        """The fan-out wire format (a ``Frame`` property) its batches arrive in, as bytes."""

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        """A frame for this peer alone, as bytes on its stream; None: not sent."""

    def write(self, session: Session, data: bytes) -> None:
        """Bytes already in ``wire`` format to the stream (called with the session's send lock)."""

    def run(self, session: Session, first: bytes | None) -> None:
        """The reader loop, from the ``first`` bytes read (None: none yet), until the peer is done."""

    def goodbye(self, session: Session) -> None:
        """Last words at this level, after the last frame (called with the session's send lock)."""
