"""A scripted server on loopback, for testing the client against exact frames
(a real socket; the test decides what the server says, and whether it reads)."""

from __future__ import annotations

import socket
import ssl

from helpers import TIMEOUT, NativeClient

from common import messages as m


class FakePeer(NativeClient):
    """The server's end of one client connection, speaking JSON frames."""

    def __init__(self, sock: socket.socket) -> None:  # (no connect: accepted)
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.lines: list[bytes] = []
        self.welcome = None

    def send_msg(self, msg: m.Message) -> None:
        self.send(m.encode(msg))

    def greet(self, nick: str | None = None, **fields) -> dict:
        """Read the client's hello and welcome it (``fields`` override the welcome's)."""
        hello = self.expect(lambda f: f["type"] == "hello")
        welcome = dict(
            version=m.PROTOCOL_VERSION,
            server="fake",
            nick=nick or hello["nick"],
            room="#lobby",
            users=[nick or hello["nick"]],
            mode="chat",
            exit_words=["bye"],
            token="token-1",
            topic="",
        )
        welcome.update(fields)
        self.send_msg(m.Welcome(**welcome))
        return hello


class FakeServer:
    def __init__(self, rcvbuf: int | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.listener = socket.socket()
        if rcvbuf:  # inherited by accepted sockets: a server that takes little at a time
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    def accept(self, timeout: float = TIMEOUT) -> FakePeer:
        self.listener.settimeout(timeout)
        sock, _ = self.listener.accept()
        if self.tls is not None:
            sock.settimeout(timeout)
            sock = self.tls.wrap_socket(sock, server_side=True)
        return FakePeer(sock)

    def close(self) -> None:
        self.listener.close()
