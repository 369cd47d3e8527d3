"""One connection: the transport's side of a connected person, whatever dialect it speaks.

The stack under it is built before: a ``Stream`` (TCP, TLS, reads with a
deadline, writes that never block), with its ``Timers``; above it runs the
``Dialect`` it is given, which reads the peer and frames what goes out (the
page's ``/ws`` gives the WebSocket one; the chat port's sniffs TLS and then
native or plain, ``dialects/chatport.py``). The person is not the connection:
the session holds a ``Participant`` (the rules' object: name, rooms, rights),
which every dialect's reader hands what the peer says (``handle``/``typed``),
and is that participant's ``Outlet``: what the hub and the rules send the
person comes out here. Outbound order: one send lock, so a ``Bye`` is always
the last thing sent; the hub's batches arrive already in the dialect's wire format,
straight into the outbox where nothing is done to them (``Dialect.writer``), which
is sealed before the ``Bye``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from chatserver.core.fanout import Frame
from chatserver.net.stream import Stream
from chatserver.net.timers import Timers
from chatserver.rules.effects import SessionEnd
from chatserver.rules.modes import Mode
from chatserver.rules.participant import Participant
from chatserver.rules.services import Services
from common import messages as m
from common.connection import Connection, Role, State
from common.tls import TlsError

if TYPE_CHECKING:
    from chatserver.config import ServerConfig
    from chatserver.core.hub import Hub

log = logging.getLogger(__name__)


class ChatServer(Services, Protocol):
    """What a session needs of its server (``server.ChatServer``; not imported: the server is above)."""

    @property
    def config(self) -> ServerConfig: ...

    @property
    def hub(self) -> Hub: ...

    #: The chat page's port, once it is served (the plain dialect points a browser to it).
    page_port: int | None


class Dialect(Protocol):
    """How a ``Session`` reads its peer and frames what goes out to it (``dialects/``)."""

    #: Does the peer see plain-line text (``Participant.plain``)?
    plain: bool
    #: Does the peer answer pings (so a silent one is pinged, then dropped)?
    pings: bool

    def wire(self, session: Session) -> str:
        """The fan-out wire format (a ``Frame`` property) its batches arrive in, as bytes."""
        ...

    def encode(self, session: Session, frame: Frame) -> bytes | None:
        """A frame for this peer alone, as bytes on its stream; None: not sent."""
        ...

    def write(self, session: Session, data: bytes) -> None:
        """Bytes already in ``wire`` format to the stream (called with the session's send lock)."""

    def writer(self, session: Session) -> Callable[[bytes], object]:
        """What the hub's fan-out calls with each batch for this peer (``Session.deliver_bytes``):
        the outbox's ``put_batch`` itself where nothing more is done to the bytes (no TLS)."""
        ...

    def run(self, session: Session, first: bytes | None) -> None:
        """The reader loop, from the ``first`` bytes read (None: none yet), until the peer is
        done (the chat port's, which only chooses the dialect, sets ``session.dialect`` and runs it)."""

    def goodbye(self, session: Session) -> None:
        """Last words at this level, after the last frame (called with the session's send lock)."""


class Session:
    """One admitted connection (see the module docstring); ``participant`` is the person on it."""

    def __init__(
        self,
        server: ChatServer,
        sock: socket.socket,
        addr: tuple,
        stream: Stream | None = None,
        *,
        dialect: Dialect,
    ) -> None:
        cfg = server.config
        if stream is None:
            stream = Stream(sock, addr, max_backlog=cfg.max_backlog, keepalive=(cfg.ping_interval, cfg.idle_timeout))
        self.server = server
        self.stream = stream
        self.sock = stream.sock
        self.addr = addr
        self.peer = stream.peer
        self.outbox = stream.outbox
        #: Bytes in its ``wire`` format (a batch, encoded once for all its recipients): the hub's
        #: member calls it, one call per batch; the dialect chooses it (``speak``).
        self.deliver_bytes: Callable[[bytes], object] = self.send_batch
        #: What it speaks (the chat port's first chooses, then hands over: see ``Dialect.run``).
        self.dialect = dialect
        #: The person on this connection: the rules' object, with this session as its outlet.
        self.participant = Participant(server, server.hub, self, address=addr[0])
        self.participant.in_clear = self._in_clear  # (a password typed here: readable on the way?)
        self.end_reason = "connection closed"
        self._send_lock = threading.Lock()
        self._said_bye = False
        self.conn = Connection(Role.SERVER, max_frame=cfg.max_frame)
        # (bound methods, not a closure each: a connection idles for hours, thousands at once)
        self.timers = Timers(
            cfg,
            self.participant.send,
            registered=self._registered,
            exempt=self._exempt,
            pings=self._pings,
            may_speak=self._may_speak,
        )
        stream.timer = self.timers.due
        stream.heard = self.timers.heard

    def _in_clear(self) -> bool:
        """Does what this peer sends cross a network unencrypted (no TLS, from another machine)?"""
        try:
            loopback = ipaddress.ip_address(str(self.addr[0]).removeprefix("::ffff:")).is_loopback
        except ValueError:
            loopback = False
        return self.stream.tls is None and not loopback

    # -- what its timers ask (``Timers``) ---------------------------------------
    def _registered(self) -> bool:
        return self.participant.registered

    def _exempt(self) -> bool:
        return self.participant.is_host

    def _pings(self) -> bool:
        return self.dialect.pings

    def _may_speak(self) -> bool:
        """Never plaintext before or inside a TLS handshake."""
        return self.server.config.tls_context is None or self.stream.tls is not None

    # -- the participant's outlet (``rules.services.Outlet``) ------------------
    @property
    def wire(self) -> str:
        """The fan-out wire format of its dialect (see ``fanout.Frame``)."""
        return self.dialect.wire(self)

    def deliver(self, frame: Frame) -> None:
        """A frame for this peer alone, in its turn, framed by its dialect."""
        with self._send_lock:
            if self._said_bye:
                return  # after Bye nothing more may be sent
            dialect = self.dialect
            data = dialect.encode(self, frame)
            if data is None:
                return
            if isinstance(frame.msg, m.Bye):
                self._said_bye = True  # nothing may follow it
                self.outbox.seal()  # (nor a batch the hub hands straight to the outbox)
            dialect.write(self, data)  # never blocks: under the lock, so Bye stays last

    @property
    def full(self) -> bool:
        return self.outbox.full

    def wait_room(self, timeout: float) -> None:
        self.outbox.wait_room(timeout)

    def straight(self) -> Callable[[bytes], object]:
        """A dialect's ``writer`` when its ``write`` adds nothing to a batch: the outbox's
        ``put_batch`` (one call a batch) on a plaintext stream, else ``send_batch`` (TLS)."""
        return self.outbox.put_batch if self.stream.tls is None else self.send_batch

    def send_batch(self, data: bytes) -> None:
        """``deliver_bytes`` through the dialect, under the send lock (a TLS stream's: encrypted)."""
        with self._send_lock:
            if not self._said_bye:
                self.dialect.write(self, data)

    def kick(self, reason: str) -> None:
        self.end_reason = reason
        self.participant.send(m.Bye(reason))
        self.outbox.close(timeout=0.2)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- lifecycle ------------------------------------------------------
    def run(self) -> None:
        log.info("connection from %s", self.peer)
        try:
            self.speak(self.dialect)
            self.dialect.run(self, None)
        except SessionEnd as exc:
            self.end_reason = str(exc)
        except OSError as exc:
            self.end_reason = f"connection error: {exc.strerror or exc}"
        except TlsError as exc:
            self.end_reason = str(exc)
        finally:
            self._finish()

    def speak(self, dialect: Dialect) -> None:
        """From now on the peer is read and written in ``dialect`` (the chat port's, once it knows which)."""
        self.dialect = dialect
        self.deliver_bytes = dialect.writer(self)
        participant = self.participant
        participant.plain = dialect.plain
        participant.rewire()

    def _finish(self) -> None:
        participant = self.participant
        if self.stream.reset and self.end_reason == "connection closed":
            self.end_reason = "connection reset by peer"
        if self.outbox.failure:
            self.end_reason = self.outbox.failure
        elif participant.registered and participant.mode is Mode.CHAT:
            participant.hub.flush(timeout=0.5)  # our last words (an error saying why) may still be queued
        participant.unregister(self.end_reason)
        # A stuck reader is worth a warning; a peer that hung up is not.
        level = logging.WARNING if self.outbox.overflowed else logging.INFO
        log.log(level, "%s (%s) disconnected: %s", self.peer, participant.nick or "-", self.end_reason)
        with self._send_lock:
            try:
                self.dialect.goodbye(self)
            except (OSError, TlsError):
                pass
        self.stream.close(timeout=0.5)

    def end(self, reason: str, *, final: bool = False) -> None:
        """Called from another thread: say why and goodbye (``tell_ending``, then the ``Bye``
        after everything queued for this peer)."""
        self.tell_ending(reason, final=final)
        self.participant.send(m.Bye(reason))

    def bye_now(self, reason: str) -> None:
        """The ``Bye`` at once, without waiting for the hub's queue: the server's shutdown
        waits for it once for all its sessions (``tell_ending`` first), not once for each."""
        self.participant.deliver(Frame(m.Bye(reason)))

    def tell_ending(self, reason: str, *, final: bool = False) -> None:
        """Say why the session ends (queued in its turn). The
        notice's event tells a client whether to come back: ``shutdown`` (the
        server stops, probably to restart) or ``ended`` (the chat is over)."""
        self.end_reason = reason
        participant = self.participant
        # A notice is not allowed before the Welcome went out. ``registered``
        # is set a moment before that, so ask the protocol state itself (it
        # only moves forward: HANDSHAKE -> OPEN -> CLOSED).
        if participant.plain or self.conn.state is State.OPEN:
            participant.notice(reason, event="ended" if final else "shutdown")
