"""The transport stack in one process: encode once for WebSockets, the stream's TLS sniff and deadlines,
a session's timers, and the HTTP route table; real sockets on loopback, clocks injected."""

from __future__ import annotations

import json
import socket
import ssl
import threading

import pytest
import trustme
from helpers import TIMEOUT, Member
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from chatserver.config import ServerConfig
from chatserver.core import frames as fanout
from chatserver.core.fanout import Frame
from chatserver.core.hub import LocalHub
from chatserver.net.dialects import websocket
from chatserver.net.dialects.http import Route, Routes
from chatserver.net.dialects.websocket import WebSocketDialect, websocket_text
from chatserver.net.session import Session
from chatserver.net.stream import Sniffed, Stream
from chatserver.net.timers import Timers
from chatserver.net.web import WebServer
from chatserver.rules.participant import SessionEnd
from common import messages as m


def _texts(data: bytes) -> list[str]:
    """What a browser reads from ``data``: each WebSocket text message (server frames, unmasked)."""
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(data)
    out, partial = [], ""
    for event in client.events():
        assert isinstance(event, TextMessage), event
        partial += event.data
        if event.message_finished:
            out.append(partial)
            partial = ""
    assert partial == "", "a message cut short"
    return out


class _Calls(Member):
    """A member that keeps each batch it is given as the very object it was given."""

    def __init__(self, nick: str, wire: str) -> None:
        super().__init__(nick, wire)
        self.calls: list[bytes] = []

    def deliver_bytes(self, data: bytes) -> None:
        self.calls.append(data)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_websocket_text_frame_reads_as_one_message_at_every_length_boundary(size):
    text = "é" * (size // 2) + "x" * (size % 2)  # (UTF-8: the frame's length is in bytes)
    assert _texts(websocket_text(text.encode())) == [text]


def test_a_websocket_batch_to_many_is_framed_once_and_the_same_bytes_go_to_each(monkeypatch):
    built: list[bytes] = []

    def counted(payload: bytes) -> bytes:
        built.append(payload)
        return websocket_text(payload)

    monkeypatch.setattr(websocket, "websocket_text", counted)
    hub = LocalHub()
    browsers = [_Calls(f"web{i}", "websocket") for i in range(5)]
    sender = _Calls("sender", "websocket")
    native = _Calls("native", "native")
    for sub in (*browsers, sender, native):
        hub.enter(sub, sub.nick, "#a", lambda g: None)
    ack = lambda msg: m.Accepted(seq=msg.seq, ts=msg.ts, room=msg.room)  # noqa: E731
    with hub._lock:  # one batch for certain
        for i in range(3):
            hub.publish(
                "#a",
                lambda seq, ts, i=i: m.ChatMessage(seq=seq, ts=ts, room="#a", nick="sender", text=f"line {i}"),
                exclude=sender if i == 1 else None,
                receipt=ack if i == 1 else None,
            )
    assert hub.flush(timeout=TIMEOUT)

    assert len(built) == 4, "each message framed once, and the sender's receipt once: not once per browser"
    first = browsers[0].calls
    assert len(first) == 1, "the batch is one write"
    for browser in browsers[1:]:
        assert len(browser.calls) == 1 and browser.calls[0] is first[0], "the very same bytes object for each"
    said = [json.loads(text) for text in _texts(first[0])]
    assert [f["text"] for f in said] == ["line 0", "line 1", "line 2"]
    own = [json.loads(text) for text in _texts(b"".join(sender.calls))]
    assert [f["type"] for f in own] == ["message", "accepted", "message"]
    assert own[1]["seq"] == said[1]["seq"], "the sender's receipt in its message's place"
    lines = b"".join(native.calls).splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["line 0", "line 1", "line 2"]


def test_a_transport_adds_its_own_wire_format_made_once_per_frame(monkeypatch):
    """How an IRC port would plug in: a wire format of its own, without touching the fan-out."""
    monkeypatch.setattr(fanout, "_WIRES", dict(fanout._WIRES))
    made: list[str] = []

    def shout(frame: Frame) -> bytes:
        made.append(frame.msg.text)
        return frame.msg.text.upper().encode() + b"\n"

    fanout.add_wire("shout", shout)
    with pytest.raises(ValueError, match="exists already"):
        fanout.add_wire("native", shout)
    hub = LocalHub()
    loud = [_Calls(f"loud{i}", "shout") for i in range(3)]
    for sub in loud:
        hub.enter(sub, sub.nick, "#a", lambda g: None)
    hub.publish("#a", lambda seq, ts: m.ChatMessage(seq=seq, ts=ts, room="#a", nick="x", text="hey"))
    assert hub.flush(timeout=TIMEOUT)
    assert made == ["hey"]
    assert [b"".join(sub.calls) for sub in loud] == [b"HEY\n"] * 3
    with pytest.raises(AttributeError):
        _ = Frame(m.Notice(text="x", ts=0)).no_such_wire


@pytest.fixture
def chat(make_chat_server):
    return make_chat_server(ServerConfig(host="127.0.0.1", port=0), start=False)


def _pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    theirs.settimeout(TIMEOUT)
    return ours, theirs


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "closed early"
        data += chunk
    return data


def test_a_websocket_session_writes_a_framed_batch_as_it_is_and_frames_its_own_replies(chat):
    ours, theirs = _pair()
    try:
        session = Session(chat, ours, ("127.0.0.1", 1), dialect=WebSocketDialect(max_frame=4096))
        assert session.wire == "websocket"
        batch = Frame(m.Notice(text="one", ts=0)).websocket + Frame(m.Notice(text="two", ts=0)).websocket
        session.deliver_bytes(batch)
        assert _recv_exactly(theirs, len(batch)) == batch, "written as given: no split, no re-framing"
        session.deliver(Frame(m.Error("x", "alone")))  # for it alone: framed by its dialect
        reply = Frame(m.Error("x", "alone")).websocket
        assert _recv_exactly(theirs, len(reply)) == reply
    finally:
        ours.close()
        theirs.close()


# -- the stream: TLS sniffed once, reads with a deadline ------------------------------------


def test_open_tls_tells_silence_plaintext_a_hang_up_and_a_handshake_apart(tmp_path):
    authority = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    authority.configure_trust(client_ctx)

    ours, theirs = _pair()
    with ours, theirs:
        assert Stream(ours, ("127.0.0.1", 1)).open_tls(server_ctx, 0.05) is Sniffed.SILENT
    ours, theirs = _pair()
    with ours, theirs:
        theirs.sendall(b'{"type": "hello"}\n')
        stream = Stream(ours, ("127.0.0.1", 1))
        assert stream.open_tls(server_ctx, TIMEOUT) is Sniffed.PLAIN
        assert stream.first_byte == ord("{") and stream.tls is None
        assert stream.read() == b'{"type": "hello"}\n', "left unread for the dialect"
    ours, theirs = _pair()
    with ours:
        theirs.close()
        assert Stream(ours, ("127.0.0.1", 1)).open_tls(server_ctx, TIMEOUT) is Sniffed.CLOSED
    ours, theirs = _pair()
    with ours, theirs:
        stream = Stream(ours, ("127.0.0.1", 1))
        said: list[bytes] = []

        def client() -> None:
            with client_ctx.wrap_socket(theirs, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"secret\n")
                said.append(tls.recv(100))

        thread = threading.Thread(target=client)
        thread.start()
        assert stream.open_tls(server_ctx, TIMEOUT) is Sniffed.TLS
        assert stream.read() == b"secret\n"
        stream.write(b"answer\n")
        thread.join(TIMEOUT)
        assert said == [b"answer\n"]


def test_a_read_past_its_deadline_raises_without_waiting():
    now = [100.0]
    ours, theirs = _pair()
    with ours, theirs:
        stream = Stream(ours, ("127.0.0.1", 1), clock=lambda: now[0])
        stream.until(105.0, "too slow")
        theirs.sendall(b"a")
        assert stream.read() == b"a"
        now[0] = 105.0
        with pytest.raises(TimeoutError, match="too slow"):
            stream.read()  # (nothing sent: it would wait for ever without the deadline)


# -- a session's timers --------------------------------------------------------------------


def test_timers_login_deadline_then_ping_then_idle_on_an_injected_clock():
    cfg = ServerConfig(login_timeout=10, ping_interval=30, idle_timeout=90)
    now = [0.0]
    sent: list[m.Message] = []
    state = {"registered": False, "pings": True, "exempt": False}
    timers = Timers(
        cfg,
        sent.append,
        registered=lambda: state["registered"],
        exempt=lambda: state["exempt"],
        pings=lambda: state["pings"],
        may_speak=lambda: True,
        clock=lambda: now[0],
    )
    assert timers.due() == 10
    now[0] = 10.0
    with pytest.raises(SessionEnd, match="login timeout"):
        timers.due()
    assert [type(x) for x in sent] == [m.Error] and sent[0].code == "login_timeout"
    state["exempt"] = True
    assert timers.due() is None, "the host's own client has no login deadline"
    state["registered"] = True
    timers.heard()
    assert timers.due() == 30
    now[0] = 40.0
    assert timers.due() == 90 - 30, "pinged: the idle timeout is next"
    assert isinstance(sent[-1], m.Ping)
    assert timers.due() == 60 and len(sent) == 2, "one ping, not one per wait"
    state["pings"] = False
    assert timers.due() is None, "a plain client is not pinged"
    state["pings"] = True
    now[0] = 100.0
    with pytest.raises(SessionEnd, match="idle timeout"):
        timers.due()
    assert isinstance(sent[-1], m.Bye)


# -- HTTP routes ---------------------------------------------------------------------------


def test_routes_exact_paths_then_the_longest_prefix():
    files, deep, ws = Route(lambda c, r: None), Route(lambda c, r: None), Route(lambda c, r: None)
    routes = Routes()
    routes.add("/ws", ws)
    routes.add_prefix("/f/", files)
    routes.add_prefix("/f/deep/", deep)
    assert routes.find("/ws") is ws
    assert routes.find("/ws/x") is None
    assert routes.find("/f/abc/name.txt") is files
    assert routes.find("/f/deep/x") is deep
    assert routes.find("/g") is None


def test_a_route_added_to_the_page_port_is_served_beside_the_page(chat):
    chat.start()
    web = WebServer(chat, "127.0.0.1", 0)

    def hello(conn, request) -> None:  # noqa: ANN001
        name = request.target.decode().removeprefix("/f/")
        conn.respond(200, [(b"content-length", str(len(name)).encode())], name.encode())

    web.routes.add_prefix("/f/", Route(hello))
    host, port = web.start()

    def get(target: str) -> bytes:
        with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
            return out

    got = get("/f/report.pdf")
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"\r\n\r\nreport.pdf")
    assert get("/").startswith(b"HTTP/1.1 200 "), "the page is still there"
    assert get("/g/x").startswith(b"HTTP/1.1 404 ")
