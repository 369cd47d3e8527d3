"""One connected peer: its reader loop (this thread) and its outbox.

A connection is native when its first byte is ``{`` (the JSON ``hello``
frame); anything else is a plain line client (nc, telnet) whose first line is
its nickname, unless it is an HTTP request (a browser sent here by a web
page), which is answered ``400`` and closed with nothing said. Both kinds
end up in ``Participant.handle``, so they share every command.
"""

from __future__ import annotations

import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from chatserver.core.hub import Frame, Greeting
from chatserver.net.outbound import Outbox
from chatserver.rules import membership
from chatserver.rules.membership import MAX_MEMBERSHIPS
from chatserver.rules.modes import Mode
from chatserver.rules.participant import Participant, SessionEnd
from common import messages as m
from common.commands import parse_input
from common.connection import CLOSED, NEED_DATA, Connection, Role, State
from common.errors import FrameTooLarge, LocalProtocolError, RemoteProtocolError
from common.framing import LineFramer
from common.nicks import nick_key
from common.telnet import TelnetError, TelnetScanner
from common.tls import TLS_RECORD_HANDSHAKE, TlsError, TlsStream

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

log = logging.getLogger(__name__)

RECV_SIZE = 65536
SNDBUF = 256 * 1024
#: A plain client's first line that is an HTTP request line, or a ``Host`` line before it has a name.
_HTTP_REQUEST = re.compile(r"[A-Z]+ \S+ HTTP/\d(\.\d)?")
_HTTP_HOST = re.compile(r"host:", re.IGNORECASE)
#: Room messages read together and taken in one go (``Participant.say_many``), at most.
MAX_SAY_BATCH = 256


class Transport(Protocol):
    """What a connection speaks the native frames through, other than bytes on
    the socket (``websocket.py``): it turns the socket's raw reads and writes
    into the plaintext stream of JSON lines the session reads and writes."""

    tls: TlsStream | None

    def attach(
        self, session: Session, raw_recv: Callable[[int], bytes], raw_write: Callable[[bytes], object]
    ) -> tuple[Callable[[int], bytes], Callable[[bytes], object]]: ...

    def close(self) -> None:
        """Say goodbye at this level (called with ``_send_lock`` held, after the last frame)."""


class Session(Participant):
    """A participant behind a socket (for now a participant whose outlet is itself)."""

    plain = False  # does this peer see plain-line text?

    def __init__(
        self, server: ChatServer, sock: socket.socket, addr: tuple, transport: Transport | None = None
    ) -> None:
        super().__init__(server, server.hub, self)
        #: Set when the native frames travel inside something else (a WebSocket).
        self.transport = transport
        self.sock = sock
        self.addr = addr
        self.peer = f"{addr[0]}:{addr[1]}"
        self.end_reason = "connection closed"
        self._send_lock = threading.Lock()
        self._said_bye = False
        self.conn = Connection(Role.SERVER, max_frame=server.config.max_frame)
        cfg = server.config
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A fixed kernel send buffer (no autotuning to megabytes) keeps what a
        # stuck peer can hold close to --max-backlog.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, min(cfg.max_backlog, SNDBUF))
        _keepalive(sock, cfg.ping_interval, cfg.idle_timeout)
        #: Reads plaintext: the socket itself, or TLS over it (set up in ``run``).
        self._read: Callable[[int], bytes] = self._raw_recv
        self.tls: TlsStream | None = None
        self.outbox = Outbox(sock, max_backlog=cfg.max_backlog, name=self.peer)
        #: Writes plaintext: to the outbox, or through TLS into it (set up in ``run``).
        self._write: Callable[[bytes], object] = self.outbox.put
        self._pending_nick: str | None = None  # plain client: name given, password next
        self._poll = select.poll()  # not select(): works above fd 1024
        self._poll.register(sock, select.POLLIN)
        now = time.monotonic()
        self._login_deadline = now + cfg.login_timeout
        self._last_heard = now
        self._pinged = False

    # -- output ---------------------------------------------------------
    @property
    def wire(self) -> str:
        """Native frames; or plain lines, naming their room while in several rooms."""
        if not self.plain:
            return "native"
        return "plain_rooms" if len(self.rooms) > 1 else "plain"

    def deliver(self, frame: Frame) -> None:
        """A frame for this peer alone, in its turn: through the protocol machine."""
        msg = frame.msg
        with self._send_lock:
            if self._said_bye:
                return  # after Bye nothing more may be sent
            if self.plain:
                data = getattr(frame, self.wire)
            elif self.conn.state is State.CLOSED:
                return
            else:
                try:
                    data = self.conn.send(msg)
                except LocalProtocolError as exc:  # a bug here, not the peer's fault: say so, go on
                    log.error("%s: not sent: %s", self.peer, exc)
                    return
            if isinstance(msg, m.Bye):
                self._said_bye = True  # nothing may follow it
            self._write_out(data)  # never blocks: under the lock, so Bye stays last

    @property
    def full(self) -> bool:
        return self.outbox.full

    def wait_room(self, timeout: float) -> None:
        self.outbox.wait_room(timeout)

    def deliver_bytes(self, data: bytes) -> None:
        with self._send_lock:
            if not self._said_bye:
                self._write_out(data)

    def _write_out(self, data: bytes) -> None:
        """Write (called with ``_send_lock`` held), often from another session's
        thread or the dispatcher: a failure here ends this peer, not the caller."""
        try:
            self._write(data)
        except TlsError as exc:  # this peer's TLS state is broken (it sent a bad record)
            self.outbox.fail(str(exc))

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
            self._start_transport()
            if self.transport is not None:  # native by construction: no dialect to guess
                self._run_native(self._recv())
                return
            first = self._first_data()
            if first[:1] == bytes([TLS_RECORD_HANDSHAKE]) and self.server.config.tls_context is None:
                raise SessionEnd("a TLS client on a plain port (connect without --tls)")
            if first.lstrip()[:1] == b"{":
                self._run_native(first)
            else:
                self.plain = True
                self._run_plain(first)
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

    def _start_transport(self) -> None:
        """TLS when the server has it; a client speaking the wrong one is told at once."""
        if self.transport is not None:  # it has its own (TLS included, if any)
            self._read, self._write = self.transport.attach(self, self._raw_recv, self.outbox.put)
            self.tls = self.transport.tls
            return
        ctx = self.server.config.tls_context
        if ctx is None or self.is_host:  # (the host's socket never leaves this machine's two processes)
            return
        # A TLS client speaks first, at once; silence means a person at nc.
        first = self._peek_first_byte() if self._data_within(self.server.config.plain_prompt_delay) else -1
        if first is None:
            return  # closed before a word: the reader sees EOF
        if first != TLS_RECORD_HANDSHAKE:
            text = "this server requires TLS: use chatclient --tls, or openssl s_client -connect HOST:PORT"
            native = first == ord("{")  # answer in the dialect it spoke (silent: a person at nc)
            self.outbox.put(m.encode(m.Error("tls_required", text)) if native else f"* error: {text}\r\n".encode())
            raise SessionEnd("a plain client on the TLS port")
        tls = TlsStream(ctx, self._raw_recv, self.outbox.put, server_side=True)
        tls.handshake()
        self.tls = tls
        self._read = tls.recv
        self._write = tls.sendall
        log.info("%s: %s established", self.peer, tls.version())

    def _peek_first_byte(self) -> int | None:
        try:
            data = self.sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return None
        return data[0] if data else None

    def _recv(self) -> bytes:
        return self._read(RECV_SIZE)

    def _raw_recv(self, size: int = RECV_SIZE) -> bytes:
        """Wait for data, meanwhile enforcing the login deadline and keepalive."""
        # Wait in poll, not in recv: a thread blocked in recv holds a
        # RECV_SIZE buffer all along (tens of KiB per idle connection).
        while True:
            timeout = self._next_timer()
            if self._poll.poll(None if timeout is None else max(0, timeout) * 1000):
                break
        try:
            data = self.sock.recv(size)
        except ConnectionResetError:
            self.end_reason = "connection reset by peer"
            return b""
        self._last_heard = time.monotonic()
        self._pinged = False
        return data

    def _next_timer(self) -> float | None:
        """Seconds until something is due; raises ``SessionEnd`` when a deadline passed."""
        cfg = self.server.config
        now = time.monotonic()
        if not self.registered:
            if self.is_host:
                return None  # our own client, starting up: it ends by closing its socket
            if now >= self._login_deadline:
                if cfg.tls_context is None or self.tls is not None:  # never plaintext before or inside TLS
                    self.send(m.Error("login_timeout", f"no nickname within {cfg.login_timeout:g} s"))
                raise SessionEnd("login timeout")
            return self._login_deadline - now
        if self.plain or cfg.ping_interval <= 0:
            return None  # plain clients cannot answer pings: TCP keepalive covers them
        silent = now - self._last_heard
        if silent >= cfg.idle_timeout:
            self.send(m.Bye(f"no answer for {cfg.idle_timeout:g} s"))
            raise SessionEnd(f"idle timeout ({cfg.idle_timeout:g} s without a word)")
        if silent >= cfg.ping_interval and not self._pinged:
            self.send(m.Ping(str(int(now))))
            self._pinged = True
        due = cfg.idle_timeout if self._pinged else cfg.ping_interval
        return due - silent

    def _first_data(self) -> bytes:
        """First bytes from the peer; greet it in plain text if none come soon.

        A native client sends ``hello`` at once. A silent peer is probably a
        person at nc/telnet, who needs to be asked for a name.
        """
        if not self._data_within(self.server.config.plain_prompt_delay):
            # plain text: a native client skips lines before its welcome
            name = self.server.config.name
            if self.mode is Mode.CHAT:
                text = f"Welcome to {name}. Choose a nickname:"
            else:
                text = f"Welcome to {name} ({self.mode.description})."
            self._write(Frame(m.Notice(text=text, ts=time.time())).plain)
        return self._recv()

    def _data_within(self, seconds: float) -> bool:
        return (self.tls is not None and self.tls.pending() > 0) or bool(self._poll.poll(seconds * 1000))

    def _finish(self) -> None:
        if self.outbox.failure:
            self.end_reason = self.outbox.failure
        elif self.registered and self.mode is Mode.CHAT:
            self.hub.flush(timeout=0.5)  # our last words (an error saying why) may still be queued
        self.unregister(self.end_reason)
        # A stuck reader is worth a warning; a peer that hung up is not.
        level = logging.WARNING if self.outbox.overflowed else logging.INFO
        log.log(level, "%s (%s) disconnected: %s", self.peer, self.nick or "-", self.end_reason)
        if self.transport is not None:
            with self._send_lock:
                try:
                    self.transport.close()
                except (OSError, TlsError):
                    pass
        self.outbox.close(timeout=0.5)
        close_gently(self.sock)

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

    # -- native ---------------------------------------------------------
    def _run_native(self, first: bytes) -> None:
        self.conn.receive_data(first)
        batch: list[m.Message] = []  # room messages read together: taken in one go (say_many)

        def flush() -> None:
            if batch:
                msgs = batch[:]
                batch.clear()
                self.say_many(msgs)

        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                flush()
                log.debug("%s sent a bad frame: %s", self.peer, exc)
                self.send(m.Error(exc.code, str(exc)))
                if exc.fatal:
                    raise SessionEnd(str(exc)) from None
                continue
            if event is NEED_DATA:
                flush()  # (before waiting for more)
                self.conn.receive_data(self._recv())
                continue
            if event is CLOSED:
                flush()
                return
            assert isinstance(event, m.Message)
            if isinstance(event, (m.Say, m.Action)) and self.registered:
                if len(batch) >= MAX_SAY_BATCH:
                    flush()
                batch.append(event)
                continue
            flush()
            if isinstance(event, m.Hello):
                self._hello(event)
            else:
                self.handle(event)

    def _hello(self, hello: m.Hello) -> None:
        if hello.version != m.PROTOCOL_VERSION:
            self.send(
                m.Error(
                    "unsupported_version",
                    f"this server speaks protocol version {m.PROTOCOL_VERSION}, not {hello.version}",
                )
            )
            self.send(m.Bye("unsupported protocol version"))
            raise SessionEnd("unsupported protocol version")
        self.register(
            hello.nick,
            resume=hello.resume,
            last_seq=hello.last_seq,
            password=hello.password,
            room=hello.room,
            epoch=hello.epoch,
            others=_other_rooms(hello),
        )

    # -- plain ----------------------------------------------------------
    def _run_plain(self, first: bytes) -> None:
        framer = LineFramer(self.server.config.max_frame)
        telnet = TelnetScanner()  # strips telnet commands before framing: they may span reads

        def receive(data: bytes) -> None:
            try:
                text = telnet.feed(data)
            except TelnetError as exc:
                self.send(m.Error(exc.code, str(exc)))
                raise SessionEnd(str(exc)) from None
            if text or not data:  # b"" is the end of the stream; a read of only telnet commands is not
                framer.receive_data(text)

        receive(first)
        if self.mode is not Mode.CHAT:  # nobody to talk to: no name needed
            self.register(f"guest{self.server.next_seq()}")
        first_line = True
        batch: list[m.Message] = []  # room messages read together: taken in one go (say_many)

        def flush() -> None:
            if batch:
                msgs = batch[:]
                batch.clear()
                self.say_many(msgs)

        while True:
            try:
                raw = framer.next_line()
            except FrameTooLarge as exc:
                flush()
                self.send(m.Error(exc.code, f"line too long: {exc}"))
                raise SessionEnd(str(exc)) from None
            if raw is None:
                flush()  # (before waiting for more)
                if framer.at_eof:
                    return
                receive(self._recv())
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                flush()
                self.send(m.Error("invalid_utf8", "that line was not valid UTF-8 and was not sent"))
                continue
            if (first_line and _HTTP_REQUEST.fullmatch(line.strip())) or (
                not self.registered and _HTTP_HOST.match(line)
            ):  # a browser, sent here by some web page (a cross-origin POST): it says nothing in our name
                self._answer_http()
            first_line = False
            if self.registered:
                parsed = parse_input(line)
                if isinstance(parsed, (m.Say, m.Action)) and not line.startswith("/"):
                    if len(batch) >= MAX_SAY_BATCH:
                        flush()
                    batch.append(parsed)
                    continue
                flush()
                self.typed(line)  # parsed and done as a native client's ``line`` frame is
            elif self._pending_nick is not None:  # this line is the password
                nick, self._pending_nick = self._pending_nick, None
                if not self.register(nick, password=line.strip()):
                    self.notice("Choose a nickname:")
            elif line.strip() and self._needs_password(line.strip()):
                self._pending_nick = line.strip()
                self.notice("Password:")
            elif not (line.strip() and self.register(line.strip())):
                self.notice("Choose a nickname:")

    def _answer_http(self) -> None:
        """Answer an HTTP request with a short ``400`` that points to the chat page, and end."""
        port = self.server.page_port
        if port is None:
            text = "this is a chat server's port, for chatclient or nc; it serves no web page"
        else:
            host = self.sock.getsockname()[0].removeprefix("::ffff:")
            host = f"[{host}]" if ":" in host else host
            scheme = "https" if self.server.config.tls_context is not None else "http"
            text = f"this is a chat server's port, for chatclient or nc; its chat page is at {scheme}://{host}:{port}/"
        body = f"{text}\n".encode()
        head = "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
        head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        self.deliver_bytes(head.encode() + body)
        raise SessionEnd("an HTTP request on the chat port (answered 400)")

    def _needs_password(self, nick: str) -> bool:
        cfg = self.server.config
        return cfg.password is not None or (nick_key(nick) in cfg.ops and cfg.op_password is not None)


def _other_rooms(hello: m.Hello) -> list[tuple[str, str | None, int | None]]:
    """The other rooms a reconnecting client was in: (room, epoch, last seq or None)."""
    rooms = hello.rooms or []
    epochs, seqs = hello.epochs or [], hello.last_seqs or []
    return [
        (
            room,
            epochs[i] if i < len(epochs) else None,
            seqs[i] if i < len(seqs) and seqs[i] >= 0 else None,
        )
        for i, room in enumerate(rooms[:MAX_MEMBERSHIPS])
    ]


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
