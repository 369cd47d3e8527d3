"""One connection's byte stream: TCP, TLS sniffed once, reads that wait with a deadline, writes that never block.

Every port's connection is a ``Stream`` from the moment it is admitted: the
chat port's sessions, the page's HTTP exchanges and WebSocket sessions, and
refusals. What comes above it (the dialect) reads and writes plaintext
through ``read`` and ``write`` and never touches the socket.

- **Reads** wait in ``poll`` (not in ``recv``: a thread blocked in ``recv``
  holds a whole receive buffer, tens of KiB per idle connection), for as long
  as ``timer`` allows: it returns the seconds until something is due (None:
  nothing is), and raises to end the connection when a deadline has passed.
- **Writes** go to the connection's ``Outbox``: sent at once if the kernel
  takes them, else queued for the flusher thread; never blocking the caller.
- **TLS** is sniffed once (``open_tls``): a TLS client speaks first, at once,
  with a handshake record; what the first byte says decides, and the
  handshake runs here, over the same reads and writes.
"""

from __future__ import annotations

import enum
import select
import socket
import ssl
import time
from collections.abc import Callable

from chatserver.net.outbound import DEFAULT_MAX_BACKLOG, Outbox
from common.tls import TLS_RECORD_HANDSHAKE, TlsError, TlsStream

RECV_SIZE = 65536
_NOWAIT = socket.MSG_DONTWAIT  # a read that never blocks, whatever the socket's mode
SNDBUF = 256 * 1024


class Sniffed(enum.Enum):
    """What a peer on a TLS port did first (``Stream.open_tls``)."""

    TLS = "tls"  # a TLS handshake: done, the stream speaks TLS now
    PLAIN = "plain"  # plaintext: its first byte is ``Stream.first_byte``
    SILENT = "silent"  # nothing within the wait: a person at nc, maybe
    CLOSED = "closed"  # it hung up before a word


def no_timer() -> float | None:
    return None


class Stream:
    """The bytes of one admitted connection, in both directions (see the module docstring)."""

    def __init__(
        self,
        sock: socket.socket,
        addr: tuple,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        keepalive: tuple[float, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sock = sock
        self.addr = addr
        self.peer = f"{addr[0]}:{addr[1]}"
        self.clock = clock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A fixed kernel send buffer (no autotuning to megabytes) keeps what a
            # stuck peer can hold close to --max-backlog.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, min(max_backlog, SNDBUF))
        except OSError:  # (a socket that is not TCP: the host's private socket pair, say)
            pass
        if keepalive is not None:
            _keepalive(sock, *keepalive)
        self.outbox = Outbox(sock, max_backlog=max_backlog, name=self.peer)
        self.tls: TlsStream | None = None
        #: Seconds until something is due while a read waits; raises to end the connection.
        self.timer: Callable[[], float | None] = no_timer
        #: Called when raw bytes arrive (the peer is alive).
        self.heard: Callable[[], None] = _nothing
        #: The first byte a TLS port's plaintext peer sent (``Sniffed.PLAIN``).
        self.first_byte: int | None = None
        #: Set when the peer reset the connection (a read then returns ``b""``).
        self.reset = False
        self._poll = select.poll()  # not select(): works above fd 1024
        self._poll.register(sock, select.POLLIN)

    # -- deadlines ----------------------------------------------------------
    def until(self, deadline: float, why: str = "not finished in time") -> None:
        """Reads wait until ``deadline`` (on ``clock``) at most, then raise ``TimeoutError(why)``."""

        def timer() -> float:
            left = deadline - self.clock()
            if left <= 0:
                raise TimeoutError(why)
            return left

        self.timer = timer

    # -- reading ------------------------------------------------------------
    def _raw_recv(self, size: int = RECV_SIZE) -> bytes:
        """Bytes as they come off the socket (TLS records, if it speaks TLS); ``b""`` at the end.

        The deadlines (``timer``) are asked before every read; a peer that has sent more
        (a busy sender, usually) is read at once, without a ``poll`` first: one system
        call, and one turn of the GIL let go and taken back, fewer per read."""
        timeout = self.timer()
        try:
            try:
                data = self.sock.recv(size, _NOWAIT)
            except BlockingIOError:
                while not self._poll.poll(None if timeout is None else max(0.0, timeout) * 1000):
                    timeout = self.timer()
                data = self.sock.recv(size)
        except ConnectionResetError:
            self.reset = True
            return b""
        self.heard()
        return data

    def read(self, size: int = RECV_SIZE) -> bytes:
        """Plaintext from the peer; ``b""`` at the end."""
        return self.tls.recv(size) if self.tls is not None else self._raw_recv(size)

    def data_within(self, seconds: float) -> bool:
        """Does the peer say something within ``seconds`` (or has it already)?"""
        return (self.tls is not None and self.tls.pending() > 0) or bool(self._poll.poll(seconds * 1000))

    def peek(self) -> int | None:
        """The next byte, left unread; None if the peer closed."""
        try:
            data = self.sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return None
        return data[0] if data else None

    # -- writing ------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Plaintext to the peer, through TLS if it speaks it; never blocks. A broken TLS
        state (the peer sent a bad record) fails the outbox: it ends this peer, not the caller."""
        if self.tls is None:
            self.outbox.put(data)
            return
        try:
            self.tls.sendall(data)
        except TlsError as exc:
            self.outbox.fail(str(exc))

    # -- TLS ----------------------------------------------------------------
    def open_tls(self, context: ssl.SSLContext, within: float) -> Sniffed:
        """The TLS sniff, the one place it is made: wait up to ``within`` s for the peer's
        first byte; a handshake record starts TLS (the handshake runs now, to ``timer``'s
        deadline), anything else is left unread for the caller to answer in plaintext."""
        if not self.data_within(within):
            return Sniffed.SILENT
        first = self.peek()
        if first is None:
            return Sniffed.CLOSED
        if first != TLS_RECORD_HANDSHAKE:
            self.first_byte = first
            return Sniffed.PLAIN
        tls = TlsStream(context, self._raw_recv, self.outbox.put, server_side=True)
        tls.handshake()
        self.tls = tls
        return Sniffed.TLS

    # -- the end ------------------------------------------------------------
    def close(self, timeout: float = 0.5) -> None:
        """Let what is queued go out (up to ``timeout`` s), then close gently."""
        self.outbox.close(timeout=timeout)
        close_gently(self.sock)


def _nothing() -> None:
    pass


def close_gently(sock: socket.socket, linger: float = 0.2) -> None:
    """Close after the peer has had our last words: closing with its input
    unread would send a reset, and a reset can discard what it has not read
    yet (the error that says why). So: end our side, drain briefly, close."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                break
    except OSError:
        pass
    finally:
        sock.close()


def _keepalive(sock: socket.socket, idle: float, window: float) -> None:
    """TCP keepalive: probe after ``idle`` s of silence, give up by about ``window`` s."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if idle > 0 and hasattr(socket, "TCP_KEEPIDLE"):
            interval = max(1, int((window - idle) / 4) if window > idle else int(idle))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(idle)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
    except OSError:  # pragma: no cover - platform without these options
        pass
