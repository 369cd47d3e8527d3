"""One connected person's session: the core's view of a connection, whatever dialect it speaks.

The stack under it is built before: a ``Stream`` (TCP, TLS, reads with a
deadline, writes that never block), and the dialect (``dialects/``) that
reads the peer and frames what goes out. On the chat port the session sniffs
them itself: TLS when the server has it (``Stream.open_tls``), then native
when the first byte is ``{`` (the JSON ``hello`` frame), plain text (nc,
telnet) otherwise; the page's ``/ws`` gives the WebSocket dialect. Every
dialect ends up in ``Participant.handle``/``typed``, so they share every
command. Outbound order: one send lock, so a ``Bye`` is always the last thing
sent; the hub's batches arrive already in the dialect's wire format.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

from chatserver.core.hub import Frame, Greeting
from chatserver.net.dialects.native import NATIVE
from chatserver.net.dialects.plain import PLAIN
from chatserver.net.stream import Sniffed, Stream
from chatserver.net.timers import Timers
from chatserver.rules import membership
from chatserver.rules.modes import Mode
from chatserver.rules.participant import Participant, SessionEnd
from common import messages as m
from common.connection import Connection, Role, State
from common.tls import TLS_RECORD_HANDSHAKE, TlsError

if TYPE_CHECKING:
    from chatserver.net.dialects import Dialect
    from chatserver.net.server import ChatServer

log = logging.getLogger(__name__)

#: The chat port's dialect, by whether the first thing said is a JSON frame.
_BY_FIRST = {True: NATIVE, False: PLAIN}


class Session(Participant):
    def __init__(
        self,
        server: ChatServer,
        sock: socket.socket,
        addr: tuple,
        stream: Stream | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        super().__init__(server, server.hub, self)  # (for now its own outlet)
        cfg = server.config
        if stream is None:
            stream = Stream(sock, addr, max_backlog=cfg.max_backlog, keepalive=(cfg.ping_interval, cfg.idle_timeout))
        self.stream = stream
        self.sock = stream.sock
        self.addr = addr
        self.peer = stream.peer
        self.outbox = stream.outbox
        #: What it speaks: given (the page's WebSocket), or sniffed in ``run`` (the chat port).
        self.dialect = dialect
        self.end_reason = "connection closed"
        self._send_lock = threading.Lock()
        self._said_bye = False
        self.conn = Connection(Role.SERVER, max_frame=cfg.max_frame)
        self.timers = Timers(
            cfg,
            self.send,
            registered=lambda: self.registered,
            exempt=lambda: self.is_host,
            pings=lambda: self.dialect is not None and self.dialect.pings,
            # never plaintext before or inside a TLS handshake
            may_speak=lambda: cfg.tls_context is None or self.stream.tls is not None,
        )
        stream.timer = self.timers.due
        stream.heard = self.timers.heard

    # -- output ---------------------------------------------------------
    @property
    def _speaks(self) -> Dialect:
        return self.dialect or NATIVE  # (before it is known: only errors, in the native form)

    @property
    def wire(self) -> str:
        """The fan-out wire format of its dialect (see ``fanout.Frame``)."""
        return self._speaks.wire(self)

    def deliver(self, frame: Frame) -> None:
        """A frame for this peer alone, in its turn, framed by its dialect."""
        with self._send_lock:
            if self._said_bye:
                return  # after Bye nothing more may be sent
            dialect = self._speaks
            data = dialect.encode(self, frame)
            if data is None:
                return
            if isinstance(frame.msg, m.Bye):
                self._said_bye = True  # nothing may follow it
            dialect.write(self, data)  # never blocks: under the lock, so Bye stays last

    @property
    def full(self) -> bool:
        return self.outbox.full

    def wait_room(self, timeout: float) -> None:
        self.outbox.wait_room(timeout)

    def deliver_bytes(self, data: bytes) -> None:
        """Bytes in its ``wire`` format (a batch, encoded once for all its recipients)."""
        with self._send_lock:
            if not self._said_bye:
                self._speaks.write(self, data)

    def greet(self, g: Greeting) -> None:
        if self.plain and self.mode is not Mode.CHAT:
            return  # a plain client there sees only the answers to its lines
        membership.entered(self, g)
        if self.plain:  # the welcome line, who is here, then the recent messages
            self.send(self.welcome())
            self.send(self.users_reply())
            membership.replay(self, g)
        else:
            super().greet(g)

    def kick(self, reason: str) -> None:
        self.end_reason = reason
        self.send(m.Bye(reason))
        self.outbox.close(timeout=0.2)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- lifecycle ------------------------------------------------------
    def run(self) -> None:
        log.info("connection from %s", self.peer)
        try:
            first: bytes | None = None
            if self.dialect is None:
                self.dialect, first = self._sniff()
            self.plain = self.dialect.plain
            self.dialect.run(self, first)
        except SessionEnd as exc:
            self.end_reason = str(exc)
        except OSError as exc:
            self.end_reason = f"connection error: {exc.strerror or exc}"
        except TlsError as exc:
            self.end_reason = str(exc)
        finally:
            self._finish()

    @property
    def address(self) -> str:
        return self.addr[0]

    def _sniff(self) -> tuple[Dialect, bytes]:
        """The chat port's stack: TLS when the server has it (a client speaking the wrong
        one is told at once), then the dialect, by the first bytes said."""
        cfg = self.server.config
        if cfg.tls_context is not None and not self.is_host:  # (the host's socket never leaves this machine)
            sniffed = self.stream.open_tls(cfg.tls_context, cfg.plain_prompt_delay)
            if sniffed is Sniffed.TLS:
                log.info("%s: %s established", self.peer, self.stream.tls.version())  # type: ignore[union-attr]
            elif sniffed is not Sniffed.CLOSED:  # (closed before a word: the reader sees EOF)
                self._tls_required()
        first = self._first_data()
        if first[:1] == bytes([TLS_RECORD_HANDSHAKE]) and cfg.tls_context is None:
            raise SessionEnd("a TLS client on a plain port (connect without --tls)")
        return _BY_FIRST[first.lstrip()[:1] == b"{"], first

    def _tls_required(self) -> None:
        """A plaintext peer on the TLS port: told in the dialect it spoke (silent: a person at nc)."""
        text = "this server requires TLS: use chatclient --tls, or openssl s_client -connect HOST:PORT"
        native = self.stream.first_byte == ord("{")
        self.stream.write(m.encode(m.Error("tls_required", text)) if native else f"* error: {text}\r\n".encode())
        raise SessionEnd("a plain client on the TLS port")

    def _first_data(self) -> bytes:
        """First bytes from the peer; greet it in plain text if none come soon.

        A native client sends ``hello`` at once. A silent peer is probably a
        person at nc/telnet, who needs to be asked for a name.
        """
        if not self.stream.data_within(self.server.config.plain_prompt_delay):
            # plain text: a native client skips lines before its welcome
            name = self.server.config.name
            if self.mode is Mode.CHAT:
                text = f"Welcome to {name}. Choose a nickname:"
            else:
                text = f"Welcome to {name} ({self.mode.description})."
            self.stream.write(Frame(m.Notice(text=text, ts=time.time())).plain)
        return self.stream.read()

    def _finish(self) -> None:
        if self.stream.reset and self.end_reason == "connection closed":
            self.end_reason = "connection reset by peer"
        if self.outbox.failure:
            self.end_reason = self.outbox.failure
        elif self.registered and self.mode is Mode.CHAT:
            self.hub.flush(timeout=0.5)  # our last words (an error saying why) may still be queued
        self.unregister(self.end_reason)
        # A stuck reader is worth a warning; a peer that hung up is not.
        level = logging.WARNING if self.outbox.overflowed else logging.INFO
        log.log(level, "%s (%s) disconnected: %s", self.peer, self.nick or "-", self.end_reason)
        if self.dialect is not None:
            with self._send_lock:
                try:
                    self.dialect.goodbye(self)
                except (OSError, TlsError):
                    pass
        self.stream.close(timeout=0.5)

    def end(self, reason: str, *, final: bool = False) -> None:
        """Called from another thread (shutdown): say why and goodbye. The
        notice's event tells a client whether to come back: ``shutdown`` (the
        server stops, probably to restart) or ``ended`` (the chat is over)."""
        self.end_reason = reason
        # A notice is not allowed before the Welcome went out. ``registered``
        # is set a moment before that, so ask the protocol state itself (it
        # only moves forward: HANDSHAKE -> OPEN -> CLOSED).
        if self.plain or self.conn.state is State.OPEN:
            self.notice(reason, event="ended" if final else "shutdown")
        self.send(m.Bye(reason))
