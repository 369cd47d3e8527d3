"""The native protocol over a WebSocket: one JSON frame per text message (``wsproto``).

A browser cannot open a TCP socket, so the page speaks the very frames a
native client does, each as one WebSocket text message. ``WebSocketTransport``
plugs into ``Session`` (see ``Session.transport``): the session reads a stream
of newline-ended JSON lines and writes JSON lines, exactly as on the chat
port, and this module turns messages into lines and lines into messages.
The framing is ``wsproto``'s (sans-IO), driven by the connection's thread;
its writes come from any thread that sends to the session, under the
session's ``_send_lock``, and from the reader (pongs, the closing handshake),
so every use of the ``wsproto`` object holds this transport's own lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from common import messages as m
from common.tls import TlsStream

if TYPE_CHECKING:
    from chatserver.net.session import Session

RECV_SIZE = 65536
_TWO_LINES = object()  # what ``_text`` returns for a message with a line break in it


class RawIO:
    """The socket's raw reads and writes, re-pointable: the HTTP exchange reads and
    writes with deadlines of its own, the session later with its poll and outbox.
    A ``TlsStream`` made over it keeps working across the switch."""

    def __init__(self, recv: Callable[[int], bytes], send: Callable[[bytes], object]) -> None:
        self.recv_fn = recv
        self.send_fn = send

    def recv(self, size: int = RECV_SIZE) -> bytes:
        return self.recv_fn(size)

    def send(self, data: bytes) -> None:
        self.send_fn(data)


class WebSocketTransport:
    """Native frames as WebSocket text messages, after a finished upgrade.

    ``trailing`` is what the peer sent after its upgrade request (its first
    messages, maybe). ``tls`` is the TLS stream over ``raw``, if the page is
    served with TLS. A message over ``max_frame`` bytes is handed on unended,
    so that the session's own line framer refuses it as on the chat port; a
    binary message closes the connection (1003) on its first frame.
    """

    def __init__(self, raw: RawIO, *, tls: TlsStream | None, max_frame: int, trailing: bytes = b"") -> None:
        self.raw = raw
        self.tls = tls
        self.max_frame = max_frame
        self._ws = Connection(ConnectionType.SERVER, trailing_data=trailing)
        self._lock = threading.Lock()  # guards _ws: reader and writers use it
        self._session: Session | None = None
        self._partial = bytearray()  # the text message being received
        self._closed = False

    # -- the Transport protocol (see session.py) -------------------------
    def attach(
        self, session: Session, raw_recv: Callable[[int], bytes], raw_write: Callable[[bytes], object]
    ) -> tuple[Callable[[int], bytes], Callable[[bytes], object]]:
        self._session = session
        self.raw.recv_fn, self.raw.send_fn = raw_recv, raw_write
        return self.read, self.write

    def close(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start (or answer) the closing handshake; nothing is sent after it."""
        with self._lock:
            if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                self._wire(self._ws.send(CloseConnection(code=code, reason=reason)))

    # -- session side --------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Frames from the session (one or more JSON lines): a message each,
        written out together (a batch from the hub is one write, as on the chat port)."""
        with self._lock:
            out = []
            for line in data.split(b"\n"):
                line = line.rstrip(b"\r")
                if not line:
                    continue
                try:
                    out.append(self._ws.send(TextMessage(data=line.decode("utf-8"))))
                except LocalProtocolError:
                    break  # closing: nothing more goes out
            if out:
                self._wire(b"".join(out))

    def read(self, size: int = RECV_SIZE) -> bytes:
        """The next JSON lines from the peer's messages; ``b""`` at the end."""
        while True:
            lines, errors = self._take_events()
            for error in errors:  # outside the lock: session.send writes through us
                assert self._session is not None
                self._session.send(error)
            if lines or self._closed:
                return b"".join(lines)
            data = self._recv_plain(RECV_SIZE)
            with self._lock:
                self._ws.receive_data(data or None)  # None: the stream ended without a close frame

    # -- inside ----------------------------------------------------------------
    def _recv_plain(self, size: int) -> bytes:
        return self.tls.recv(size) if self.tls is not None else self.raw.recv(size)

    def _wire(self, data: bytes) -> None:
        if not data:
            return
        if self.tls is not None:
            self.tls.sendall(data)
        else:
            self.raw.send(data)

    def _take_events(self) -> tuple[list[bytes], list[m.Message]]:
        lines: list[bytes] = []
        errors: list[m.Message] = []
        with self._lock:
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    line = self._text(event)
                    if line is _TWO_LINES:
                        errors.append(m.Error("invalid_frame", "a message holds one frame, without line breaks"))
                    elif line is not None:
                        lines.append(line)  # type: ignore[arg-type]
                elif isinstance(event, BytesMessage):  # on its first frame, not when (if ever) it ends
                    self._refuse_binary()
                    break  # nothing after it is read
                elif isinstance(event, Ping):
                    self._wire(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                        self._wire(self._ws.send(event.response()))  # (a protocol error: wsproto's code)
                    self._closed = True
        if self._closed and self._partial:  # an unfinished message is not a frame
            self._partial.clear()
        return lines, errors

    def _refuse_binary(self) -> None:
        """A binary message ends the connection at once (1003), however long it would be (call with the lock)."""
        if self._ws.state is ConnectionState.OPEN:
            reason = "send each frame as a WebSocket text message"
            self._wire(self._ws.send(CloseConnection(code=CloseReason.UNSUPPORTED_DATA, reason=reason)))
        if self._session is not None and not self._closed:
            self._session.end_reason = "a binary WebSocket message (closed with 1003)"
        self._closed = True

    def _text(self, event: TextMessage) -> bytes | object | None:
        """A finished message as one line; an oversized one unended (the framer refuses it)."""
        if len(self._partial) > self.max_frame:
            return None  # already handed on as too big; the session is ending
        self._partial += event.data.encode("utf-8")
        if len(self._partial) > self.max_frame:
            return bytes(self._partial)  # no newline: the framer sees a line over the limit
        if not event.message_finished:
            return None
        line = bytes(self._partial)
        self._partial.clear()
        if b"\n" in line or b"\r" in line:  # it would be cut into two frames: refused
            return _TWO_LINES
        return line + b"\n"
