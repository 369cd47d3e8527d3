"""The client's side of one connection: socket I/O around the protocol machine.

``ChatConnection.connect`` connects (and does the TLS handshake), ``hello``
registers; afterwards a single receiver thread calls ``next_message`` while
one thread at a time writes with ``send``, which waits for the socket: once
the session runs, that is its outbox thread (``outbox.Outbox``; the receiver
writes only while registering again: the hello, a pong during the replay), so
the receiver and the UI never wait on a server that stops reading, and what
the user typed waits in one queue, the outbox's, not also in a second one
here. A failed write breaks the link, so the receiver notices. Failures
surface as ``ClientError`` with a one-line, user-facing message.
"""

from __future__ import annotations

import errno
import socket
import threading

from common import messages as m
from common.connection import CLOSED, NEED_DATA, Connection, Role
from common.errors import LocalProtocolError, RemoteProtocolError
from common.safetext import neutralise
from common.tls import TlsError, TlsStream, fingerprint

from .addresses import DEFAULT_PORT, format_address
from .errors import (
    AccountRequired,
    Banned,
    CertificateMismatch,
    ClientError,
    LoginRefused,
    NameRegistered,
    NickRejected,
    NotTrusted,
    PasswordRequired,
    Throttled,
    Unavailable,
    WrongPassword,
)
from .trust import CertificateChanged, TlsOptions

CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 15.0
#: The longest a login held by the server's throttle is waited for before trying again (its own cap is 5 min).
MAX_THROTTLE = 300.0
#: How long a server that closed on our hello has to answer an HTTP request.
PROBE_TIMEOUT = 5.0


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    names = {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET: "connection reset"}
    return names.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()


def _answers_http(host: str, port: int) -> bool:
    """Does ``host:port`` serve a page (asked after a silent close, so as not to misname a web port)?
    A chat port answers an HTTP request too, with a 400: only a success, a redirect, or a 421 (a
    web server that goes by another name than the one we used) counts."""
    head = b""
    request = f"HEAD / HTTP/1.1\r\nHost: {format_address(host, port)}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as probe:
            probe.sendall(request.encode("ascii", "replace"))
            while len(head) < 12 and (data := probe.recv(12 - len(head))):
                head += data
    except OSError:
        return False
    return head.startswith(b"HTTP/") and (head[9:10] in (b"2", b"3") or head[9:12] == b"421")  # HTTP/1.1 200


class ChatConnection:
    def __init__(self, sock: socket.socket, host: str, port: int, tls: TlsOptions | None = None) -> None:
        self.sock = sock
        self.host, self.port = host, port
        self.tls = tls
        self.proto = Connection(Role.CLIENT)
        self._send_lock = threading.Lock()  # frames are written in the order the state machine saw them
        self._recv = sock.recv
        self._sendall = sock.sendall
        self._write_error: str | None = None
        #: Set on a first TLS connection: the fingerprint that is now remembered.
        self.new_fingerprint: str | None = None
        self._first_bytes = b""  # the start of what the server sent (an HTTP answer: not a chat server)

    @classmethod
    def connect(cls, host: str, port: int, tls: TlsOptions | None = None) -> ChatConnection:
        try:
            sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ClientError(f"could not connect to {format_address(host, port)}: {_reason(exc)}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(sock, host, port, tls)
        if tls is not None:
            try:
                conn._start_tls(tls)
            except BaseException:
                conn.close()
                raise
        return conn

    def _start_tls(self, tls: TlsOptions) -> None:
        stream = TlsStream(
            tls.context(), self.sock.recv, self.sock.sendall, server_side=False, server_hostname=self.host
        )
        hint = " (is the server started with --tls?)"
        try:
            stream.handshake()
        except TlsError as exc:
            why = str(exc).removeprefix("TLS handshake failed: ")
            raise ClientError(
                f"TLS with {self.address} failed: {why}{'' if exc.code == 'tls_verify' else hint}"
            ) from None
        except OSError as exc:
            raise ClientError(f"TLS with {self.address} failed: {_reason(exc)}{hint}") from None
        if tls.cafile is None:
            der = stream.peer_certificate()
            if der is None:  # pragma: no cover - a TLS server always has one
                raise ClientError(f"{self.address} presented no certificate")
            seen = fingerprint(der)
            try:
                if not tls.known_servers.knows(self.address) and tls.confirm is not None:
                    if not tls.confirm(self.address, seen):
                        raise NotTrusted(f"the certificate of {self.address} was not trusted; not connecting")
                if tls.known_servers.check(self.address, seen):
                    self.new_fingerprint = seen
            except CertificateChanged as exc:
                raise CertificateMismatch(str(exc)) from None
        self._recv = stream.recv
        self._sendall = stream.sendall

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def hello(
        self,
        nick: str,
        *,
        resume: str | None = None,
        last_seq: int | None = None,
        password: str | None = None,
        room: str | None = None,
        epoch: str | None = None,
        others: list[tuple[str, str | None, int | None]] | None = None,
        login_token: str | None = None,
        account_password: str | None = None,
    ) -> m.Welcome:
        """Send ``hello`` and wait for the verdict; raises ``NickRejected`` or ``ClientError``.

        When reconnecting: ``resume`` is the last token the server gave us, and
        ``room``, ``epoch``, ``last_seq`` where we were (docs/protocol.md, Reconnecting),
        and ``others`` the other rooms we were in: (room, epoch, last seq).
        ``login_token`` (a remembered login) or ``account_password`` (the account named ``nick``)
        log in as we arrive: ``LoggedIn`` follows the welcome, or ``LoginRefused`` is raised.
        """
        others = others or []
        self.sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            self.send(
                m.Hello(
                    version=m.PROTOCOL_VERSION,
                    nick=nick,
                    client="chatclient",
                    resume=resume,
                    last_seq=last_seq,
                    password=password,
                    room=room,
                    epoch=epoch,
                    rooms=[r for r, _, _ in others] or None,
                    epochs=[e or "" for _, e, _ in others] or None,
                    last_seqs=[-1 if s is None else s for _, _, s in others] or None,
                    login_token=login_token,
                    account_password=account_password,
                )
            )
            while True:
                try:
                    msg = self.next_message(skip_garbage=True)
                except ClientError as exc:
                    raise (self._web_port() or exc) from None
                if isinstance(msg, m.Welcome):
                    self.sock.settimeout(None)
                    return msg
                if isinstance(msg, m.Error):
                    if msg.code == "name_registered":
                        raise NameRegistered(msg.message, msg.suggestion)
                    if msg.code == "bad_login":
                        raise LoginRefused(msg.message)
                    if msg.code == "throttled":
                        raise Throttled(neutralise(msg.message), min(max(msg.wait or 1.0, 0.5), MAX_THROTTLE))
                    if msg.code == "accounts_required":
                        raise AccountRequired(f"{self.address}: {msg.message}")
                    if msg.code in ("nick_taken", "invalid_nick"):
                        raise NickRejected(msg.message, msg.suggestion)
                    if msg.code == "password_required":
                        raise PasswordRequired(msg.message)
                    if msg.code == "banned":
                        raise Banned(msg.message)
                    if msg.code == "bad_password":
                        raise WrongPassword(f"the server refused us: {msg.message}")
                    if msg.code == "cluster_unavailable":
                        raise Unavailable(f"{self.address} cannot take us now: {neutralise(msg.message)}")
                    if msg.code == "tls_required":
                        raise ClientError(f"{self.address} requires TLS: connect with --tls")
                    raise ClientError(f"the server refused us: {msg.message}")
                if isinstance(msg, m.Bye) or msg is None:
                    raise self._web_port() or ClientError(f"the server at {self.address} closed the connection")
        except OSError as exc:
            raise ClientError(f"connection to {self.address} failed: {_reason(exc)}") from None

    def _web_port(self) -> ClientError | None:
        """The address is a web server's, likely the chat page's port: it answered our
        hello in HTTP, or closed without a word and answers an HTTP request."""
        if not self._first_bytes.startswith(b"HTTP/") and (
            self._first_bytes or not _answers_http(self.host, self.port)
        ):
            return None
        return ClientError(
            f"{self.address} is a web server (the chat page's port? open http://{self.address}/ in a browser), "
            f"not the chat port: chatclient needs the port chatserver says it is listening on "
            f"({DEFAULT_PORT} unless it was started with --port)"
        )

    def send(self, msg: m.Message) -> None:
        """Write ``msg``, waiting until the socket took it; a failure breaks the
        link (the receiver notices) and raises ``ClientError``."""
        with self._send_lock:
            if self._write_error:
                raise ClientError(self._write_error)
            try:
                data = self.proto.send(msg)
            except LocalProtocolError:  # the server said bye (another thread saw it): the link is over
                raise ClientError("connection closed by the server") from None
            try:
                self._sendall(data)
            except (OSError, TlsError) as exc:
                if isinstance(exc, socket.timeout):
                    raise  # (the handshake's deadline: hello reports it)
                self._write_failed(exc)
                raise ClientError(self._write_error or "connection lost") from None

    def _write_failed(self, exc: OSError | TlsError) -> None:
        """A write failed: break the link, so the receiver stops waiting for
        data and reports this reason."""
        why = str(exc) if isinstance(exc, TlsError) else _reason(exc)
        self._write_error = f"connection lost: {why}"
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def next_message(self, *, skip_garbage: bool = False) -> m.Message | None:
        """The next message from the server, or None when it closed the stream.

        Before the welcome, non-protocol lines (the prompt the server shows
        nc users) are skipped; afterwards a bad frame is an error.
        """
        while True:
            try:
                event = self.proto.next_event()
            except RemoteProtocolError as exc:
                if skip_garbage and not exc.fatal:
                    continue
                raise ClientError(f"the server sent something invalid: {exc}") from None
            if event is NEED_DATA:
                try:
                    data = self._recv(65536)
                except TlsError as exc:
                    raise ClientError(self._write_error or f"connection lost: {exc}") from None
                except OSError as exc:
                    if isinstance(exc, socket.timeout):
                        raise
                    raise ClientError(self._write_error or f"connection lost: {_reason(exc)}") from None
                if len(self._first_bytes) < 8:
                    self._first_bytes += data[: 8 - len(self._first_bytes)]
                self.proto.receive_data(data)
                continue
            if event is CLOSED:
                if self._write_error:  # we broke the link ourselves, for this reason
                    raise ClientError(self._write_error)
                return None
            assert isinstance(event, m.Message)
            return event

    def close(self) -> None:
        """Break the link (a write waiting on the socket fails at once)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
