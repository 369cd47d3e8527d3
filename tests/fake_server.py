"""A scripted server on loopback, for testing the client against exact frames
(a real socket; the test decides what the server says, and whether it reads)."""

from __future__ import annotations

import socket
import ssl
import threading

from helpers import TIMEOUT, NativeClient

from chatclient.connection import ChatConnection
from chatclient.session import ChatSession
from chatclient.trust import TlsOptions
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


class GateClock:
    """A clock for the reconnect backoff: each wait takes no real time, but
    only starts once the test opened the gate (what the user types before
    that is typed while disconnected)."""

    def __init__(self, open_: bool = True) -> None:
        self.gate = threading.Event()
        if open_:
            self.gate.set()
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return sum(self.waits)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        while not self.gate.wait(0.05):
            if stop.is_set():
                return True
        return stop.is_set()


def session_on(
    fake: FakeServer,
    nick: str = "typist",
    tls: TlsOptions | None = None,
    welcome: dict | None = None,
    **session_kw,
) -> tuple[ChatSession, FakePeer, list[m.Message]]:
    """A ChatSession of this checkout, registered with a fake server (``welcome``
    overrides fields of its welcome); returns it, the server's end, and what it shows."""
    conns: list[ChatConnection] = []
    connect = threading.Thread(target=lambda: conns.append(ChatConnection.connect("127.0.0.1", fake.port, tls)))
    connect.start()  # (a TLS handshake needs both sides at once)
    peer = fake.accept()
    connect.join(TIMEOUT)
    conn = conns[0]
    answer: list[m.Welcome] = []
    hello = threading.Thread(target=lambda: answer.append(conn.hello(nick)), daemon=True)
    hello.start()
    peer.greet(**(welcome or {}))
    hello.join(TIMEOUT)
    shown: list[m.Message] = []
    session = ChatSession(conn, answer[0], show=shown.append, **{"reconnect": False, **session_kw})
    session.start()
    return session, peer, shown


def notices(shown: list[m.Message]) -> list[str]:
    return [msg.text for msg in shown if isinstance(msg, m.Notice)]
