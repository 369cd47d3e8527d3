"""HTTP/1.1 on the page's port (``h11``): one connection's requests, served from a table of routes.

HTTP is hostile input: the request head has a size limit and a deadline;
the target has a length limit; only the methods a route names are allowed,
and a body only where a route takes one (405, 400 else); a request must name
this server in its ``Host`` (421 else: a name rebound by someone else's DNS
is not ours). A path that is no route is 404: there is no file system path
to traverse. A route is a handler, called with the connection and the
request once these checks pass: the page's files and its ``/ws`` (``web.py``)
and the file transfers (``net/transfers.py``, ``Routes.add_prefix``; their bodies
are read by the route, ``respond_file`` sends a file as the peer takes it,
``respond_stream`` another server's answer).
"""

from __future__ import annotations

import dataclasses
import http
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

import h11

from chatserver.net.stream import Sniffed, Stream
from common.tls import TlsError

log = logging.getLogger(__name__)

MAX_HEAD = 8 * 1024  # bytes: request line and headers together, the blank line included (431 over it)
MAX_TARGET = 2048  # bytes in the request target (414 over it)
HEAD_DEADLINE = 10.0  # seconds to send a whole request head, the first or the next on a kept-alive connection
SEND_TIMEOUT = 10.0  # seconds the last response may take to leave before the connection is cut
RECV_SIZE = 16 * 1024
FILE_CHUNK = 128 * 1024  # bytes of a file put in the outbox at once (over TLS)
GET_HEAD = frozenset({b"GET", b"HEAD"})

SecurityHeaders = list[tuple[bytes, bytes]]


@dataclasses.dataclass(frozen=True)
class Route:
    """What serves a path: ``handle(connection, request)``, for the ``methods`` named; a
    route that takes a ``body`` (an upload) reads it itself (``HttpConnection.next_event``)."""

    handle: Callable[[HttpConnection, h11.Request], None]
    methods: frozenset[bytes] = GET_HEAD
    body: bool = False


class Routes:
    """The table of a port's routes: exact paths, then the longest matching prefix."""

    def __init__(self) -> None:
        self._exact: dict[str, Route] = {}
        self._prefixes: list[tuple[str, Route]] = []

    def add(self, path: str, route: Route) -> None:
        self._exact[path] = route

    def add_prefix(self, prefix: str, route: Route) -> None:
        """Every path under ``prefix`` (``/f/``: the handler reads the rest of the path)."""
        self._prefixes.append((prefix, route))
        self._prefixes.sort(key=lambda item: -len(item[0]))

    def find(self, path: str) -> Route | None:
        route = self._exact.get(path)
        if route is None:
            route = next((route for prefix, route in self._prefixes if path.startswith(prefix)), None)
        return route


class Site(Protocol):
    """What a connection needs of the port it came in on (``web.WebServer``)."""

    routes: Routes
    #: The ``Host`` names requests may carry (besides the connection's own address).
    names: set[str]
    #: Headers every answer carries.
    security_headers: SecurityHeaders

    @property
    def scheme(self) -> str: ...

    @property
    def tls_context(self) -> ssl.SSLContext | None: ...

    @property
    def head_deadline(self) -> float: ...


class Refused(Exception):
    """The request is answered with an error status and the connection closed."""

    def __init__(self, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or []


class HttpConnection:
    """One connection to the page's port: requests until it closes, or a route takes it over (``/ws``)."""

    def __init__(self, site: Site, stream: Stream) -> None:
        self.site = site
        self.stream = stream
        self.peer = stream.peer
        # h11 checks its limit only while a head is unfinished: a longer head that arrives whole in
        # one read passes. So no more than MAX_HEAD bytes of a head are ever given to it (the rest
        # waits in ``_unfed``), and an unfinished head of MAX_HEAD bytes is one too long.
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD - 1)
        self._unfed = b""  # read from the peer, not yet given to h11
        #: A plaintext request on a TLS port: answered in plain HTTP, "use https".
        self.plain_on_tls = False
        #: The request being answered is a HEAD: its answer, a refusal too, has no body.
        self.head = False

    def run(self) -> None:
        try:
            if self._start_tls():
                while self._one_request():
                    self.http.start_next_cycle()
        except (OSError, TlsError, h11.LocalProtocolError) as exc:
            log.debug("web %s: %s", self.peer, exc)
        finally:
            if self.stream.sock.fileno() >= 0:  # (a route that took the connection over closed it)
                self.stream.close(timeout=SEND_TIMEOUT)

    def _start_tls(self) -> bool:
        """TLS if the port has it: False if the peer said nothing in time, or hung up."""
        ctx = self.site.tls_context
        if ctx is None:
            return True
        self._deadline()
        sniffed = self.stream.open_tls(ctx, self.site.head_deadline)
        self.plain_on_tls = sniffed is Sniffed.PLAIN
        return sniffed in (Sniffed.TLS, Sniffed.PLAIN)

    def _deadline(self) -> None:
        self.stream.until(self.stream.clock() + self.site.head_deadline, "request not finished in time")

    # -- requests -------------------------------------------------------------
    def next_event(self, size: int = RECV_SIZE):  # noqa: ANN201 - an h11 event
        """The next h11 event of the request, reading as needed (to the head's deadline;
        an upload's body sets its own, and reads ``size`` bytes at a time)."""
        while True:
            event = self.http.next_event()
            if event is not h11.NEED_DATA:
                return event
            data, self._unfed = self._unfed or self.stream.read(size), b""
            if data and self.http.their_state is h11.IDLE:  # a request head, not yet whole
                room = max(1, MAX_HEAD - len(self.http.trailing_data[0]))
                data, self._unfed = data[:room], data[room:]
            self.http.receive_data(data)

    def raw_body(self, size: int, read_size: int, stall: float) -> Iterator[bytes]:
        """The request's body of ``size`` bytes (its ``Content-Length``) straight off the stream, not
        through h11 (whose parsing per chunk costs the GIL chat needs): what h11 holds already,
        then reads of up to ``read_size``, each due within ``stall`` s. h11 still counts the body
        as unread: the answer that follows ends the connection (``_one_request``)."""
        buffered = bytes(self.http.trailing_data[0]) + self._unfed
        self._unfed = b""
        got = min(len(buffered), size)
        if got:
            yield buffered[:got]
        while got < size:
            self.stream.until(self.stream.clock() + stall, "the upload stalled")
            data = self.stream.read(min(read_size, size - got))
            if not data:
                raise ConnectionError(f"the connection closed after {got} of {size} bytes")
            got += len(data)
            yield data

    def _one_request(self) -> bool:
        """Serve one request; True if the connection may carry another."""
        self._deadline()
        self.head = False
        try:
            try:
                event = self.next_event()
            except TimeoutError:
                return False  # a silent or slow client (a browser's pre-connection, often): just close
            except h11.RemoteProtocolError as exc:
                raise Refused(exc.error_status_hint, f"bad request: {exc}") from None
            if isinstance(event, h11.ConnectionClosed):
                return False
            assert isinstance(event, h11.Request)
            self.head = event.method == b"HEAD"
            self._serve(event)
        except Refused as refused:
            self._refuse(refused)
            return False
        return self.http.our_state is h11.DONE and self.http.their_state is h11.DONE

    def _serve(self, request: h11.Request) -> None:
        if len(request.target) > MAX_TARGET:
            raise Refused(414, f"request target longer than {MAX_TARGET} bytes")
        path = request.target.split(b"?", 1)[0].decode("latin-1")
        route = self.site.routes.find(path)
        methods = route.methods if route is not None else GET_HEAD
        if request.method not in methods:
            allow = b", ".join(sorted(methods, key=lambda m: (m != b"GET", m)))
            raise Refused(405, "only " + " and ".join(m.decode() for m in sorted(methods)), [(b"allow", allow)])
        if route is None or not route.body:
            if has_body(request):
                raise Refused(400, "a GET has no body")
            if not isinstance(self.next_event(), h11.EndOfMessage):  # (no body: it is there already)
                raise Refused(400, "a GET has no body")
        host = header(request, b"host").decode("latin-1")
        if not self._known_host(host):  # a name rebound to us by someone else's DNS, say
            log.info("web %s: 421 for Host %r", self.peer, host)
            raise Refused(421, "this chat server does not go by that name: open it by its address (or see --web-host)")
        if self.plain_on_tls:
            raise Refused(
                307, f"this page is served over https: https://{host}/", [(b"location", f"https://{host}/".encode())]
            )
        if route is None:
            raise Refused(404, "not found")
        route.handle(self, request)

    def _known_host(self, host: str) -> bool:
        """Is ``host`` (a ``Host`` header) one of our names, or the address this connection came in on?"""
        name = bare_host(host)
        if name in self.site.names:
            return True
        try:
            return name == bare_host(self.stream.sock.getsockname()[0])
        except OSError:
            return False

    # -- answers ----------------------------------------------------------------
    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        """A whole response (no body for a HEAD request: give its length all the same)."""
        out = self.http.send(h11.Response(status_code=status, headers=headers, reason=reason(status))) or b""
        if body and not self.head:
            out += self.http.send(h11.Data(data=body)) or b""
        out += self.http.send(h11.EndOfMessage()) or b""
        self.stream.write(out)

    def respond_file(
        self, status: int, headers: list[tuple[bytes, bytes]], file: BinaryIO, offset: int, count: int, stall: float
    ) -> None:
        """A response whose body is ``count`` bytes of ``file`` from ``offset``, sent as the
        peer takes them (``sendfile`` on plaintext, when the head has gone), cut after ``stall`` s without progress."""
        self.stream.write(
            self.http.send(h11.Response(status_code=status, headers=headers, reason=reason(status))) or b""
        )
        if count and not self.head:
            if self.stream.tls is None and not self.stream.outbox.backlog:
                self._sendfile(file, offset, count, stall)
            else:
                file.seek(offset)
                self._send_chunks(file.read, count, stall)
            # h11 counts the body's bytes against Content-Length: tell it they went (not through it).
            self.http.send_with_data_passthrough(h11.Data(data=_Sent(count)))
        self.stream.write(self.http.send(h11.EndOfMessage()) or b"")

    def _sendfile(self, file: BinaryIO, offset: int, count: int, stall: float) -> None:
        sock = self.stream.sock  # (nothing queued in the outbox: the head went already)
        before = sock.gettimeout()
        sock.settimeout(stall)  # (a peer that takes nothing for ``stall`` s: TimeoutError)
        try:
            sent = sock.sendfile(file, offset, count)
        finally:
            sock.settimeout(before)
        if sent != count:
            raise OSError(f"sent {sent} of {count} bytes")

    def respond_stream(
        self, status: int, headers: list[tuple[bytes, bytes]], read: Callable[[int], bytes], count: int, stall: float
    ) -> None:
        """A response whose body is ``count`` bytes got from ``read`` (another server's answer, relayed),
        sent as the peer takes them, cut after ``stall`` s without progress."""
        self.stream.write(
            self.http.send(h11.Response(status_code=status, headers=headers, reason=reason(status))) or b""
        )
        if count and not self.head:
            self._send_chunks(read, count, stall)
            self.http.send_with_data_passthrough(h11.Data(data=_Sent(count)))
        self.stream.write(self.http.send(h11.EndOfMessage()) or b"")

    def _send_chunks(self, read: Callable[[int], bytes], count: int, stall: float) -> None:
        left = count
        while left:
            chunk = read(min(left, FILE_CHUNK))
            if not chunk:
                raise OSError("the file ended early")
            left -= len(chunk)
            self.stream.write(chunk)
            if self.stream.outbox.full:
                self.stream.outbox.wait_room(stall)
            if self.stream.outbox.failure:
                raise OSError(self.stream.outbox.failure)

    def switch(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """Answer ``101 Switching Protocols``; returns what the peer sent after its request."""
        self.stream.write(self.http.send(h11.InformationalResponse(status_code=101, headers=headers)) or b"")
        return self.http.trailing_data[0] + self._unfed

    def _refuse(self, refused: Refused) -> None:
        if self.http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # too late to answer
        body = (refused.text + "\n").encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"cache-control", b"no-store"),
            *self.site.security_headers,
            *refused.headers,
        ]
        if refused.status >= 500 or refused.status in (403, 404):
            log.info("web %s: %d %s", self.peer, refused.status, refused.text)
        try:
            self.respond(refused.status, headers, body)
        except (OSError, TlsError, h11.LocalProtocolError) as exc:
            log.debug("web %s: %s", self.peer, exc)


class _Sent:
    """Stands for body bytes sent around h11 (``sendfile``): only its length counts."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


def bare_host(host: str) -> str:
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


def header(request: h11.Request, name: bytes) -> bytes:
    """The value of header ``name`` (lower case), or b"" (several: joined as HTTP says)."""
    values = [value for key, value in request.headers if key == name]
    return b", ".join(values)


def tokens(request: h11.Request, name: bytes) -> list[bytes]:
    return [token.strip().lower() for token in header(request, name).split(b",")]


def has_body(request: h11.Request) -> bool:
    length = header(request, b"content-length")
    return bool(header(request, b"transfer-encoding")) or (bool(length) and length.strip() != b"0")


def reason(status: int) -> bytes:
    """The standard reason phrase (h11 sends none unless told)."""
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
