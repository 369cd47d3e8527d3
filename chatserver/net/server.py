"""The chat server: its ports, the set of live sessions, and a shutdown that stops.

Every port is the same stack, built once: a ``Listener`` (TCP) hands each
connection to the server's one ``Admission``, which serves an admitted one
in a thread of its own as a ``Stream`` (TLS sniffed there, once); a ``Session``
runs the port's dialect on it (``dialects/``; the chat port's is ``CHAT_PORT``)
into its ``Participant`` and the core. The chat
port is opened by ``start``; others (the page's, ``web.py``) by ``open_port``.
Then the resume tokens, and a shutdown that tells every peer why before closing.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from chatserver.accounts.service import Accounts
from chatserver.accounts.throttle import Throttle
from chatserver.backends.accounts import MemoryAccounts
from chatserver.backends.markers import MarkerStore, MemoryMarkers
from chatserver.backends.memory import memory_backends
from chatserver.backends.ports import Backends
from chatserver.config import ServerConfig
from chatserver.core.hub import Hub, LocalHub
from chatserver.core.roomquota import RoomQuota
from chatserver.net.admission import Admission, Serve, Words
from chatserver.net.dialects.chatport import CHAT_PORT
from chatserver.net.listener import Listener
from chatserver.net.outbound import flusher
from chatserver.net.session import Session
from chatserver.net.stream import Stream
from chatserver.net.threadmemory import one_malloc_arena
from chatserver.rules.moderation import Sanctions
from chatserver.rules.participant import Participant
from common import messages as m
from common.lookalike import load as load_lookalikes
from common.nicks import nick_key


class HostSeat(Protocol):
    """The interactive host's seat (``app/host.py``) as the server sees it (not imported: app is above net)."""

    def reserved(self, nick: str) -> bool: ...
    def connection_from(self, addr: tuple) -> None: ...
    def joined(self, who: Participant) -> None: ...
    def left(self, who: Participant, reason: str) -> None: ...


log = logging.getLogger(__name__)

AUTH_DELAY_FIRST = 0.25  # seconds before answering a wrong password; doubles per failure
AUTH_DELAY_MAX = 8.0


class ChatServer:
    """A chat server: ``start`` opens the chat port (``open_port`` more); ``shutdown`` really stops."""

    cluster_id: str | None = None  # with --cluster: the id its nodes share (advertised over mDNS); None alone
    cluster_node: str | None = None  # with --cluster: this node's id in the cluster
    page_port: int | None = None  # the chat page's port, once it is served (``web.py``)

    def __init__(
        self,
        config: ServerConfig,
        hub: Hub | None = None,
        backends: Backends | None = None,
        accounts: Accounts | None = None,
        markers: MarkerStore | None = None,
    ) -> None:
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
        #: File sharing (``files.sharing.Sharing``), set when the page's port opens (``web.py``).
        self.files: object | None = None
        #: Accounts (``--accounts``): the store given (the program's: SQLite, Redis), else in memory.
        if accounts is None and config.accounts != "off":
            accounts = Accounts(MemoryAccounts(), required=config.accounts == "required", ops=config.ops)
        self.accounts: Accounts | None = None if config.accounts == "off" else accounts
        #: The accounts' read markers, shared by their devices: the store given (SQLite, Redis), else in memory.
        self.markers: MarkerStore | None = None if self.accounts is None else markers or MemoryMarkers()
        #: Who may connect, on every port (``admission.py``).
        self.admission = Admission(config, lambda: self.stopping)
        #: Wrong server passwords per address (the accounts' logins use the same ``Throttle``).
        self._auth_failures = Throttle(first=AUTH_DELAY_FIRST, longest=AUTH_DELAY_MAX, forget_after=float("inf"))
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
        one_malloc_arena()  # (before any connection's thread: see threadmemory.py)
        load_lookalikes()  # now, not in the first registration (and not counted in its memory)
        self._listener = self._bind(self.config.host, self.config.port, self._serve_chat, _words)
        self._listener.start("accept")
        flusher()  # started now, not on the first slow peer: a steady thread count
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.address

    def open_port(self, host: str, port: int, serve: Serve, words: Words, name: str) -> Listener:
        """Another way in (the page's port, ``web.py``): its connections pass the same admission
        and arrive at ``serve`` as a ``Stream`` in a thread of their own; ``words(code, text)``
        refuses in its dialect. Accepting starts at once; the port closes with the server."""
        listener = self._bind(host, port, serve, words)
        self._extra_listeners.append(listener)
        listener.start(name)
        return listener

    def _bind(self, host: str, port: int, serve: Serve, words: Words) -> Listener:
        return Listener.bind(host, port, lambda sock, addr: self.admission.accept(sock, addr, serve, words))

    def _serve_chat(self, stream: Stream) -> None:
        """Run one admitted connection of the chat port to its end (in its own thread)."""
        session = Session(self, stream.sock, stream.addr, stream, dialect=CHAT_PORT)
        with self._running(session):
            session.run()

    def run_session(self, session: Session) -> None:
        """Run an admitted peer's session to its end, in its connection's thread (the page's
        and the IRC port's; the chat port's is ``_serve_chat``)."""
        with self._running(session):
            session.run()

    def serve_host(self, sock: socket.socket) -> None:
        """Run the interactive host's connection: its private socket (see ``host.py``)
        is its credential, so it needs no TLS and counts against no limit."""
        session = Session(self, sock, sock.getpeername(), dialect=CHAT_PORT)
        session.participant.seat_host()
        with self._running(session):
            session.run()

    @contextlib.contextmanager
    def _running(self, session: Session) -> Iterator[None]:
        """While ``session`` runs: known to ``shutdown``, and the host told of it (not of its own).

        A context around ``session.run()``, not a function calling it: every connection
        registers from under that call, and each frame between its thread's start and its
        greeting is paid by every idle connection (``threadmemory.py``)."""
        if self.host_seat is not None and not session.participant.is_host:
            self.host_seat.connection_from(session.addr)
        with self._lock:
            self._sessions.add(session)
        try:
            yield
        finally:
            with self._lock:
                self._sessions.discard(session)

    def reserved_for_host(self, nick: str, who: Participant) -> bool:
        """Is ``nick`` the host's name, which ``who`` may not take?"""
        return self.host_seat is not None and not who.is_host and self.host_seat.reserved(nick)

    def auth_failed(self, ip: str) -> float:
        """Count a wrong password from ``ip``; returns how long to make it wait."""
        return self._auth_failures.failed(ip)

    def auth_succeeded(self, ip: str) -> None:
        self._auth_failures.succeeded(ip)

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
        for session in sessions:  # why, after what was accepted (queued in its turn)
            try:
                session.tell_ending(reason, final=final)
            except Exception:  # one broken session must not keep the others open
                log.exception("while ending %s", getattr(session, "peer", session))
        # One wait for all of it, not one a session: behind slow peers each would
        # take its whole timeout, and a stop asked for by a signal must happen.
        self.hub.flush(timeout=timeout * 2 / 3)
        for session in sessions:
            try:
                session.bye_now(reason)
            except Exception:
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
