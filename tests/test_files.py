"""File sharing on a real server (issue 24): tokens over the chat connection, uploads and downloads over
HTTP on the page's port, the message the room or the person gets, limits and hostile input."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import urllib.parse

import pytest
from helpers import NativeClient, PlainClient, ServerProcess

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture
def server(make_server):
    return make_server()  # (rate limited, as a server is by default)


def ask_token(client: NativeClient, name: str, size: int, **target) -> dict:
    client.send_json({"type": "upload", "name": name, "size": size, **target})
    return client.expect(lambda f: f["type"] in ("upload_token", "error"))


def put(srv: ServerProcess, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=10)
    conn.request("PUT", path, body=body, headers={"Content-Length": str(len(body)), **(headers or {})})
    resp = conn.getresponse()
    got = resp.status, resp.read()
    conn.close()
    return got


def get(srv: ServerProcess, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def share(srv: ServerProcess, client: NativeClient, name: str, body: bytes, **target) -> dict:
    token = ask_token(client, name, len(body), **target)
    assert token["type"] == "upload_token", token
    status, answer = put(srv, token["path"], body)
    assert status == 201, answer
    return json.loads(answer)


def link_path(text: str) -> str:
    url = text.rsplit(" ", 1)[-1]
    parsed = urllib.parse.urlsplit(url)
    return parsed.path


def test_a_room_file_reaches_everyone_with_identical_bytes(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    nc = PlainClient(server.port, "carol")
    body = os.urandom(300_000)
    shared = share(server, alice, "report.pdf", body)
    msg = bob.expect(lambda f: f["type"] == "message" and "file" in f)
    assert msg["nick"] == "alice" and msg["action"] is True
    assert msg["file"]["name"] == "report.pdf" and msg["file"]["size"] == len(body)
    assert msg["file"]["sha256"] == hashlib.sha256(body).hexdigest() == shared["sha256"]
    assert msg["text"].startswith("shared report.pdf (300.0 kB) — http://127.0.0.1:")
    # An nc user gets the line with a link that works.
    line = nc.expect_line(lambda b: b"shared report.pdf" in b)[-1].decode()
    assert f"http://127.0.0.1:{server.web_port}/f/{shared['id']}/report.pdf" in line
    resp = get(server, link_path(line.strip()))
    assert resp.status == 200 and resp.body == body
    assert resp.getheader("content-disposition").startswith("attachment;")
    assert resp.getheader("x-content-type-options") == "nosniff"
    assert "sandbox" in resp.getheader("content-security-policy")
    assert resp.getheader("content-type") == "application/octet-stream"
    assert len(shared["id"]) >= 22  # at least 128 random bits, base64url


def test_a_private_file_goes_to_that_person_alone(server):
    alice, bob, carol = (NativeClient(server.port, n) for n in ("alice", "bob", "carol"))
    share(server, alice, "secret.txt", b"for bob only", to="bob")
    got = bob.expect(lambda f: f["type"] == "private")
    assert got["file"]["name"] == "secret.txt" and got["to"] == "bob"
    mine = alice.expect(lambda f: f["type"] == "private")
    assert mine["file"]["id"] == got["file"]["id"]
    bob.say("ping")  # carol's frames up to bob's next message: never the file
    frames = []
    while True:
        f = carol.frame()
        frames.append(f)
        if f["type"] == "message" and f["text"] == "ping":
            break
    assert not any("file" in f for f in frames)
    carol.send_json({"type": "files"})
    listed = carol.expect(lambda f: f["type"] == "notice" and f.get("event") == "files")
    assert "no files" in listed["text"]


def test_files_lists_the_room_files_again(server):
    alice = NativeClient(server.port, "alice")
    share(server, alice, "a.txt", b"one")
    share(server, alice, "b.txt", b"two")
    alice.send_json({"type": "files"})
    frames = []
    while not (frames and frames[-1]["type"] == "notice" and frames[-1].get("event") == "files"):
        frames.append(alice.frame())
    listed = [f["file"]["name"] for f in frames if f.get("replay") == "files"]
    assert listed == ["a.txt", "b.txt"]


def test_range_requests_resume_a_download(server):
    alice = NativeClient(server.port, "alice")
    body = os.urandom(100_000)
    shared = share(server, alice, "data.bin", body)
    url = shared["url"]
    part = get(server, url, {"Range": "bytes=40000-"})
    assert part.status == 206 and part.body == body[40000:]
    assert part.getheader("content-range") == f"bytes 40000-99999/{len(body)}"
    assert get(server, url, {"Range": "bytes=-10"}).body == body[-10:]
    assert get(server, url, {"Range": "bytes=0-0"}).body == body[:1]
    assert get(server, url, {"Range": "bytes=99990-200000"}).body == body[99990:]
    past = get(server, url, {"Range": "bytes=100000-"})
    assert past.status == 416 and past.getheader("content-range") == f"bytes */{len(body)}"
    assert get(server, url, {"Range": "bytes=5-2"}).status == 416
    assert get(server, url, {"Range": "bytes=0-1,5-6"}).status == 200  # several ranges: the whole file
    assert get(server, url, {"Range": "bytes=10-", "If-Range": '"other"'}).status == 200
    # An interrupted download: the first bytes over a socket cut short, the rest by a range.
    sock = socket.create_connection(("127.0.0.1", server.web_port), timeout=10)
    sock.sendall(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200")
    sock.close()
    resumed = get(server, url, {"Range": "bytes=1234-"})
    assert body[:1234] + resumed.body == body


def test_unknown_ids_bad_tokens_and_lengths_are_refused(server):
    alice = NativeClient(server.port, "alice")
    assert get(server, "/f/nosuchid/x.txt").status == 404
    assert get(server, "/f/../../etc/passwd").status == 404
    status, text = put(server, "/up/madeup", b"abc")
    assert status == 403 and b"no such upload token" in text
    token = ask_token(alice, "x.txt", 10)
    status, text = put(server, token["path"], b"12345")  # fewer bytes than the token says
    assert status == 400 and b"not the 10 bytes" in text
    status, _ = put(server, token["path"], b"1234567890")  # a token is good once, even if refused
    assert status == 403
    bad = ask_token(alice, "x.txt", -1)
    assert bad["type"] == "error" and "negative" in bad["message"]
    nobody = ask_token(alice, "x.txt", 1, to="nobody")
    assert nobody["type"] == "error" and nobody["code"] == "no_such_nick"
    other = ask_token(alice, "x.txt", 1, room="#elsewhere")
    assert other["type"] == "error" and other["code"] == "not_in_room"


def test_size_and_quota_refusals_come_before_anything_is_stored(tmp_path):
    srv = ServerProcess("--max-file-size", "1", "--file-quota", "1", "--store", str(tmp_path / "chat.sqlite3"))
    try:
        alice = NativeClient(srv.port, "alice")
        big = ask_token(alice, "big.iso", 1024 * 1024 + 1)
        assert big["type"] == "error" and big["code"] == "file_refused"
        assert "at most 1.0 MB" in big["message"] or "at most 1.1 MB" in big["message"]
        share(srv, alice, "first.bin", os.urandom(700_000))
        over = ask_token(alice, "second.bin", 700_000)
        assert over["type"] == "error" and "quota" in over["message"]
        bob = NativeClient(srv.port, "bob")  # the quota is alice's, not everyone's
        share(srv, bob, "bobs.bin", os.urandom(700_000))
        kept = sorted(p.name for p in (tmp_path / "files" / "chat").iterdir())
        assert len(kept) == 4 and not any(p.endswith(".part") for p in kept)  # two files, two records
    finally:
        srv.stop()


def test_hostile_names_are_neutralised_and_never_paths(server, tmp_path):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    names = {
        "../../etc/passwd": "passwd",
        "..\\..\\boot.ini": "boot.ini",
        "evil\u202egpj.exe": "evil_gpj.exe",
        "a\x1b[31mred.txt": "a_[31mred.txt",
        "fake\u2215slash.txt": "fake_slash.txt",
        "full\uff0fwidth.txt": "width.txt",
        "...": "file",
    }
    for sent, shown in names.items():
        shared = share(server, alice, sent, b"x")
        assert shared["name"] == shown
        msg = bob.expect(lambda f: f["type"] == "message" and "file" in f)
        assert msg["file"]["name"] == shown
        assert get(server, shared["url"]).body == b"x"


def test_only_safe_images_are_shown_inline(server):
    alice = NativeClient(server.port, "alice")
    png = get(server, share(server, alice, "cat.png", PNG)["url"])
    assert png.getheader("content-type") == "image/png"
    assert png.getheader("content-disposition").startswith("inline;")
    svg = get(server, share(server, alice, "x.svg", b"<svg onload=alert(1)>")["url"])
    assert svg.getheader("content-type") == "application/octet-stream"
    assert svg.getheader("content-disposition").startswith("attachment;")
    fake = get(server, share(server, alice, "fake.png", b"<html><script>alert(1)</script>")["url"])
    assert fake.getheader("content-type") == "application/octet-stream"


def test_a_restart_keeps_files_and_their_messages(tmp_path):
    store = str(tmp_path / "chat.sqlite3")
    srv = ServerProcess("--store", store)
    alice = NativeClient(srv.port, "alice")
    body = os.urandom(50_000)
    shared = share(srv, alice, "kept.bin", body)
    alice.close()
    srv.stop()
    srv = ServerProcess("--store", store)
    try:
        assert get(srv, shared["url"]).body == body
        bob = NativeClient(srv.port, "bob")
        replayed = bob.expect(lambda f: f["type"] == "message" and f.get("replay") == "history")
        assert replayed["file"]["id"] == shared["id"]  # the room's history still knows it is a file
        assert replayed["file"]["sha256"] == shared["sha256"] and replayed["action"] is True
        bob.send_json({"type": "files"})
        listed = bob.expect(lambda f: f.get("replay") == "files")
        assert listed["file"]["id"] == shared["id"]
    finally:
        srv.stop()


def test_memory_store_files_go_with_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    srv = ServerProcess()
    alice = NativeClient(srv.port, "alice")
    share(srv, alice, "temp.bin", b"gone at exit")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("lanchat-files-")]
    alice.close()
    srv.stop()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("lanchat-files-")]


def test_slow_uploaders_block_no_chat_and_are_limited_per_address(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    stalled = []
    for i in range(3):  # three uploads that send their head and a few bytes, then nothing
        token = ask_token(alice, f"slow{i}.bin", 1_000_000)
        sock = socket.create_connection(("127.0.0.1", server.web_port), timeout=10)
        sock.sendall(f"PUT {token['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n".encode())
        sock.sendall(b"x" * 1000)
        stalled.append(sock)
    start = time.monotonic()
    alice.say("still chatting")
    assert bob.messages(1)[0]["text"] == "still chatting"
    assert time.monotonic() - start < 2.0
    # The three above are still open, so a fourth from the same address is refused.
    token = ask_token(alice, "fourth.bin", 3)
    deadline = time.monotonic() + 10
    while True:  # (the three may not all have reached the server's count yet: ask until refused)
        status, text = put(server, token["path"], b"abc")
        if status != 201 or time.monotonic() > deadline:  # (429 once the three are counted)
            break
        token = ask_token(alice, "fourth.bin", 3)
    assert status == 429 and b"at most 3 uploads at once" in text
    for sock in stalled:
        sock.close()


def test_a_file_shared_on_one_cluster_node_downloads_from_the_other(make_redis):
    redis = make_redis()
    args = ("--cluster", redis.url, "--cluster-heartbeat", "1", "--rate-limit", "0")
    first, second = ServerProcess(*args), ServerProcess(*args)
    try:
        alice = NativeClient(first.port, "alice")
        bob = NativeClient(second.port, "bob")
        body = os.urandom(20_000)
        shared = share(first, alice, "both.bin", body)
        msg = bob.expect(lambda f: f["type"] == "message" and "file" in f)
        assert f":{first.web_port}/f/{shared['id']}/" in msg["text"]  # the link names the node that keeps it
        moved = get(second, shared["url"])  # asked of the other node: sent to the one that has it
        assert moved.status == 307
        location = urllib.parse.urlsplit(moved.getheader("location"))
        assert location.port == first.web_port and location.path == shared["url"]
        assert get(first, location.path).body == body
        alice.close()
        first.stop()
        # The node that kept it is gone: the link says so, nothing passes for the file.
        gone = get(second, shared["url"])
        assert gone.status == 404 and b"not here" in gone.body
    finally:
        for node in (first, second):
            if node.proc.poll() is None:
                node.stop()


def test_a_downloader_that_reads_nothing_blocks_no_chat(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    shared = share(server, alice, "big.bin", os.urandom(8_000_000))
    bob.expect(lambda f: f["type"] == "message" and "file" in f)
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", server.web_port))
    stuck.sendall(f"GET {shared['url']} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert stuck.recv(64).startswith(b"HTTP/1.1 200")  # it started, and now reads nothing more
    for i in range(5):
        alice.say(f"chat goes on {i}")
        assert bob.messages(1, timeout=5)[0]["text"] == f"chat goes on {i}"
    assert get(server, shared["url"], {"Range": "bytes=0-9"}).status == 206  # and other downloads too
    stuck.close()


def test_a_full_disk_refuses_uploads_with_a_clear_line(tmp_path):
    from chatserver.files.store import FileStore, Refusal

    store = FileStore(tmp_path / "files", per_person=0, total=0, margin=2**62)  # (no disk has that much free)
    with pytest.raises(Refusal, match="disk is full"):
        store.check("alice", 1)


def test_files_over_tls(tmp_path):
    import ssl

    srv = ServerProcess("--tls", "--store", str(tmp_path / "chat.sqlite3"))
    try:
        assert srv.web_scheme == "https"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        tls = ctx.wrap_socket(raw)
        tls.sendall(b'{"type":"hello","version":1,"nick":"alice"}\n')
        reader = tls.makefile("rb")
        frame = {}
        while frame.get("type") != "welcome":
            frame = json.loads(reader.readline())
        body = os.urandom(1_500_000)
        tls.sendall(json.dumps({"type": "upload", "name": "s.bin", "size": len(body)}).encode() + b"\n")
        while frame.get("type") != "upload_token":
            frame = json.loads(reader.readline())
        conn = http.client.HTTPSConnection("127.0.0.1", srv.web_port, timeout=10, context=ctx)
        conn.request("PUT", frame["path"], body=body)
        resp = conn.getresponse()
        assert resp.status == 201
        url = json.loads(resp.read())["url"]
        conn = http.client.HTTPSConnection("127.0.0.1", srv.web_port, timeout=10, context=ctx)
        conn.request("GET", url, headers={"Range": "bytes=100-"})
        resp = conn.getresponse()
        assert resp.status == 206 and resp.read() == body[100:]
        tls.close()
    finally:
        srv.stop()


def test_an_irc_user_gets_a_working_link(server):
    from irc_helpers import RawIrc

    irc = RawIrc(server.irc_port, "ircy")
    alice = NativeClient(server.port, "alice")
    body = os.urandom(30_000)
    shared = share(server, alice, "for irc.bin", body)
    line = irc.until(lambda w: w[1:2] == ["PRIVMSG"] and "shared" in w[-1])[-1]
    assert "\x01ACTION shared for irc.bin (30.0 kB) — http://127.0.0.1:" in line
    url = line.rstrip("\x01").rsplit(" ", 1)[-1]
    path = urllib.parse.urlsplit(url).path
    assert path == shared["url"]
    assert get(server, path).body == body


def test_files_older_than_the_retention_are_deleted(tmp_path):
    from chatserver.files.store import FileStore, Record

    root = tmp_path / "files"
    store = FileStore(root, per_person=0, total=0, margin=0)
    for file_id, created in (("old", 100.0), ("new", 200.0)):
        store.part_path(file_id).write_bytes(b"x")
        store.keep(Record(file_id, "n", 1, "s", "t", "o", "o", "#r", None, created))
    assert store.prune(150.0) == 1
    assert store.get("old") is None and store.get("new") is not None
    assert sorted(p.name for p in root.iterdir()) == ["new", "new.json"]
    again = FileStore(root, per_person=0, total=0, margin=0)  # (and a restart reads what is left)
    assert again.get("new") is not None and again.get("old") is None


def test_a_picture_kept_by_another_cluster_node_is_relayed_to_the_page(make_redis):
    redis = make_redis()
    args = ("--cluster", redis.url, "--cluster-heartbeat", "1", "--rate-limit", "0")
    first, second = ServerProcess(*args), ServerProcess(*args)
    try:
        alice = NativeClient(first.port, "alice")
        picture = PNG + os.urandom(50_000)
        shared = share(first, alice, "far.png", picture)
        # The page's <img> (its CSP takes images from its own origin only): relayed, not redirected.
        img = get(second, shared["url"], {"Sec-Fetch-Dest": "image"})
        assert img.status == 200 and img.body == picture
        assert img.getheader("content-type") == "image/png"
        assert img.getheader("x-content-sha256") == hashlib.sha256(picture).hexdigest()
        assert img.getheader("x-content-type-options") == "nosniff"
        assert "sandbox" in img.getheader("content-security-policy")
        older = get(second, shared["url"], {"Accept": "image/webp,*/*"})  # (a browser without Sec-Fetch-Dest)
        assert older.status == 200 and older.body == picture
        part = get(second, shared["url"], {"Sec-Fetch-Dest": "image", "Range": "bytes=100-"})
        assert part.status == 206 and part.body == picture[100:]
        assert part.getheader("content-range") == f"bytes 100-{len(picture) - 1}/{len(picture)}"
        assert get(second, shared["url"], {"Sec-Fetch-Dest": "document"}).status == 307  # a link: redirected
        assert get(second, "/f/nosuchid/x.png", {"Sec-Fetch-Dest": "image"}).status == 404
        alice.close()
        first.stop()
        gone = get(second, shared["url"], {"Sec-Fetch-Dest": "image"})
        assert gone.status == 404 and b"not here" in gone.body
    finally:
        for node in (first, second):
            if node.proc.poll() is None:
                node.stop()
