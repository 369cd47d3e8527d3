"""Admission, for every port: who may connect, a thread per admitted connection, refusals that cannot pile up.

Each port's ``Listener`` hands every new connection to ``Admission.accept``
in its accept thread (so this never waits for the peer): admitted, it is
counted against ``--max-clients`` and ``--max-per-ip`` and served in a thread
of its own, as a ``Stream``, by the port's ``serve``; over the limits it is
refused at once with the port's ``words`` (its dialect's way of saying why),
with at most ``MAX_REFUSING`` refusals in flight. On a TLS server a TLS
client is refused inside TLS (plaintext would read as a broken record), after
a handshake held to a short deadline.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from chatserver.config import ServerConfig
from chatserver.net.listener import refuse_now, spawn
from chatserver.net.stream import Stream
from common.tls import TlsError

log = logging.getLogger(__name__)

#: At most this long (or --login-timeout, if shorter) to refuse a connection, TLS handshake included.
REFUSAL_DEADLINE = 3.0
#: Refusals in flight at once (each a thread for up to REFUSAL_DEADLINE); past it a refused
#: connection gets its words in one try, without waiting (none through TLS), and is closed.
MAX_REFUSING = 32

#: Serves one admitted connection to its end, in its own thread.
Serve = Callable[[Stream], None]
#: A port's refusal in its own dialect: ``words(code, text)``.
Words = Callable[[str, str], bytes]


class Admission:
    """The connection limits of one server, shared by all its ports."""

    def __init__(self, config: ServerConfig, stopping: Callable[[], bool]) -> None:
        self.config = config
        self._stopping = stopping
        self._lock = threading.Lock()
        self._per_ip: dict[str, int] = {}
        self._connections = 0  # admitted and not yet released
        self._refusing = 0  # refusals in flight, each in a thread of its own (at most MAX_REFUSING)

    def stream(self, sock: socket.socket, addr: tuple) -> Stream:
        """An admitted connection's byte stream, set up as every port's is."""
        cfg = self.config
        return Stream(sock, addr, max_backlog=cfg.max_backlog, keepalive=(cfg.ping_interval, cfg.idle_timeout))

    def accept(self, sock: socket.socket, addr: tuple, serve: Serve, words: Words) -> None:
        """A new connection, in the accept thread: served by ``serve`` in a thread of its
        own, or refused at once with ``words(code, text)``."""
        if self._stopping():
            sock.close()
            return
        refusal = self.admit(addr[0])
        if refusal is not None:
            self._refuse_soon(sock, addr, refusal, words(*refusal))
            return
        # The stream is made here, not in the new thread: nesting its objects' constructors
        # there (stream, outbox, event, condition) took the thread's C stack a page deeper,
        # and a page once touched stays in every idle connection's memory.
        try:
            stream = self.stream(sock, addr)
        except OSError as exc:  # (the peer is already gone: setting its socket's options failed)
            log.debug("%s:%s gone before it was served: %s", addr[0], addr[1], exc)
            self.release(addr[0])
            sock.close()
            return
        if not spawn(self._serve_admitted, serve, stream):
            self.release(addr[0])
            refuse_now(sock, b"")

    def _serve_admitted(self, serve: Serve, stream: Stream) -> None:
        try:
            serve(stream)
        except Exception:
            log.exception("unexpected error serving %s", stream.addr)
        finally:
            self.release(stream.addr[0])
            stream.sock.close()

    def admit(self, ip: str) -> tuple[str, str] | None:
        """Count a new connection from ``ip``, or say why it must be refused (then
        it is not counted). Every admitted connection is ``release``d once."""
        with self._lock:
            refusal = self._refusal(ip)
            if refusal is None:  # counted in the same step as checked: a burst cannot overshoot
                self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
                self._connections += 1
        return refusal

    def release(self, ip: str) -> None:
        with self._lock:
            self._connections -= 1
            left = self._per_ip[ip] - 1
            if left:
                self._per_ip[ip] = left
            else:
                del self._per_ip[ip]

    def _refusal(self, ip: str) -> tuple[str, str] | None:
        """Why a new connection from ``ip`` must be refused (call with the lock held)."""
        if self._connections >= self.config.max_clients:
            return "server_full", f"the server is full ({self.config.max_clients} connections); try again later"
        if self._per_ip.get(ip, 0) >= self.config.max_per_ip:
            return "too_many_connections", f"too many connections from {ip} (at most {self.config.max_per_ip})"
        return None

    def _refuse_soon(self, sock: socket.socket, addr: tuple, refusal: tuple[str, str], words: bytes) -> None:
        """Refuse in a thread of its own (``_refuse``), or, with ``MAX_REFUSING`` refusals in
        flight already (a flood), at once in this thread: one try to say why, then close."""
        with self._lock:
            slow = self._refusing < MAX_REFUSING
            if slow:
                self._refusing += 1
        if slow:

            def refuse() -> None:
                try:
                    self._refuse(sock, addr, refusal, words)
                finally:
                    with self._lock:
                        self._refusing -= 1

            if spawn(refuse):
                return
            with self._lock:
                self._refusing -= 1
        log.debug("refused %s:%s at once: %s", addr[0], addr[1], refusal[1])
        refuse_now(sock, words if self.config.tls_context is None else b"")

    def _refuse(self, sock: socket.socket, addr: tuple, refusal: tuple[str, str], words: bytes) -> None:
        """Say why (``words``, inside TLS to a TLS client), then close, all within a short
        deadline, so a silent or slow peer cannot keep its refusal, and its thread, open."""
        log.warning("refused %s:%s: %s", addr[0], addr[1], refusal[1])
        limit = min(REFUSAL_DEADLINE, self.config.login_timeout)
        stream = Stream(sock, addr)
        stream.until(stream.clock() + limit, "no TLS handshake in time")
        try:
            ctx = self.config.tls_context
            if ctx is not None:
                stream.open_tls(ctx, self.config.plain_prompt_delay)  # (a plaintext peer gets plaintext)
            stream.write(words)
        except (OSError, TlsError) as exc:
            log.debug("refusing %s:%s: %s", addr[0], addr[1], exc)
        stream.close(timeout=max(0.05, limit))
