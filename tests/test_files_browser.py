"""Shared files in the chat page (issue 24), in a real headless Chromium against a real server: the
attach button uploads with its progress, a terminal's picture shows inline and scaled, anything else as
a link, and nothing breaks the page's Content Security Policy."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import zlib

from helpers import NativeClient, ServerProcess, run_client, wait_for
from test_browser import LineClient, browser, page  # noqa: F401 - the fixtures


def png(width: int, height: int) -> bytes:
    """A real PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    raw = b"".join(b"\x00" + b"\x20\x80\xc0" * width for _ in range(height))
    head = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def share(srv: ServerProcess, client: NativeClient, name: str, body: bytes) -> None:
    client.send_json({"type": "upload", "name": name, "size": len(body)})
    token = client.expect(lambda f: f["type"] == "upload_token")
    conn = http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=10)
    conn.request("PUT", token["path"], body=body)
    assert conn.getresponse().status == 201


def test_a_terminal_picture_shows_inline_and_a_document_as_a_link(server, page):  # noqa: F811
    page.open(server)
    page.login("pat")
    bob = NativeClient(server.port, "bob")
    share(server, bob, "photo.png", png(1600, 1200))
    share(server, bob, "notes.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    page.wait_text("shared notes.svg")
    page.wait(lambda: page.driver.execute_script(
        "const i = document.querySelector('img.shared-image'); return i && i.complete && i.naturalWidth === 1600"
    ))  # fmt: skip
    box = page.driver.execute_script(
        "const r = document.querySelector('img.shared-image').getBoundingClientRect(); return [r.width, r.height]"
    )
    assert box[0] <= 24 * 16 + 1 and box[1] <= 16 * 16 + 1  # scaled down to the log
    links = page.driver.execute_script(
        "return [...document.querySelectorAll('.shared-file a')].map(a => [a.textContent, a.getAttribute('href')])"
    )
    assert [name for name, _ in links] == ["photo.png", "notes.svg"]
    assert all(href.startswith("/f/") for _, href in links)
    assert page.driver.execute_script("return document.querySelectorAll('.shared-file img').length") == 1  # no SVG
    page.shot("shared-files")
    page.say("/files")  # the room's files again, marked as such
    page.wait(
        lambda: page.driver.execute_script("return document.querySelectorAll('.line.found .shared-file').length") == 2
    )
    assert page.csp_violations() == []


def test_the_attach_button_uploads_with_progress_to_the_room(server, page, tmp_path):  # noqa: F811
    page.open(server)
    page.login("pat")
    bob = NativeClient(server.port, "bob")
    body = os.urandom(3_000_000)
    path = tmp_path / "big file.bin"
    path.write_bytes(body)
    page.driver.execute_script("document.getElementById('attach-input').hidden = false")
    page.el("#attach-input").send_keys(str(path))
    msg = bob.expect(lambda f: f["type"] == "message" and "file" in f, timeout=30)
    assert msg["nick"] == "pat" and msg["file"]["name"] == "big file.bin"
    assert msg["file"]["sha256"] == hashlib.sha256(body).hexdigest()
    page.wait_text("shared big file.bin")
    # The progress bar was shown, and is hidden again once the upload ended.
    page.wait(lambda: page.el("#upload-progress").get_attribute("hidden") is not None)
    assert page.csp_violations() == []


def test_a_pasted_picture_is_shared(server, page):  # noqa: F811
    page.open(server)
    page.login("pat")
    bob = NativeClient(server.port, "bob")
    data = base64.b64encode(png(4, 4)).decode()
    page.driver.execute_script(
        "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));"
        "const file = new File([bytes], 'image.png', { type: 'image/png' });"
        "const data = new DataTransfer(); data.items.add(file);"
        "document.getElementById('input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data }));",
        data,
    )
    msg = bob.expect(lambda f: f["type"] == "message" and "file" in f, timeout=30)
    assert msg["file"]["type"] == "image/png"


def test_a_file_from_the_page_is_fetched_by_a_terminal_with_identical_bytes(server, page, tmp_path):  # noqa: F811
    term = LineClient(server, "term")
    try:
        assert wait_for(lambda: term.saw("Connected"))
        page.open(server)
        page.login("pat")
        assert wait_for(lambda: term.saw("pat joined"))
        body = os.urandom(500_000)
        path = tmp_path / "from page.pdf"
        path.write_bytes(body)
        page.driver.execute_script("document.getElementById('attach-input').hidden = false")
        page.el("#attach-input").send_keys(str(path))
        assert wait_for(lambda: term.saw("pat shared from page.pdf (500.0 kB) — /get 1"), 30), term.lines
        folder = tmp_path / "got"
        term.type(f"/get 1 {folder}")
        assert wait_for(lambda: term.saw("saved from page.pdf"), 30), term.lines
        assert hashlib.sha256((folder / "from page.pdf").read_bytes()).digest() == hashlib.sha256(body).digest()
    finally:
        term.close()


def test_with_file_sharing_off_the_page_shows_no_attach_button(page):  # noqa: F811
    srv = ServerProcess("--max-file-size", "0")
    try:
        page.open(srv)
        page.login("pat")
        page.wait(lambda: page.el("#attach").get_attribute("hidden") is not None)
        page.driver.execute_script(  # a file dropped all the same: a line says why nothing is sent
            "const data = new DataTransfer(); data.items.add(new File(['x'], 'x.txt'));"
            "document.getElementById('chat-view').dispatchEvent(new DragEvent('drop', { dataTransfer: data }));"
        )
        page.wait_text("file sharing is off on this server")
        assert page.csp_violations() == []
    finally:
        srv.stop()


def test_with_file_sharing_on_the_attach_button_is_there(server, page):  # noqa: F811
    page.open(server)
    page.login("pat")
    page.wait(lambda: page.driver.execute_script("return !document.getElementById('attach').hidden"))
    assert page.el("#attach").is_displayed()


def test_a_picture_shared_on_another_cluster_node_shows_inline(page, redis_server):  # noqa: F811
    args = ("--cluster", redis_server.url, "--cluster-heartbeat", "1", "--rate-limit", "0")
    first, second = ServerProcess(*args), ServerProcess(*args)
    try:
        page.open(second)
        page.login("pat")
        bob = NativeClient(first.port, "bob")
        share(first, bob, "far.png", png(64, 48))
        page.wait_text("shared far.png")
        page.wait(lambda: page.driver.execute_script(
            "const i = document.querySelector('img.shared-image'); return i && i.complete && i.naturalWidth === 64"
        ))  # fmt: skip
        assert page.csp_violations() == []
    finally:
        for node in (first, second):
            node.stop()


def test_a_file_sent_by_the_terminal_client_shows_in_the_page_with_identical_bytes(server, page, tmp_path):  # noqa: F811
    page.open(server)
    page.login("pat")
    picture = png(320, 200)
    source = tmp_path / "screenshot.png"
    source.write_bytes(picture)
    sent = run_client(server.address, "--name", "term", "--send-file", str(source))
    assert sent.returncode == 0, sent.stderr
    page.wait_text("shared screenshot.png")
    page.wait(lambda: page.driver.execute_script(
        "const i = document.querySelector('img.shared-image'); return i && i.complete && i.naturalWidth === 320"
    ))  # fmt: skip
    href = page.driver.execute_script("return document.querySelector('.shared-file a').getAttribute('href')")
    conn = http.client.HTTPConnection("127.0.0.1", server.web_port, timeout=10)
    conn.request("GET", href)
    assert hashlib.sha256(conn.getresponse().read()).digest() == hashlib.sha256(picture).digest()
    assert page.csp_violations() == []


def test_a_dropped_file_is_shared_with_a_progress_bar(server, page):  # noqa: F811
    page.open(server)
    page.login("pat")
    bob = NativeClient(server.port, "bob")
    size = 4_000_000
    page.driver.execute_script(  # what the bar goes through, kept as it changes
        "window.seenBar = []; const bar = document.getElementById('upload-progress');"
        "new MutationObserver(() => window.seenBar.push([bar.hidden, bar.max, bar.value]))"
        ".observe(bar, { attributes: true });"
        "const data = new DataTransfer();"
        "data.items.add(new File([new Uint8Array(arguments[0]).fill(7)], 'dropped.bin'));"
        "const view = document.getElementById('chat-view');"
        "view.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, cancelable: true }));"
        "view.dispatchEvent(new DragEvent('drop', { dataTransfer: data, cancelable: true }));",
        size,
    )
    msg = bob.expect(lambda f: f["type"] == "message" and "file" in f, timeout=30)
    assert msg["nick"] == "pat" and msg["file"]["name"] == "dropped.bin" and msg["file"]["size"] == size
    assert msg["file"]["sha256"] == hashlib.sha256(b"\x07" * size).hexdigest()
    page.wait(lambda: page.el("#upload-progress").get_attribute("hidden") is not None)
    seen = page.driver.execute_script("return window.seenBar")
    assert any(not hidden and bar_max == size for hidden, bar_max, _ in seen), seen  # shown, for this file
    assert seen[-1][0] is True  # and hidden once it went
