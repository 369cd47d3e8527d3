"""The native dialect inside WebSocket messages: one JSON frame per text message (``wsproto``), as the page speaks.

A browser cannot open a TCP socket, so the page speaks the very frames a
native client does, each as one WebSocket text message, and the session runs
the native reader loop (``native.py``) over the messages' text.

Going out, a server's WebSocket frame is unmasked, so its bytes are the same
for every recipient: the hub's batches arrive already framed (the fan-out's
``websocket`` wire, built once per batch) and are written as they are, straight
into the outbox (sealed before a close frame, so that none follows it); only
a frame for this peer alone (a reply) is framed here. The peer's usual frames (whole short text messages)
are read by ``wsread.py``, the rest by ``wsproto`` (sans-IO), which also makes
the control frames (pongs, the closing handshake); every use of either, and
every write, holds this dialect's lock, so that nothing follows a close frame.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from chatserver.core.frames import add_wire, wire_bytes
from common import messages as m

from .native import encode_native, run_native
from .wsread import simple_texts

if TYPE_CHECKING:
    from chatserver.core.frames import Frame
    from chatserver.net.session import Session

RECV_SIZE = 65536
_TWO_LINES = object()  # what ``_text`` returns for a message with a line break in it
#: The first byte of a whole (FIN) WebSocket text message; a server's frames carry no mask (RFC 6455, 5.1-5.2).
_WS_TEXT = 0x81


#: The heads of the short text frames (most chat frames): made once.
_SHORT_HEADS = [bytes((_WS_TEXT, size)) for size in range(126)]


def websocket_text(payload: bytes | memoryview) -> bytes:
    """``payload`` (UTF-8) as one unmasked WebSocket text frame: the same bytes for every recipient."""
    size = len(payload)
    if size < 126:
        head = _SHORT_HEADS[size]
    elif size < 1 << 16:
        head = struct.pack("!BBH", _WS_TEXT, 126, size)
    else:
        head = struct.pack("!BBQ", _WS_TEXT, 127, size)
    return head + payload


def _websocket(frame: Frame) -> bytes:
    """The fan-out's ``websocket`` wire: the native frame (its JSON line without the newline)
    as a WebSocket message, made once per frame, whatever the number of browsers it goes to."""
    line = wire_bytes(frame, "native")
    return websocket_text(line[:-1])  # (a JSON line ends in its one newline)


add_wire("websocket", _websocket)


class WebSocketDialect:
    """Native frames as WebSocket text messages, after a finished upgrade.

    ``trailing`` is what the peer sent after its upgrade request (its first
    messages, maybe). A message over ``max_frame`` bytes is handed on unended,
    so that the session's own line framer refuses it as on the chat port; a
    binary message closes the connection (1003) on its first frame.
    """

    plain = False
    pings = True

    def __init__(self, *, max_frame: int, trailing: bytes = b"") -> None:
        self.max_frame = max_frame
        self._ws = Connection(ConnectionType.SERVER)
        self._lock = threading.Lock()  # guards _ws and orders writes: reader and writers use it
        #: Read but not yet taken: the usual frames are read here (``wsread``), until the first
        #: other one, from which on ``wsproto`` reads everything (``_handed_over``).
        self._unread = bytearray(trailing)
        self._handed_over = False
        self._partial = bytearray()  # the text message being received
        self._closed = False

    # -- the Dialect interface (see __init__.py) ----------------------------
    def wire(self, session: Session) -> str:
        return "websocket"

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        line = encode_native(session, frame)
        return None if line is None else websocket_text(line.rstrip(b"\n"))

    def write(self, session: Session, data: bytes) -> None:
        """Whole WebSocket frames, as they are (the per-recipient cost of a batch: one append)."""
        with self._lock:
            if self._ws.state is ConnectionState.OPEN:  # (closing: nothing more goes out)
                session.stream.write(data)

    def writer(self, session: Session) -> Callable[[bytes], object]:
        return session.straight()

    def run(self, session: Session, first: bytes | None) -> None:
        run_native(session, self._read(session), lambda: self._read(session))

    def goodbye(self, session: Session) -> None:
        """Start (or answer) the closing handshake; nothing is sent after it."""
        self._close(session, CloseReason.NORMAL_CLOSURE, "")

    # -- reading ----------------------------------------------------------------
    def _read(self, session: Session) -> bytes:
        """The next JSON lines from the peer's messages; ``b""`` at the end."""
        while True:
            lines, errors = self._take_events(session)
            for error in errors:  # outside the lock: session.participant.send writes through us
                session.participant.send(error)
            if lines or self._closed:
                return b"".join(lines)
            data = session.stream.read(RECV_SIZE)
            with self._lock:
                if data and not self._handed_over:
                    self._unread += data
                else:
                    self._hand_over()
                    self._ws.receive_data(data or None)  # None: the stream ended without a close frame

    def _hand_over(self) -> None:
        """From now on ``wsproto`` reads everything, from a frame's start (call with the lock)."""
        if not self._handed_over:
            self._handed_over = True
            if self._unread:
                self._ws.receive_data(bytes(self._unread))
                self._unread.clear()

    def _take_events(self, session: Session) -> tuple[list[bytes], list[m.Message]]:
        lines: list[bytes] = []
        errors: list[m.Message] = []
        with self._lock:
            if not self._handed_over and self._ws.state is not ConnectionState.OPEN:
                self._hand_over()  # (closing: wsproto's to say what is still taken)
            if not self._handed_over and self._unread:
                texts, used, other = simple_texts(self._unread)
                del self._unread[:used]
                for text in texts:
                    self._take_text(text, True, lines, errors)
                if other:
                    self._hand_over()
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    self._take_text(event.data.encode("utf-8"), event.message_finished, lines, errors)
                elif isinstance(event, BytesMessage):  # on its first frame, not when (if ever) it ends
                    self._refuse_binary(session)
                    break  # nothing after it is read
                elif isinstance(event, Ping):
                    session.stream.write(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                        session.outbox.seal()  # (no batch after the close frame)
                        session.stream.write(self._ws.send(event.response()))  # (a protocol error: wsproto's code)
                    self._closed = True
        if self._closed and self._partial:  # an unfinished message is not a frame
            self._partial.clear()
        return lines, errors

    def _close(self, session: Session, code: int, reason: str) -> None:
        with self._lock:
            self._close_locked(session, code, reason)

    def _close_locked(self, session: Session, code: int, reason: str) -> None:
        if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            session.outbox.seal()  # (no batch after the close frame)
            session.stream.write(self._ws.send(CloseConnection(code=code, reason=reason)))

    def _refuse_binary(self, session: Session) -> None:
        """A binary message ends the connection at once (1003), however long it would be (call with the lock)."""
        if self._ws.state is ConnectionState.OPEN:
            self._close_locked(session, CloseReason.UNSUPPORTED_DATA, "send each frame as a WebSocket text message")
        if not self._closed:
            session.end_reason = "a binary WebSocket message (closed with 1003)"
        self._closed = True

    def _take_text(self, data: bytes, finished: bool, lines: list[bytes], errors: list[m.Message]) -> None:
        line = self._text(data, finished)
        if line is _TWO_LINES:
            errors.append(m.Error("invalid_frame", "a message holds one frame, without line breaks"))
        elif line is not None:
            lines.append(line)  # type: ignore[arg-type]

    def _text(self, data: bytes, finished: bool) -> bytes | object | None:
        """A finished message (UTF-8) as one line; an oversized one unended (the framer refuses it)."""
        if finished and not self._partial and len(data) <= self.max_frame:  # one whole message: the usual
            return _TWO_LINES if b"\n" in data or b"\r" in data else data + b"\n"
        if len(self._partial) > self.max_frame:
            return None  # already handed on as too big; the session is ending
        self._partial += data
        if len(self._partial) > self.max_frame:
            return bytes(self._partial)  # no newline: the framer sees a line over the limit
        if not finished:
            return None
        line = bytes(self._partial)
        self._partial.clear()
        if b"\n" in line or b"\r" in line:  # it would be cut into two frames: refused
            return _TWO_LINES
        return line + b"\n"
