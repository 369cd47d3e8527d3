"""The chat server: admission, a thread per admitted connection, and a shutdown that stops.

Each port's ``Listener`` (``listener.py``) hands every new connection to
``ChatServer.accept`` in its accept thread: admitted, it gets a thread of its
own; over the limits it is refused at once and never waits for a word from
its peer, with at most ``MAX_REFUSING`` refusals in flight. Then the set of
live sessions, and a shutdown that tells every peer why before closing.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from chatserver.backends.memory import memory_backends
from chatserver.backends.ports import Backends
from chatserver.config import ServerConfig
from chatserver.core.hub import Hub, LocalHub
from chatserver.net.listener import Listener, refuse_now, spawn
from chatserver.net.outbound import flusher
from chatserver.net.session import Session, close_gently
from chatserver.rules.moderation import Sanctions
from chatserver.rules.participant import Participant
from chatserver.rules.roomquota import RoomQuota
from common import messages as m
from common.nicks import nick_key
from common.tls import TLS_RECORD_HANDSHAKE, TlsError, TlsStream


class HostSeat(Protocol):
    """The interactive host's seat (``app/host.py``) as the server sees it (not imported: app is above net)."""

    def reserved(self, nick: str) -> bool: ...
    def connection_from(self, addr: tuple) -> None: ...
    def joined(self, who: Participant) -> None: ...
    def left(self, who: Participant, reason: str) -> None: ...


log = logging.getLogger(__name__)

#: At most this long (or --login-timeout, if shorter) to refuse a connection, TLS handshake included.
REFUSAL_DEADLINE = 3.0
#: Refusals in flight at once (each a thread for up to REFUSAL_DEADLINE); past it a refused
#: connection gets its words in one try, without waiting (none through TLS), and is closed.
MAX_REFUSING = 32
AUTH_DELAY_FIRST = 0.25  # seconds before answering a wrong password; doubles per failure
AUTH_DELAY_MAX = 8.0


class ChatServer:
    """A chat server on one port. ``start`` binds; ``shutdown`` really stops."""

    cluster_id: str | None = None  # with --cluster: the id its nodes share (advertised over mDNS); None alone
    cluster_node: str | None = None  # with --cluster: this node's id in the cluster
    page_port: int | None = None  # the chat page's port, once it is served (``web.py``)

    def __init__(self, config: ServerConfig, hub: Hub | None = None, backends: Backends | None = None) -> None:
        self.config = config
        backends = backends or memory_backends()
        self.hub: Hub = hub or LocalHub(keep=config.keep, broker=backends.broker)
        self.hub.quota = RoomQuota(config.rooms_per_hour)
        self.stopping = False
        self._stopped = threading.Event()
        # Signs resume tokens: kept in the store, so tokens outlive a restart.
        self._secret = backends.secrets.secret()
        #: Bans, mutes and /op grants, kept by the room log (``moderation.py``).
        self.sanctions = Sanctions(backends.moderation)
        self._per_ip: dict[str, int] = {}
        self._connections = 0  # accepted and not yet closed (sessions, and those about to be)
        self._refusing = 0  # refusals in flight, each in a thread of its own (at most MAX_REFUSING)
        self._auth_failures: dict[str, int] = {}
        self._sessions: set[Session] = set()
        self._lock = threading.Lock()
        self._listener: Listener | None = None
        #: More ways in (the web page's port): closed first on shutdown.
        self._extra_listeners: list[Listener] = []
        self._seq = itertools.count(1)
        #: The host's seat, when the server's own terminal takes part (``--interactive``).
        self.host_seat: HostSeat | None = None

    def start(self) -> tuple[str, int]:
        """Bind and start accepting in a background thread; returns the bound address."""
        self._listener = Listener.bind(
            self.config.host, self.config.port, lambda sock, addr: self.accept(sock, addr, self._serve_chat, _words)
        )
        self._listener.start("accept")
        flusher()  # started now, not on the first slow peer: a steady thread count
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.address

    def add_listener(self, listener: Listener) -> None:
        """Another port into this server (``web.py``); it stops with the server."""
        self._extra_listeners.append(listener)

    def accept(
        self,
        sock: socket.socket,
        addr: tuple,
        serve: Callable[[socket.socket, tuple], None],
        words: Callable[[str, str], bytes],
    ) -> None:
        """A new connection, in the accept thread (so this never waits for the peer): admitted, it
        is served in a thread of its own by ``serve``; over the limits, it is refused at once with
        ``words(code, text)``, the port's way of saying why."""
        if self.stopping:
            sock.close()
            return
        refusal = self.admit(addr[0])
        if refusal is not None:
            self._refuse_soon(sock, addr, refusal, words(*refusal))
            return
        if not spawn(self._serve_admitted, serve, sock, addr):
            self.release(addr[0])
            refuse_now(sock, b"")

    def _serve_admitted(self, serve: Callable[[socket.socket, tuple], None], sock: socket.socket, addr: tuple) -> None:
        try:
            serve(sock, addr)
        except Exception:
            log.exception("unexpected error serving %s", addr)
        finally:
            self.release(addr[0])
            sock.close()

    def _serve_chat(self, sock: socket.socket, addr: tuple) -> None:
        """Run one admitted connection of the chat port to its end (in its own thread)."""
        self.run_session(Session(self, sock, addr))

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

    def run_session(self, session: Session) -> None:
        """Run an admitted peer's session to its end, in its connection's thread."""
        if self.host_seat is not None:
            self.host_seat.connection_from(session.addr)
        self._run_session(session)

    def serve_host(self, sock: socket.socket) -> None:
        """Run the interactive host's connection: its private socket (see ``host.py``)
        is its credential, so it needs no TLS and counts against no limit."""
        session = Session(self, sock, sock.getpeername())
        session.seat_host()
        self._run_session(session)

    def _run_session(self, session: Session) -> None:
        """Run ``session`` to its end, known to ``shutdown`` meanwhile."""
        with self._lock:
            self._sessions.add(session)
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.discard(session)

    def reserved_for_host(self, nick: str, who: Participant) -> bool:
        """Is ``nick`` the host's name, which ``who`` may not take?"""
        return self.host_seat is not None and not who.is_host and self.host_seat.reserved(nick)

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
        """Say why (``words``), then close.

        On a TLS server a TLS client is answered inside TLS (plaintext would
        read as a broken record), after a handshake held to a short deadline,
        so a silent or slow peer cannot keep its refusal, and its thread, open.
        """
        log.warning("refused %s:%s: %s", addr[0], addr[1], refusal[1])
        deadline = time.monotonic() + min(REFUSAL_DEADLINE, self.config.login_timeout)

        def recv(size: int) -> bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no TLS handshake in time")
            sock.settimeout(left)
            return sock.recv(size)

        def sendall(data: bytes) -> None:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock.sendall(data)

        try:
            ctx = self.config.tls_context
            if ctx is not None and _first_byte(sock, self.config.plain_prompt_delay) == TLS_RECORD_HANDSHAKE:
                tls = TlsStream(ctx, recv, sendall, server_side=True)
                tls.handshake()
                tls.sendall(words)
            else:
                sendall(words)
        except (OSError, TlsError) as exc:
            log.debug("refusing %s:%s: %s", addr[0], addr[1], exc)
        close_gently(sock)

    def auth_failed(self, ip: str) -> float:
        """Count a wrong password from ``ip``; returns how long to make it wait."""
        with self._lock:
            failures = self._auth_failures.get(ip, 0) + 1
            if len(self._auth_failures) > 10_000:  # bounded: forget the oldest
                self._auth_failures.pop(next(iter(self._auth_failures)))
            self._auth_failures[ip] = failures
        return min(AUTH_DELAY_MAX, AUTH_DELAY_FIRST * 2 ** (failures - 1))

    def auth_succeeded(self, ip: str) -> None:
        with self._lock:
            self._auth_failures.pop(ip, None)

    def pause(self, seconds: float) -> None:
        """Sleep in a connection's thread, cut short by shutdown."""
        self._stopped.wait(seconds)

    def issue_token(self, nick: str) -> str:
        """A resume token for ``nick`` that this server run can later recognise."""
        nonce = secrets.token_hex(12)
        return nonce + "." + self._mac(nonce, nick)

    def token_is_ours(self, token: str | None, nick: str) -> bool:
        """True for a token ``issue_token`` gave ``nick`` in this very run."""
        nonce, _, mac = (token or "").partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._mac(nonce, nick))

    def _mac(self, nonce: str, nick: str) -> str:
        return hmac.new(self._secret, f"{nonce}/{nick_key(nick)}".encode(), "sha256").hexdigest()[:32]

    def next_seq(self) -> int:
        """Server-wide sequence for replies (reverse/ack modes) and guest names."""
        return next(self._seq)

    def participant_joined(self, who: Participant) -> None:
        if self.host_seat is not None:
            self.host_seat.joined(who)

    def participant_left(self, who: Participant, reason: str) -> None:
        if self.host_seat is not None:
            self.host_seat.left(who, reason)

    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def shutdown(self, reason: str = "server shutting down", timeout: float = 1.5, *, final: bool = False) -> None:
        """Stop accepting, tell every peer why, flush for up to ``timeout`` s, close.

        ``final``: the chat is over (the interactive host ended it), so clients
        should not come back; otherwise they reconnect, as after a restart.
        """
        self.stopping = True
        self.hub.closing()
        self._stopped.set()
        for listener in self._extra_listeners:
            listener.shutdown()
            listener.server_close()
        if self._listener is not None:
            self._listener.shutdown()
            self._listener.server_close()
        with self._lock:
            sessions = list(self._sessions)
        self.hub.flush(timeout=timeout / 3)  # what was accepted goes out before the goodbyes
        for session in sessions:
            try:
                session.end(reason, final=final)
            except Exception:  # one broken session must not keep the others open
                log.exception("while ending %s", getattr(session, "peer", session))
        deadline = time.monotonic() + timeout
        for session in sessions:
            session.outbox.close(timeout=max(0.0, deadline - time.monotonic()))
            try:
                session.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.hub.close()  # what was accepted is kept before the store closes
        log.info("stopped; %d session(s) closed", len(sessions))


def _words(code: str, text: str) -> bytes:
    """Why the chat port refuses, in both dialects (a native client skips the plain line)."""
    return f"* error: {text}\r\n".encode() + m.encode(m.Error(code, text)) + m.encode(m.Bye(text))


def _first_byte(sock: socket.socket, within: float) -> int | None:
    """The first byte the peer sends, left unread (None if it says nothing ``within`` s)."""
    sock.settimeout(within)
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return None
    return data[0] if data else None
