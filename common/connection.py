"""The native protocol as a state machine with no I/O, in the spirit of h11.

Each side owns a ``Connection``: bytes from the socket go into
``receive_data``; ``next_event`` yields validated messages; ``send`` checks a
message is legal for this side in the current state and returns the bytes to
write. Errors say who broke the rules: ``RemoteProtocolError`` for the peer,
``LocalProtocolError`` for us.
"""

from __future__ import annotations

import enum

from . import messages as m
from .errors import InvalidFrame, LocalProtocolError, RemoteProtocolError
from .framing import DEFAULT_MAX_FRAME, LineFramer


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    HANDSHAKE = "handshake"  # before Welcome
    OPEN = "open"  # chatting
    CLOSED = "closed"  # after Bye, or end of stream


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


class _Closed:
    def __repr__(self) -> str:
        return "CLOSED"


NEED_DATA = _NeedData()
"""``next_event`` has nothing complete yet: read more from the socket."""
CLOSED = _Closed()
"""The peer ended the stream (or sent ``Bye``): no more events will come."""

Event = m.Message | _NeedData | _Closed

_OUTGOING = {Role.CLIENT: m.CLIENT_TYPES, Role.SERVER: m.SERVER_TYPES}
_INCOMING = {Role.CLIENT: m.SERVER_TYPES, Role.SERVER: m.CLIENT_TYPES}
# Frames allowed before the handshake completes, per sender role.
_HANDSHAKE_OK = {
    Role.CLIENT: frozenset({m.Hello, m.Quit, m.Error, m.Ping, m.Pong}),
    Role.SERVER: frozenset({m.Welcome, m.Error, m.Bye, m.Ping, m.Pong}),
}


#: The frames that move the state (``_advance``): no other frame needs a look.
_ADVANCING = frozenset({m.Welcome, m.Bye})


class Connection:
    """Protocol state for one side of one connection."""

    def __init__(self, our_role: Role, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.our_role = our_role
        self.their_role = Role.SERVER if our_role is Role.CLIENT else Role.CLIENT
        self.state = State.HANDSHAKE
        self._framer = LineFramer(max_frame)
        #: This side's tables, looked up once (an enum's hash is a Python call: per frame it showed).
        self._incoming = _INCOMING[our_role]
        self._handshake_in = _HANDSHAKE_OK[self.their_role]

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` for end of stream."""
        self._framer.receive_data(data)

    def next_event(self) -> Event:
        """The next message, ``NEED_DATA`` or ``CLOSED``.

        Raises ``RemoteProtocolError``; when its ``fatal`` is false the frame
        was skipped and the stream can go on (answer with an ``Error``).
        """
        if self.state is State.CLOSED:
            return CLOSED
        while True:  # blank lines are skipped (a loop: a flood of them must not recurse)
            line = self._framer.next_line()
            if line is None:
                if self._framer.at_eof:
                    self.state = State.CLOSED
                    return CLOSED
                return NEED_DATA
            if line and not line.isspace():  # (no copy of every line to look)
                break
        msg = m.decode(line)
        kind = type(msg)
        if kind not in self._incoming:
            raise InvalidFrame(
                f"a {self.their_role.value} may not send {msg.TYPE!r} frames",
                code="unexpected_type",
            )
        if self.state is State.OPEN:
            if kind is m.Hello:
                raise RemoteProtocolError("already registered: 'hello' is sent once", code="already_registered")
        elif self.state is State.HANDSHAKE and kind not in self._handshake_in:
            raise RemoteProtocolError(f"{msg.TYPE!r} before the handshake finished", code="not_registered")
        if kind in _ADVANCING:
            self._advance(msg)
        return msg

    def send(self, msg: m.Message) -> bytes:
        """Bytes for ``msg``; raises ``LocalProtocolError`` if we may not send it now."""
        kind = type(msg)
        if self.state is State.CLOSED:
            raise LocalProtocolError(f"cannot send {msg.TYPE!r}: connection is closed")
        if kind not in _OUTGOING[self.our_role]:
            raise LocalProtocolError(f"a {self.our_role.value} may not send {msg.TYPE!r}")
        if self.state is State.HANDSHAKE and kind not in _HANDSHAKE_OK[self.our_role]:
            raise LocalProtocolError(f"cannot send {msg.TYPE!r} before the handshake")
        self._advance(msg)
        return m.encode(msg)

    def _advance(self, msg: m.Message) -> None:
        if isinstance(msg, m.Welcome):
            self.state = State.OPEN
        elif isinstance(msg, m.Bye):
            self.state = State.CLOSED
