"""The chat page's port: its routes (the page's files, and ``/ws`` into a session) on the HTTP dialect.

A browser on the LAN opens ``http://HOST:5080/`` and gets a page (plain HTML,
CSS and JavaScript shipped in ``chatserver/static``) that talks to this
server over a WebSocket at ``/ws`` carrying the native frames (see
``dialects/websocket.py``): once upgraded, the connection runs the same ``Session`` as
the chat port. Like the chat port, a thread per connection, and every
connection counts against ``--max-clients`` and ``--max-per-ip`` for as long
as it is open; one over the limit is answered ``503`` at once, before any
request (``Admission.accept``), with the reason as one line of text.

HTTP is hostile input (see ``dialects/http.py`` for the limits every request
meets): only ``GET``/``HEAD`` of the few files named in ``FILES`` are served,
a request must name this server in its ``Host`` (one of its addresses or
names, or a ``--web-host``), and ``/ws`` opens only from this server's own
page (``Origin`` must be the page's own address, as the accepted ``Host``
says; 403 else). File transfers (``transfers.py``) add their routes to ``WebServer.routes``.
With ``--tls`` the whole port speaks TLS with the chat port's certificate.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import importlib.resources
import json
import logging
import ssl
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import h11
from wsproto.utilities import generate_accept_token

from chatserver.files.sharing import Sharing
from chatserver.net.dialects.http import (
    HEAD_DEADLINE,
    HttpConnection,
    Refused,
    Route,
    Routes,
    bare_host,
    header,
    tokens,
)
from chatserver.net.dialects.websocket import WebSocketDialect
from chatserver.net.listener import Listener
from chatserver.net.roomwatch import RoomWatch
from chatserver.net.session import Session
from chatserver.net.stream import Stream

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

log = logging.getLogger(__name__)

DEFAULT_WEB_PORT = 5080

#: What the page may do: its own script and style, its own WebSocket, nothing inline, no frames around it.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
#: URL path -> file in chatserver/static, and its type. Nothing else is served.
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/text.js": ("text.js", "text/javascript; charset=utf-8"),
    "/panel.js": ("panel.js", "text/javascript; charset=utf-8"),
    "/kept.js": ("kept.js", "text/javascript; charset=utf-8"),
    "/files.js": ("files.js", "text/javascript; charset=utf-8"),
    "/account.js": ("account.js", "text/javascript; charset=utf-8"),
    "/conversations.js": ("conversations.js", "text/javascript; charset=utf-8"),
    "/markers.js": ("markers.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


@dataclasses.dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: bytes


def load_files() -> dict[str, StaticFile]:
    """The page's files, read once from the installed package."""
    root = importlib.resources.files("chatserver") / "static"
    files = {}
    for path, (name, ctype) in FILES.items():
        body = (root / name).read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        files[path] = StaticFile(body, ctype, etag)
    return files


class WebServer:
    """The page's port for one ``ChatServer``; ``start`` binds, the chat server's shutdown closes it."""

    security_headers = SECURITY_HEADERS
    #: File sharing on this port (``net/transfers.py``'s routes), when the program set it up.
    sharing: Sharing | None = None

    def __init__(self, chat: ChatServer, host: str, port: int, names: Iterable[str] = ()) -> None:
        self.chat = chat
        self.host = host
        self.port = port
        self.files = load_files()
        self._listener: Listener | None = None
        #: The ``Host`` names requests may carry (besides this connection's own address: see
        #: ``HttpConnection._known_host``): this machine's and those given with ``--web-host``.
        self.names = {bare_host(name) for name in names}
        #: What is served: each of the page's files, and its WebSocket.
        self.routes = Routes()
        for path, file in self.files.items():
            self.routes.add(path, Route(_serve_file(file)))
        self.routes.add("/ws", Route(self._upgrade))
        self.routes.add("/info", Route(self._info))
        #: Tells the pages when the rooms changed (their room list is live).
        self.roomwatch = RoomWatch(lambda: self.chat.hub.rooms())
        #: The chat page's addresses on the cluster's other living nodes (a cluster node's program
        #: sets it: ``cluster/pages.py``); the page moves to one when its node dies.
        self.peers: Callable[[], list[str]] = list

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        return self.chat.config.tls_context

    @property
    def scheme(self) -> str:
        return "https" if self.tls_context is not None else "http"

    @property
    def head_deadline(self) -> float:
        return min(HEAD_DEADLINE, self.chat.config.login_timeout)

    def start(self) -> tuple[str, int]:
        self._listener = self.chat.open_port(self.host, self.port, self.serve, refusal_response, "web-accept")
        self.chat.page_port = self._listener.address[1]
        return self._listener.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.address

    def serve(self, stream: Stream) -> None:
        """Run one admitted connection of the page's port to its end (in its own thread)."""
        HttpConnection(self, stream).run()

    def info(self) -> dict[str, object]:
        """What the page learns before its first join: the server's name, whether a password is
        needed, and where the cluster's other nodes serve the page."""
        config = self.chat.config
        try:
            nodes = self.peers()
        except Exception as exc:  # (the cluster's Redis away, say): none known now, asked again later
            log.debug("web: the other nodes' pages: %s", exc)
            nodes = []
        return {"name": config.name, "password": config.password is not None, "nodes": nodes}

    def _info(self, conn: HttpConnection, request: h11.Request) -> None:
        """``/info``: ``info()`` as JSON, never kept (a restart may change it)."""
        body = json.dumps(self.info()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"cache-control", b"no-store"),
            (b"content-length", str(len(body)).encode()),
            *SECURITY_HEADERS,
        ]
        conn.respond(200, headers, body)

    def _upgrade(self, conn: HttpConnection, request: h11.Request) -> None:
        """``/ws``: the page's WebSocket, from the page itself; the connection becomes a session."""
        if request.method != b"GET" or b"websocket" not in tokens(request, b"upgrade"):
            raise Refused(426, "this address is for the chat page's WebSocket", [(b"upgrade", b"websocket")])
        if b"upgrade" not in tokens(request, b"connection"):
            raise Refused(400, "a WebSocket upgrade needs Connection: Upgrade")
        if header(request, b"sec-websocket-version") != b"13":
            raise Refused(426, "WebSocket version 13 only", [(b"sec-websocket-version", b"13")])
        key = header(request, b"sec-websocket-key")
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid_key = False
        if not valid_key:
            raise Refused(400, "a WebSocket upgrade needs a valid Sec-WebSocket-Key")
        origin = header(request, b"origin").decode("latin-1").lower()
        own = f"{self.scheme}://{header(request, b'host').decode('latin-1').lower()}"
        if origin != own:
            raise Refused(403, "only this server's own chat page may open its WebSocket")
        trailing = conn.switch(
            [
                (b"upgrade", b"websocket"),
                (b"connection", b"Upgrade"),
                (b"sec-websocket-accept", generate_accept_token(key)),
            ]
        )
        log.info("web %s: WebSocket opened", conn.peer)
        dialect = WebSocketDialect(max_frame=self.chat.config.max_frame, trailing=trailing)
        stream = conn.stream
        session = Session(self.chat, stream.sock, stream.addr, stream=stream, dialect=dialect)
        self.roomwatch.add(session.participant)
        try:
            self.chat.run_session(session)
        finally:
            self.roomwatch.discard(session.participant)


def _serve_file(file: StaticFile):  # noqa: ANN202 - a route's handler
    """The route of one of the page's files: kept by the browser, checked each time (``ETag``)."""

    def serve(conn: HttpConnection, request: h11.Request) -> None:
        headers = [
            (b"content-type", file.content_type.encode()),
            (b"cache-control", b"no-cache"),  # kept, but checked each time: a new version shows at once
            (b"etag", file.etag),
            *SECURITY_HEADERS,
        ]
        if header(request, b"if-none-match") == file.etag:
            conn.respond(304, headers)
            return
        headers.append((b"content-length", str(len(file.body)).encode()))
        conn.respond(200, headers, file.body)

    return serve


def refusal_response(code: str, text: str) -> bytes:
    """A connection over the limits: ``503`` with the reason as one line of text, sent at once,
    before any request (``code`` is the native one; the text says it in words)."""
    body = f"{text}\n".encode()
    head = [
        "HTTP/1.1 503 Service Unavailable",
        "content-type: text/plain; charset=utf-8",
        f"content-length: {len(body)}",
        "connection: close",
        "cache-control: no-store",
        "retry-after: 10",
        *(f"{name.decode()}: {value.decode()}" for name, value in SECURITY_HEADERS),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
