"""The terminal client's file progress in a real pseudo-terminal (issue 24: "with a progress bar"): one bar per
transfer in the prompt's bottom toolbar, redrawn in place as the bytes go, gone when the transfer ends. The
chat server is a scripted one on loopback (``fake_server``) and the test is the page's port, so that it
decides when each quarter of the bytes moves and looks at the screen in between."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time

from fake_server import FakeServer
from helpers import TIMEOUT, ServerProcess, program
from terminal import Terminal
from test_ui import _env

from common import messages as m

QUARTER = 1024 * 1024  # (a multiple of the client's read size: each quarter shows as it arrives)
FILE_ID = "x" * 24


def bar_rows(term: Terminal, label: str) -> list[int]:
    return [i for i, line in enumerate(term.lines) if label in line]


def read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        assert data, head
        head += data
    return head


def test_get_and_send_show_one_bar_redrawn_in_place(tmp_path):
    fake = FakeServer()
    web = socket.create_server(("127.0.0.1", 0))
    web.settimeout(TIMEOUT)
    port = web.getsockname()[1]
    term = Terminal([*program("chatclient"), fake.address, "--name", "viewer"], env=_env(tmp_path), rows=30)
    try:
        peer = fake.accept()
        peer.greet()
        term.wait_text("viewer>")
        body = os.urandom(4 * QUARTER)
        ref = m.FileRef(id=FILE_ID, name="big.bin", size=len(body), sha256=hashlib.sha256(body).hexdigest())
        link = f"http://127.0.0.1:{port}/f/{FILE_ID}/big.bin"
        text = f"shared big.bin (4.2 MB) — {link}"
        peer.send_msg(m.ChatMessage(seq=1, ts=time.time(), room="#lobby", nick="bob", text=text, action=True, file=ref))
        term.wait_text("bob shared big.bin (4.2 MB) — /get 1")
        term.send(f"/get 1 {tmp_path / 'dl'}\r")
        conn, _ = web.accept()
        with conn:
            assert read_head(conn).startswith(f"GET /f/{FILE_ID}/big.bin ".encode())
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
            for quarter in (1, 2, 3):
                conn.sendall(body[(quarter - 1) * QUARTER : quarter * QUARTER])
                shown = f"{25 * quarter}% getting big.bin"
                term.wait_for(lambda t, shown=shown: any(shown in line for line in t.lines), what=shown)
                rows = bar_rows(term, "getting big.bin")
                assert len(rows) == 1, term.text  # one bar, redrawn: the quarters before it are not lines
                assert "connected to" in term.lines[rows[0] + 1]  # in the toolbar, above its status line
            conn.sendall(body[3 * QUARTER :])
        term.wait_text("saved big.bin")
        term.wait_for(lambda t: not bar_rows(t, "getting big.bin"), what="the bar gone")
        assert (tmp_path / "dl" / "big.bin").read_bytes() == body

        # And the other way: /send's bar, at 100% once every byte went, until the server answers.
        source = tmp_path / "up.bin"
        source.write_bytes(body)
        term.send(f"/send {source}\r")
        asked = peer.expect(lambda f: f["type"] == "upload")
        assert asked["name"] == "up.bin" and asked["size"] == len(body)
        token = m.UploadToken(
            token="t", path="/up/t", web_port=port, name="up.bin", size=len(body), expires=600, room="#lobby"
        )
        peer.send_msg(token)
        conn, _ = web.accept()
        with conn:
            head = read_head(conn)
            got = len(head.partition(b"\r\n\r\n")[2])
            while got < len(body):
                got += len(conn.recv(1 << 20))
            term.wait_for(lambda t: any("100% sending up.bin" in line for line in t.lines), what="100%")
            assert len(bar_rows(term, "sending up.bin")) == 1, term.text
            answer = json.dumps({"id": "y" * 24, "name": "up.bin", "size": len(body), "sha256": "0" * 64, "type": ""})
            conn.sendall(f"HTTP/1.1 201 Created\r\nContent-Length: {len(answer)}\r\n\r\n{answer}".encode())
        term.wait_text("sent up.bin (4.2 MB) to #lobby")
        term.wait_for(lambda t: not bar_rows(t, "sending up.bin"), what="the bar gone")
        term.send("/quit\r")
        peer.expect(lambda f: f["type"] == "quit")
        peer.send_msg(m.Bye())
        assert term.wait_exit() == 0
    finally:
        web.close()
        fake.close()
        if term.child.isalive():
            term.child.terminate(force=True)


def test_tab_completes_the_path_after_send_in_a_terminal(tmp_path):
    srv = ServerProcess()
    (tmp_path / "report-2026.pdf").write_bytes(b"%PDF")
    term = Terminal([*program("chatclient"), srv.address, "--name", "typist"], env=_env(tmp_path), cols=200)
    try:
        term.wait_text("typist>")
        term.send(f"/send {tmp_path}/rep\t")
        term.wait_for(lambda t: t.cursor_line().rstrip().endswith(f"/send {tmp_path}/report-2026.pdf"), what="path")
        term.send("\x15/quit\r")
        assert term.wait_exit() == 0
    finally:
        srv.stop()
        if term.child.isalive():
            term.child.terminate(force=True)
