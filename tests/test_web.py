"""The chat page's port: HTTP served with limits, and the native frames over a WebSocket.

The WebSocket client here is ``wsproto`` over a real socket, so these tests see
exactly the bytes a browser would exchange with the server.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from helpers import TIMEOUT, NativeClient, ServerProcess, program, python_env, wait_for
from test_discovery import (
    ADVERTISED,
    NS_CLIENT,
    NS_SERVER,
    lan,  # noqa: F401 - the namespaces fixture, for the announcement test
    start_server,
)
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class WsClient:
    """A WebSocket client of the chat page's ``/ws``, one JSON frame per text message."""

    def __init__(
        self, srv: ServerProcess, *, origin: str | None = "own", tls: bool = False, host: str | None = None
    ) -> None:
        self.sock = socket.create_connection((srv.host, srv.web_port), timeout=TIMEOUT)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the server's own self-signed certificate
            self.sock = ctx.wrap_socket(self.sock)
        self.ws = WSConnection(ConnectionType.CLIENT)
        host = host or f"{srv.host}:{srv.web_port}"  # (the Host header; the socket goes to srv.host all the same)
        headers = []
        if origin == "own":
            origin = f"{srv.web_scheme}://{host}"
        if origin is not None:
            headers.append(("Origin", origin))
        self.sock.sendall(self.ws.send(Request(host=host, target="/ws", extra_headers=headers)))
        self.frames: list[dict] = []
        self.closed: CloseConnection | None = None
        self.status: int | None = None  # the upgrade's answer: 101, or the refusal's status
        self.body = b""
        while self.status is None or (self.status != 101 and not self._rejected_done):
            self._read(time.monotonic() + TIMEOUT)

    _rejected_done = False

    def _read(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing from the server before the deadline")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.status = 101
            elif isinstance(event, RejectConnection):
                self.status = event.status_code
                self._rejected_done = not event.has_body
            elif isinstance(event, RejectData):
                self.body += event.data
                self._rejected_done = event.body_finished
            elif isinstance(event, TextMessage):
                self._partial = getattr(self, "_partial", "") + event.data
                if event.message_finished:
                    self.frames.append(json.loads(self._partial))
                    self._partial = ""
            elif isinstance(event, CloseConnection):
                self.closed = event
                try:
                    self.sock.sendall(self.ws.send(event.response()))
                except Exception:  # noqa: BLE001 - already closed: fine
                    pass
        return bool(data)

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_json(self, obj: dict) -> None:
        self.send_text(json.dumps(obj))

    def hello(self, nick: str, **extra) -> dict:
        self.send_json({"type": "hello", "version": 1, "nick": nick, **extra})
        return self.expect(lambda f: f["type"] in ("welcome", "error"))

    def expect(self, pred: Callable[[dict], bool], timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while self.frames:
                frame = self.frames.pop(0)
                if pred(frame):
                    return frame
            if self.closed is not None or not self._read(deadline):
                raise EOFError(f"closed before the expected frame ({self.closed})")

    def wait_closed(self, timeout: float = TIMEOUT) -> list[dict]:
        """Every frame until the server closes; returns them."""
        deadline = time.monotonic() + timeout
        while self.closed is None and self._read(deadline):
            pass
        out, self.frames = self.frames, []
        return out

    def close(self) -> None:
        self.sock.close()


def http(srv: ServerProcess, raw: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send raw request bytes to the page's port; everything it answers until it closes."""
    with socket.create_connection((srv.host, srv.web_port), timeout=timeout) as sock:
        sock.sendall(raw)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def get(srv: ServerProcess, target: str, *headers: str, method: str = "GET") -> tuple[int, dict, bytes]:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {srv.host}:{srv.web_port}", "Connection: close", *headers]
    raw = http(srv, ("\r\n".join(lines) + "\r\n\r\n").encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), fields, body


@pytest.fixture
def srv(make_server):
    return make_server("--rate-limit", "0")


# -- HTTP ----------------------------------------------------------------------


def test_start_prints_the_page_address_after_the_ready_line(srv):
    assert srv.ready_line.startswith("chatserver listening on 127.0.0.1:")  # unchanged: the bench parses it
    assert srv.web_port and srv.web_port != srv.port
    status, _, _ = get(srv, "/")
    assert status == 200


def test_page_files_with_types_caching_and_security_headers(srv):
    status, fields, body = get(srv, "/")
    assert status == 200
    assert fields["content-type"] == "text/html; charset=utf-8"
    assert b'id="nick"' in body and b'id="messages"' in body and b'id="input"' in body
    assert fields["x-content-type-options"] == "nosniff"
    csp = fields["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert fields["cache-control"] == "no-cache" and fields["etag"]
    assert int(fields["content-length"]) == len(body)
    # Revalidation: the same file is not sent again.
    status, again, body = get(srv, "/", f"If-None-Match: {fields['etag']}")
    assert status == 304 and body == b"" and again["etag"] == fields["etag"]
    types = [("/chat.js", "text/javascript"), ("/chat.css", "text/css"), ("/favicon.svg", "image/svg+xml")]
    for target, ctype in types:
        status, fields, body = get(srv, target)
        assert status == 200 and fields["content-type"].startswith(ctype) and body
        assert fields["x-content-type-options"] == "nosniff"
    status, fields, body = get(srv, "/", method="HEAD")
    assert status == 200 and body == b"" and int(fields["content-length"]) > 0


def test_info_says_before_any_join_whether_a_password_is_needed(srv, tmp_path):
    status, fields, body = get(srv, "/info")
    assert status == 200 and fields["content-type"] == "application/json" and fields["cache-control"] == "no-store"
    assert json.loads(body) == {"name": "chatserver", "password": False, "nodes": []}
    (tmp_path / "pw").write_text("sesame\n")
    guarded = ServerProcess("--password-file", str(tmp_path / "pw"), "--name", "Vault")
    try:
        status, _, body = get(guarded, "/info")
        assert status == 200 and json.loads(body) == {"name": "Vault", "password": True, "nodes": []}
        assert b"sesame" not in body
    finally:
        guarded.stop()


def test_the_page_has_no_inline_script_or_style(srv):
    _, _, body = get(srv, "/")
    html = body.decode()
    assert "<script>" not in html and "<script src=" in html
    assert " style=" not in html and "<style" not in html and " on" + "click=" not in html


@pytest.mark.parametrize(
    "target",
    [
        "/nothing",
        "/index.html",
        "/static/chat.js",
        "/../setup.cfg",
        "/%2e%2e/%2e%2e/setup.cfg",
        "/chat.js/../../../etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/ws/../chat.js",
    ],
)
def test_unknown_paths_and_traversal_are_404(srv, target):
    status, fields, body = get(srv, target)
    assert status == 404, (target, body)
    assert b"root:" not in body and b"[metadata]" not in body
    assert fields["x-content-type-options"] == "nosniff"


def test_other_methods_and_bodies_are_refused(srv):
    status, fields, _ = get(srv, "/", "Content-Length: 0", method="POST")
    assert status == 405 and fields["allow"] == "GET, HEAD"
    raw = http(srv, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert raw.startswith(b"HTTP/1.1 400")


def test_http_limits_header_size_target_length_and_garbage(srv):
    big = "X-Big: " + "a" * 20_000
    raw = http(srv, f"GET / HTTP/1.1\r\nHost: x\r\n{big}\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 431"), raw[:80]
    raw = http(srv, f"GET /{'a' * 3000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 414"), raw[:80]
    raw = http(srv, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400"), raw[:80]
    # And the server goes on serving.
    assert get(srv, "/")[0] == 200


def test_a_request_head_is_at_most_8_kib_however_it_arrives(srv):
    def head(size: int) -> bytes:
        start = f"GET / HTTP/1.1\r\nHost: {srv.host}:{srv.web_port}\r\nConnection: close\r\nX-Pad: "
        return (start + "a" * (size - len(start) - 4) + "\r\n\r\n").encode()

    assert len(head(8192)) == 8192
    assert http(srv, head(8192)).startswith(b"HTTP/1.1 200 "), "8 KiB, blank line included: served"
    for size in (8193, 12 * 1024, 16 * 1024 - 10):  # each sent in one write, read in one recv
        raw = http(srv, head(size))
        assert raw.startswith(b"HTTP/1.1 431 "), (size, raw[:80])


def test_a_request_head_that_never_finishes_is_closed_at_the_deadline():
    srv = ServerProcess("--login-timeout", "1")
    try:
        with socket.create_connection((srv.host, srv.web_port), timeout=TIMEOUT) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and then nothing
            other = get(srv, "/")  # meanwhile another is served
            assert other[0] == 200
            slow.settimeout(TIMEOUT)
            assert slow.recv(100) == b""  # closed by the server (within the deadline, well before TIMEOUT)
    finally:
        srv.stop()


def test_keep_alive_serves_several_requests_on_one_connection(srv):
    one = f"GET /chat.css HTTP/1.1\r\nHost: {srv.host}:{srv.web_port}\r\n\r\n"
    raw = http(srv, (one * 2 + one.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")).encode())
    assert raw.count(b"HTTP/1.1 200") == 3


# -- the WebSocket ---------------------------------------------------------------


def test_hello_over_the_websocket_and_chat_with_a_native_client(srv):
    native = NativeClient(srv.port, "alice")
    ws = WsClient(srv)
    assert ws.status == 101
    welcome = ws.hello("webby")
    assert welcome["type"] == "welcome" and welcome["nick"] == "webby" and welcome["room"] == "#lobby"
    assert "alice" in welcome["users"]
    native.expect(lambda f: f["type"] == "notice" and f["event"] == "join" and f.get("nick") == "webby")
    ws.send_json({"type": "say", "text": "hello from the browser <b>"})
    accepted = ws.expect(lambda f: f["type"] == "accepted")
    got = native.expect(lambda f: f["type"] == "message")
    assert got["nick"] == "webby" and got["text"] == "hello from the browser <b>" and got["seq"] == accepted["seq"]
    native.say("hello from the terminal")
    got = ws.expect(lambda f: f["type"] == "message")
    assert got["nick"] == "alice" and got["text"] == "hello from the terminal"
    native.send_json({"type": "privmsg", "to": "webby", "text": "psst"})
    private = ws.expect(lambda f: f["type"] == "private")
    assert private["nick"] == "alice" and private["text"] == "psst"
    ws.send_json({"type": "quit", "text": ""})
    frames = ws.wait_closed()
    assert any(f["type"] == "bye" for f in frames)
    assert ws.closed is not None and ws.closed.code == 1000  # a clean close after the bye
    native.expect(lambda f: f["type"] == "notice" and f["event"] == "leave" and f.get("nick") == "webby")


def test_several_frames_in_one_write_arrive_as_one_message_each(srv):
    ws = WsClient(srv)
    welcome = ws.hello("counter")
    # The welcome and the history that follows at once are written together; each is its own message.
    assert welcome["type"] == "welcome"
    ws.send_json({"type": "who"})
    ws.send_json({"type": "list"})
    assert ws.expect(lambda f: f["type"] == "users")["nicks"] == ["counter"]
    assert ws.expect(lambda f: f["type"] == "rooms")["names"] == ["#lobby"]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", None])
def test_the_websocket_opens_only_from_the_page_itself(srv, origin):
    ws = WsClient(srv, origin=origin)
    assert ws.status == 403
    assert b"own chat page" in ws.body
    assert WsClient(srv).status == 101  # the page's own origin: welcome


def test_a_name_rebound_to_the_server_gets_421_for_files_and_the_websocket(srv):
    evil = f"evil.example:{srv.web_port}"
    ws = WsClient(srv, host=evil, origin=f"http://{evil}")  # the page of a rebound name: same-origin to itself
    assert ws.status == 421
    assert ws.body == b"this chat server does not go by that name: open it by its address (or see --web-host)\n"
    for target in ("/", "/chat.js", "/nothing"):
        raw = http(srv, f"GET {target} HTTP/1.1\r\nHost: {evil}\r\nConnection: close\r\n\r\n".encode())
        assert raw.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), raw[:80]
        assert raw.partition(b"\r\n\r\n")[2].count(b"\n") == 1, raw  # a one-line text
    # A HEAD is refused in the same words, without a body (h11 refused to send one, so nothing went out).
    for request in (f"HEAD / HTTP/1.1\r\nHost: {evil}\r\n\r\n", "HEAD /nothing HTTP/1.0\r\n\r\n"):
        raw = http(srv, request.encode())
        assert raw.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), (request, raw[:80])
        assert raw.endswith(b"\r\n\r\n"), raw
    # This machine's own names and addresses are served, and open the WebSocket from their own page.
    label = socket.gethostname().split(".")[0]
    for name in ("localhost", "LOCALHOST.", socket.gethostname(), f"{label}.local", "127.0.0.1", "[::1]"):
        host = f"{name}:{srv.web_port}"
        raw = http(srv, f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        assert raw.startswith(b"HTTP/1.1 200 "), (name, raw[:80])
        assert WsClient(srv, host=host, origin=f"http://{host.lower()}").status == 101, name
    # The Origin check now compares with a Host that is ours: another origin is still 403.
    assert WsClient(srv, host=f"localhost:{srv.web_port}", origin=f"http://{evil}").status == 403


def test_web_host_adds_a_name_the_page_may_be_opened_by():
    srv = ServerProcess("--web-host", "chat.example.org", "--web-host", "Other.Example.")
    try:
        for name in ("chat.example.org", "other.example"):
            host = f"{name}:{srv.web_port}"
            raw = http(srv, f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            assert raw.startswith(b"HTTP/1.1 200 "), (name, raw[:80])
            ws = WsClient(srv, host=host, origin=f"http://{host}")
            assert ws.status == 101 and ws.hello(name.split(".")[0])["type"] == "welcome"
        assert (
            WsClient(srv, host=f"evil.example:{srv.web_port}", origin=f"http://evil.example:{srv.web_port}").status
            == 421
        )
    finally:
        srv.stop()
    bad = subprocess.run(
        [*program("chatserver"), "--web-host", "a.example:80"], capture_output=True, text=True, env=python_env()
    )
    assert bad.returncode == 2 and "not a host name or address (and no port): 'a.example:80'" in bad.stderr


def test_a_message_over_the_frame_limit_ends_the_session_with_an_error():
    srv = ServerProcess("--max-frame", "2000")
    try:
        ws = WsClient(srv)
        ws.hello("big")
        ws.send_json({"type": "say", "text": "x" * 5000})
        frames = ws.wait_closed()
        errors = [f for f in frames if f["type"] == "error"]
        assert errors and errors[0]["code"] == "frame_too_large"
        native = NativeClient(srv.port, "still")  # the server goes on
        assert native.welcome["type"] == "welcome"
    finally:
        srv.stop()


def test_a_message_in_many_fragments_is_one_frame(srv):
    ws = WsClient(srv)
    ws.hello("frag")
    text = json.dumps({"type": "say", "text": "pieced together"})
    for i in range(0, len(text), 7):
        part = text[i : i + 7]
        ws.sock.sendall(ws.ws.send(TextMessage(data=part, message_finished=i + 7 >= len(text))))
    assert ws.expect(lambda f: f["type"] == "accepted")["seq"] >= 1


def test_a_binary_message_is_closed_with_1003_on_its_first_frame(srv):
    native = NativeClient(srv.port, "watcher")
    ws = WsClient(srv)
    ws.hello("binary")
    ws.sock.sendall(ws.ws.send(BytesMessage(data=b'{"type": "say", "text": "binary"}')))
    ws.wait_closed()
    assert ws.closed is not None and ws.closed.code == 1003, ws.closed
    assert "text message" in ws.closed.reason
    # One that would go on for 100 MB is closed on its first bytes, not when it ends.
    big = WsClient(srv)
    big.hello("streamer")
    mask = b"\x01\x02\x03\x04"
    header = bytes([0x82, 0x80 | 127]) + (100_000_000).to_bytes(8, "big") + mask  # FIN, binary, masked
    big.sock.sendall(header + bytes(b ^ mask[i % 4] for i, b in enumerate(b"x" * 4096)))
    big.wait_closed()
    assert big.closed is not None and big.closed.code == 1003, big.closed
    leave = native.expect(lambda f: f["type"] == "notice" and f["event"] == "leave" and f.get("nick") == "streamer")
    assert "binary WebSocket message" in leave["text"]


def test_line_breaks_and_bad_json_are_refused_and_the_session_goes_on(srv):
    ws = WsClient(srv)
    ws.hello("careful")
    ws.send_text('{"type": "say", "text": "one"}\n{"type": "say", "text": "two"}')
    assert ws.expect(lambda f: f["type"] == "error")["code"] == "invalid_frame"
    ws.send_text("not json")
    assert ws.expect(lambda f: f["type"] == "error")["code"] in ("invalid_json", "invalid_frame")
    ws.send_json({"type": "say", "text": "fine"})
    assert ws.expect(lambda f: f["type"] == "accepted")


def test_a_websocket_peer_counts_against_max_per_ip():
    srv = ServerProcess("--max-per-ip", "2")
    try:
        first = NativeClient(srv.port, "one")
        second = WsClient(srv)
        assert second.hello("two")["type"] == "welcome"
        third = WsClient(srv)  # over the limit: 503 at once, before the upgrade was read, with the reason
        assert third.status == 503
        assert third.body == b"too many connections from 127.0.0.1 (at most 2)\n"
        status, fields, body = get(srv, "/")  # a plain page request is a connection too
        assert status == 503 and fields["retry-after"] == "10"
        assert body == b"too many connections from 127.0.0.1 (at most 2)\n"
        second.close()
        first.close()
        wait_for(lambda: get(srv, "/")[0] == 200)
    finally:
        srv.stop()


def test_resume_over_the_websocket_after_a_server_restart(tmp_path):
    store = str(tmp_path / "chat.sqlite3")
    srv = ServerProcess("--store", store, "--rate-limit", "0")
    try:
        ws = WsClient(srv)
        welcome = ws.hello("roamer")
        ws.send_json({"type": "join", "room": "#private"})
        joined = ws.expect(lambda f: f["type"] == "joined")
        ws.send_json({"type": "say", "text": "before the restart"})
        seen = ws.expect(lambda f: f["type"] == "accepted")["seq"]
        ws.close()  # the browser lost its connection
        other = NativeClient(srv.port, "stayer")
        other.send_json({"type": "join", "room": "#private"})
        other.expect(lambda f: f["type"] == "joined")
        other.say("said while roamer was away")
        other.expect(lambda f: f["type"] == "accepted")
    finally:
        srv.stop()
    srv = ServerProcess("--store", store, "--rate-limit", "0")
    try:
        ws = WsClient(srv)
        back = ws.hello(
            "roamer",
            resume=welcome["token"],
            room="#private",
            epoch=joined["epoch"],
            last_seq=seen,
        )
        assert back["type"] == "welcome" and back["room"] == "#private" and back["nick"] == "roamer"
        missed = ws.expect(lambda f: f["type"] == "message")
        assert missed["text"] == "said while roamer was away" and missed["replay"] == "missed"
    finally:
        srv.stop()


def test_the_page_over_tls_uses_the_chat_ports_certificate():
    srv = ServerProcess("--tls")
    try:
        assert srv.web_scheme == "https"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((srv.host, srv.web_port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw) as page:
                web_cert = page.getpeercert(binary_form=True)
                page.sendall(f"GET / HTTP/1.1\r\nHost: {srv.host}:{srv.web_port}\r\nConnection: close\r\n\r\n".encode())
                assert page.recv(100).startswith(b"HTTP/1.1 200")
                # (Host must be one of ours: see test_a_name_rebound_to_the_server_gets_421...)
        with socket.create_connection((srv.host, srv.port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw) as chat:
                assert chat.getpeercert(binary_form=True) == web_cert
        ws = WsClient(srv, tls=True)
        assert ws.status == 101 and ws.hello("secure")["type"] == "welcome"
        # Plain http on the https port: told where the page is.
        status, fields, _ = get(srv, "/")
        assert status == 307 and fields["location"].startswith("https://")
    finally:
        srv.stop()


def test_web_port_flags():
    quiet = ServerProcess("--no-web")
    try:
        assert quiet.web_port is None
        assert NativeClient(quiet.port, "x").welcome["type"] == "welcome"
    finally:
        quiet.stop()
    srv = ServerProcess()
    try:  # a port asked for and taken: a clear error, exit 1
        result = subprocess.run(
            [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--store", "memory"]
            + ["--web-port", str(srv.web_port)],
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=TIMEOUT,
        )
        assert result.returncode == 1
        assert f"cannot serve the chat page on 127.0.0.1:{srv.web_port}" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        srv.stop()


# -- announced on the LAN ----------------------------------------------------------

_QUERY_WEB = """
import json, sys, urllib.request
from zeroconf import Zeroconf
zc = Zeroconf()
info = zc.get_service_info("_http._tcp.local.", sys.argv[1] + "._http._tcp.local.", timeout=int(sys.argv[2]) * 1000)
out = None
if info is not None:
    address = info.parsed_addresses()[0]
    page = urllib.request.urlopen(f"http://{address}:{info.port}/", timeout=5)
    out = {"port": info.port, "path": info.properties.get(b"path", b"").decode(), "status": page.status}
zc.close()
print(json.dumps(out))
"""


def test_the_page_is_announced_as_an_http_service(lan):  # noqa: F811 - the fixture imported above
    """In two network namespaces (see test_discovery.py; skips where they cannot be made)."""
    server = start_server(NS_SERVER, "--host", "0.0.0.0", "--name", "Testweb", "--web-port", "0")
    try:
        web_port = int(server.wait_for(r"chat page for browsers: http://\S+:(\d+)/").group(1))
        assert server.wait_for(ADVERTISED, "err").group(1) == "Testweb"
        done = subprocess.run(
            ["ip", "netns", "exec", NS_CLIENT, sys.executable, "-c", _QUERY_WEB, "Testweb", "5"],
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"port": web_port, "path": "/", "status": 200}
    finally:
        server.kill()
