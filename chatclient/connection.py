"""The client's side of one connection: socket I/O around the protocol machine.

``ChatConnection.open`` connects and completes the handshake; afterwards a
single receiver thread calls ``next_message`` while any thread may ``send``.
Failures surface as ``ClientError`` with a one-line, user-facing message.
"""

from __future__ import annotations

import errno
import socket
import threading

from common import messages as m
from common.connection import CLOSED, NEED_DATA, Connection, Role
from common.errors import RemoteProtocolError

CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 15.0


class ClientError(Exception):
    """A failure to report to the user in one line (exit status 1)."""


class NickRejected(ClientError):
    """The server refused our nickname; ``suggestion`` may name a free one."""

    def __init__(self, message: str, suggestion: str | None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    names = {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET: "connection reset"}
    return names.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ChatConnection:
    def __init__(self, sock: socket.socket, host: str, port: int) -> None:
        self.sock = sock
        self.host, self.port = host, port
        self.proto = Connection(Role.CLIENT)
        self._send_lock = threading.Lock()

    @classmethod
    def connect(cls, host: str, port: int) -> ChatConnection:
        try:
            sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ClientError(f"could not connect to {format_address(host, port)}: {_reason(exc)}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, host, port)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def hello(self, nick: str, *, resume: str | None = None, last_seq: int | None = None) -> m.Welcome:
        """Send ``hello`` and wait for the verdict; raises ``NickRejected`` or ``ClientError``.

        ``resume``/``last_seq`` come from the previous connection when reconnecting.
        """
        self.sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            self.send(
                m.Hello(version=m.PROTOCOL_VERSION, nick=nick, client="chatclient", resume=resume, last_seq=last_seq)
            )
            while True:
                msg = self.next_message(skip_garbage=True)
                if isinstance(msg, m.Welcome):
                    self.sock.settimeout(None)
                    return msg
                if isinstance(msg, m.Error):
                    if msg.code in ("nick_taken", "invalid_nick"):
                        raise NickRejected(msg.message, msg.suggestion)
                    raise ClientError(f"the server refused us: {msg.message}")
                if isinstance(msg, m.Bye) or msg is None:
                    raise ClientError(f"the server at {self.address} closed the connection")
        except OSError as exc:
            raise ClientError(f"connection to {self.address} failed: {_reason(exc)}") from None

    def send(self, msg: m.Message) -> None:
        with self._send_lock:
            data = self.proto.send(msg)
            try:
                self.sock.sendall(data)
            except OSError as exc:
                raise ClientError(f"connection lost: {_reason(exc)}") from None

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
                    data = self.sock.recv(65536)
                except OSError as exc:
                    if isinstance(exc, socket.timeout):
                        raise
                    raise ClientError(f"connection lost: {_reason(exc)}") from None
                self.proto.receive_data(data)
                continue
            if event is CLOSED:
                return None
            assert isinstance(event, m.Message)
            return event

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
