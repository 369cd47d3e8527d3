"""The chat page's port: static files over HTTP (``h11``), and ``/ws`` into a session.

A browser on the LAN opens ``http://HOST:5080/`` and gets a page (plain HTML,
CSS and JavaScript shipped in ``chatserver/static``) that talks to this
server over a WebSocket at ``/ws`` carrying the native frames (see
``websocket.py``): once upgraded, the connection runs the same ``Session`` as
the chat port. Like the chat port, a thread per connection, and every
connection counts against ``--max-clients`` and ``--max-per-ip`` for as long
as it is open; one over the limit is answered ``503`` at once, before any
request (``ChatServer.accept``), with the reason as one line of text.

HTTP is hostile input: the request head has a size limit and a deadline, only
``GET``/``HEAD`` of the few files named in ``FILES`` are served (anything else
is 404: there is no file system path to traverse), a request must name this
server in its ``Host`` (one of its addresses or names, or a ``--web-host``;
421 else: a name rebound by someone else's DNS is not ours), and ``/ws`` opens
only from this server's own page (``Origin`` must be the page's own address,
as the accepted ``Host`` says; 403 else).
With ``--tls`` the whole port speaks TLS with the chat port's certificate.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import http
import importlib.resources
import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import h11
from wsproto.utilities import generate_accept_token

from chatserver.app.netinfo import own_addresses, own_names
from chatserver.net.listener import Listener
from chatserver.net.session import Session, close_gently
from chatserver.net.websocket import RawIO, WebSocketTransport
from common.tls import TLS_RECORD_HANDSHAKE, TlsError, TlsStream

if TYPE_CHECKING:
    from chatserver.net.server import ChatServer

log = logging.getLogger(__name__)

DEFAULT_WEB_PORT = 5080
MAX_HEAD = 8 * 1024  # bytes: request line and headers together, the blank line included (431 over it)
MAX_TARGET = 2048  # bytes in the request target (414 over it)
HEAD_DEADLINE = 10.0  # seconds to send a whole request head, the first or the next on a kept-alive connection
SEND_TIMEOUT = 10.0  # seconds a response may take to leave (static files are small)
RECV_SIZE = 16 * 1024

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

    def __init__(self, chat: ChatServer, host: str, port: int, names: Iterable[str] = ()) -> None:
        self.chat = chat
        self.host = host
        self.port = port
        self.files = load_files()
        self._listener: Listener | None = None
        #: The ``Host`` names requests may carry (besides this connection's own address: see
        #: ``_known_host``): those given with ``--web-host``, and from ``start`` this machine's.
        self.names = {_bare_host(name) for name in names}

    @property
    def tls(self) -> bool:
        return self.chat.config.tls_context is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def start(self) -> tuple[str, int]:
        self._listener = Listener.bind(
            self.host, self.port, lambda sock, addr: self.chat.accept(sock, addr, self.serve, refusal_response)
        )
        self.chat.add_listener(self._listener)
        self._listener.start("web-accept")
        self.names |= own_names(self.chat.address[1]) | own_addresses(self.host)
        self.chat.page_port = self._listener.address[1]
        return self._listener.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.address

    def serve(self, sock: socket.socket, addr: tuple) -> None:
        """Run one admitted connection of the page's port to its end (in its own thread)."""
        _HttpConnection(self, sock, addr).run()


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


class _Refused(Exception):
    """The request is answered with an error status and the connection closed."""

    def __init__(self, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or []


class _HttpConnection:
    """One connection to the page's port: requests until it closes or upgrades to ``/ws``."""

    def __init__(self, web: WebServer, sock: socket.socket, addr: tuple) -> None:
        self.web = web
        self.sock = sock
        self.addr = addr
        self.peer = f"{addr[0]}:{addr[1]}"
        self.deadline = 0.0
        self.io = RawIO(self._recv, self._send)
        self.tls: TlsStream | None = None
        # h11 checks its limit only while a head is unfinished: a longer head that arrives whole in
        # one read passes. So no more than MAX_HEAD bytes of a head are ever given to it (the rest
        # waits in ``_unfed``), and an unfinished head of MAX_HEAD bytes is one too long.
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD - 1)
        self._unfed = b""  # read from the peer, not yet given to h11

    def run(self) -> None:
        try:
            self._start_tls()
            while self._one_request():
                self.http.start_next_cycle()
        except (OSError, TlsError, h11.LocalProtocolError) as exc:
            log.debug("web %s: %s", self.peer, exc)
        finally:
            if self.sock.fileno() >= 0:
                close_gently(self.sock)

    # -- raw I/O with deadlines (until a session takes the socket over) ----
    def _recv(self, size: int) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not finished in time")
        self.sock.settimeout(left)
        return self.sock.recv(size)

    def _send(self, data: bytes) -> None:
        self.sock.settimeout(SEND_TIMEOUT)
        self.sock.sendall(data)

    def _read_plain(self) -> bytes:
        return self.tls.recv(RECV_SIZE) if self.tls is not None else self._recv(RECV_SIZE)

    def _write_plain(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.sendall(data)
        else:
            self._send(data)

    def _start_tls(self) -> None:
        ctx = self.web.chat.config.tls_context
        if ctx is None:
            return
        self.deadline = time.monotonic() + self._head_deadline()
        self.sock.settimeout(self._head_deadline())
        first = self.sock.recv(1, socket.MSG_PEEK)
        if first and first[0] != TLS_RECORD_HANDSHAKE:
            self.plain_on_tls = True  # answered in plain HTTP: "use https"
            return
        self.tls = TlsStream(ctx, self.io.recv, self.io.send, server_side=True)
        self.tls.handshake()

    plain_on_tls = False

    def _head_deadline(self) -> float:
        return min(HEAD_DEADLINE, self.web.chat.config.login_timeout)

    # -- HTTP ----------------------------------------------------------------
    def _next_event(self):  # noqa: ANN202 - an h11 event
        while True:
            event = self.http.next_event()
            if event is not h11.NEED_DATA:
                return event
            data, self._unfed = self._unfed or self._read_plain(), b""
            if data and self.http.their_state is h11.IDLE:  # a request head, not yet whole
                room = max(1, MAX_HEAD - len(self.http.trailing_data[0]))
                data, self._unfed = data[:room], data[room:]
            self.http.receive_data(data)

    head = False  # the request being answered is a HEAD: its answer, a refusal too, has no body

    def _one_request(self) -> bool:
        """Serve one request; True if the connection may carry another."""
        self.deadline = time.monotonic() + self._head_deadline()
        self.head = False
        try:
            try:
                event = self._next_event()
            except TimeoutError:
                return False  # a silent or slow client (a browser's pre-connection, often): just close
            except h11.RemoteProtocolError as exc:
                raise _Refused(exc.error_status_hint, f"bad request: {exc}") from None
            if isinstance(event, h11.ConnectionClosed):
                return False
            assert isinstance(event, h11.Request)
            self.head = event.method == b"HEAD"
            self._serve(event)
        except _Refused as refused:
            self._refuse(refused)
            return False
        return self.http.our_state is h11.DONE and self.http.their_state is h11.DONE

    def _serve(self, request: h11.Request) -> None:
        if len(request.target) > MAX_TARGET:
            raise _Refused(414, f"request target longer than {MAX_TARGET} bytes")
        if request.method not in (b"GET", b"HEAD"):
            raise _Refused(405, "only GET and HEAD", [(b"allow", b"GET, HEAD")])
        if _has_body(request):
            raise _Refused(400, "a GET has no body")
        if not isinstance(self._next_event(), h11.EndOfMessage):  # (no body: it is there already)
            raise _Refused(400, "a GET has no body")
        host = _header(request, b"host").decode("latin-1")
        if not self._known_host(host):  # a name rebound to us by someone else's DNS, say
            log.info("web %s: 421 for Host %r", self.peer, host)
            raise _Refused(421, "this chat server does not go by that name: open it by its address (or see --web-host)")
        if self.plain_on_tls:
            raise _Refused(
                307, f"this page is served over https: https://{host}/", [(b"location", f"https://{host}/".encode())]
            )
        path = request.target.split(b"?", 1)[0].decode("latin-1")
        if path == "/ws":
            self._upgrade(request)
            return
        file = self.web.files.get(path)
        if file is None:
            raise _Refused(404, "not found")
        headers = [
            (b"content-type", file.content_type.encode()),
            (b"cache-control", b"no-cache"),  # kept, but checked each time: a new version shows at once
            (b"etag", file.etag),
            *SECURITY_HEADERS,
        ]
        if _header(request, b"if-none-match") == file.etag:
            self._respond(h11.Response(status_code=304, headers=headers, reason=_reason(304)), b"")
            return
        headers.append((b"content-length", str(len(file.body)).encode()))
        body = b"" if request.method == b"HEAD" else file.body
        self._respond(h11.Response(status_code=200, headers=headers, reason=_reason(200)), body)

    def _respond(self, response: h11.Response, body: bytes) -> None:
        out = self.http.send(response) or b""
        if body:
            out += self.http.send(h11.Data(data=body)) or b""
        out += self.http.send(h11.EndOfMessage()) or b""
        self._write_plain(out)

    def _refuse(self, refused: _Refused) -> None:
        if self.http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # too late to answer
        body = (refused.text + "\n").encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"cache-control", b"no-store"),
            *SECURITY_HEADERS,
            *refused.headers,
        ]
        if refused.status >= 500 or refused.status in (403, 404):
            log.info("web %s: %d %s", self.peer, refused.status, refused.text)
        try:
            self._respond(
                h11.Response(status_code=refused.status, headers=headers, reason=_reason(refused.status)),
                b"" if self.head else body,
            )
        except (OSError, TlsError, h11.LocalProtocolError) as exc:
            log.debug("web %s: %s", self.peer, exc)

    def _known_host(self, host: str) -> bool:
        """Is ``host`` (a ``Host`` header) one of our names, or the address this connection came in on?"""
        name = _bare_host(host)
        if name in self.web.names:
            return True
        try:
            return name == _bare_host(self.sock.getsockname()[0])
        except OSError:
            return False

    # -- WebSocket --------------------------------------------------------------
    def _upgrade(self, request: h11.Request) -> None:
        if request.method != b"GET" or b"websocket" not in _tokens(request, b"upgrade"):
            raise _Refused(426, "this address is for the chat page's WebSocket", [(b"upgrade", b"websocket")])
        if b"upgrade" not in _tokens(request, b"connection"):
            raise _Refused(400, "a WebSocket upgrade needs Connection: Upgrade")
        if _header(request, b"sec-websocket-version") != b"13":
            raise _Refused(426, "WebSocket version 13 only", [(b"sec-websocket-version", b"13")])
        key = _header(request, b"sec-websocket-key")
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid_key = False
        if not valid_key:
            raise _Refused(400, "a WebSocket upgrade needs a valid Sec-WebSocket-Key")
        origin = _header(request, b"origin").decode("latin-1").lower()
        own = f"{self.web.scheme}://{_header(request, b'host').decode('latin-1').lower()}"
        if origin != own:
            raise _Refused(403, "only this server's own chat page may open its WebSocket")
        response = h11.InformationalResponse(
            status_code=101,
            headers=[
                (b"upgrade", b"websocket"),
                (b"connection", b"Upgrade"),
                (b"sec-websocket-accept", generate_accept_token(key)),
            ],
        )
        self._write_plain(self.http.send(response) or b"")
        trailing = self.http.trailing_data[0] + self._unfed
        max_frame = self.web.chat.config.max_frame
        transport = WebSocketTransport(self.io, tls=self.tls, max_frame=max_frame, trailing=trailing)
        self.sock.settimeout(None)  # the session waits in poll and writes without blocking
        log.info("web %s: WebSocket opened", self.peer)
        self.web.chat.run_session(Session(self.web.chat, self.sock, self.addr, transport))


def _bare_host(host: str) -> str:
    """``host`` (a name or address, maybe with a port) as compared: lower case, no port, no
    brackets, no final dot; an address as ``ipaddress`` writes it (an IPv4-mapped one as IPv4)."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.rstrip(".")
    return str(getattr(address, "ipv4_mapped", None) or address)


def _header(request: h11.Request, name: bytes) -> bytes:
    """The value of header ``name`` (lower case), or b"" (several: joined as HTTP says)."""
    values = [value for key, value in request.headers if key == name]
    return b", ".join(values)


def _tokens(request: h11.Request, name: bytes) -> list[bytes]:
    return [token.strip().lower() for token in _header(request, name).split(b",")]


def _has_body(request: h11.Request) -> bool:
    length = _header(request, b"content-length")
    return bool(_header(request, b"transfer-encoding")) or (bool(length) and length.strip() != b"0")


def _reason(status: int) -> bytes:
    """The standard reason phrase (h11 sends none unless told)."""
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
