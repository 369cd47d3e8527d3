"""File sharing's limits on a real server (issue 24): a disk that fills in the middle of an upload, and
``--max-file-size 0`` (file sharing off)."""

from __future__ import annotations

import http.client
import json
import os
import resource
import subprocess

from helpers import NativeClient, ServerProcess, program, python_env, run_client
from test_files import ask_token, get, put, share

LIMIT = 2 * 1024 * 1024  # bytes any one file of the server may grow to (RLIMIT_FSIZE)


def _small_files() -> None:
    """In the server's process: a file may not grow past ``LIMIT`` (a write past it fails with EFBIG,
    as one on a full disk fails with ENOSPC; Python ignores the SIGXFSZ that comes with it)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_disk_that_fills_mid_upload_refuses_it_cleanly_while_chat_goes_on(tmp_path):
    srv = ServerProcess("--rate-limit", "0", "--store", str(tmp_path / "chat.sqlite3"), preexec_fn=_small_files)
    try:
        alice, bob = NativeClient(srv.port, "alice"), NativeClient(srv.port, "bob")
        body = os.urandom(3 * LIMIT)
        token = ask_token(alice, "huge.bin", len(body))
        assert token["type"] == "upload_token", token  # (the disk's free space said yes: it fills meanwhile)
        status, text = put(srv, token["path"], body)
        assert status == 507, (status, text)
        assert b"disk is full" in text and b"chat goes on" in text
        files = tmp_path / "files" / "chat"
        assert sorted(p.name for p in files.iterdir()) == []  # the part written is gone
        alice.say("still here")
        assert bob.messages(1)[0]["text"] == "still here"
        shared = share(srv, alice, "small.bin", b"fits")  # what was reserved for the failed one was given back
        assert get(srv, shared["url"]).body == b"fits"
        # The terminal client says so in one clear line, and fails.
        big = tmp_path / "big.iso"
        big.write_bytes(body)
        sent = run_client(srv.address, "--name", "carol", "--send-file", str(big))
        assert sent.returncode == 1, sent
        assert "big.iso was not sent: the server's disk is full" in sent.stderr, sent.stderr
        assert sorted(p.name for p in files.iterdir()) == sorted([shared["id"], shared["id"] + ".json"])
        assert srv.proc.poll() is None
    finally:
        srv.stop()


def test_max_file_size_0_turns_file_sharing_off(tmp_path):
    srv = ServerProcess("--max-file-size", "0", "--store", str(tmp_path / "chat.sqlite3"))
    try:
        alice = NativeClient(srv.port, "alice")
        refused = ask_token(alice, "a.txt", 3)
        assert refused["type"] == "error" and refused["code"] == "no_files"
        assert "file sharing is off" in refused["message"]
        assert put(srv, "/up/anything", b"abc")[0] == 405  # no upload route at all: GET and HEAD only
        assert get(srv, "/up").status == 404  # the page hides its attach button
        assert not (tmp_path / "files").exists()
        source = tmp_path / "a.txt"
        source.write_text("abc")
        sent = run_client(srv.address, "--name", "bob", input=f"/send {source}\n")
        assert "file sharing is off on this server" in sent.stdout, sent
        once = run_client(srv.address, "--name", "carol", "--send-file", str(source))
        assert once.returncode == 1 and "file sharing is off on this server" in once.stderr, once
    finally:
        srv.stop()


def test_the_page_learns_the_largest_file_and_help_says_what_0_does():
    srv = ServerProcess("--max-file-size", "3")
    try:
        assert json.loads(get(srv, "/up").body) == {"max_size": 3 * 1024 * 1024}
    finally:
        srv.stop()
    shown = subprocess.run([*program("chatserver"), "--help"], capture_output=True, text=True, env=python_env())
    assert "0 turns file sharing off" in " ".join(shown.stdout.split())


def test_the_total_of_all_files_is_limited_and_the_default_largest_file_is_100_mib(tmp_path):
    srv = ServerProcess("--files-max-mb", "1", "--file-quota", "0", "--store", str(tmp_path / "chat.sqlite3"))
    try:
        assert json.loads(get(srv, "/up").body) == {"max_size": 100 * 1024 * 1024}  # (--max-file-size not given)
        alice, bob = NativeClient(srv.port, "alice"), NativeClient(srv.port, "bob")
        share(srv, alice, "first.bin", os.urandom(700_000))
        over = ask_token(bob, "second.bin", 700_000)  # another person: the total, not a person's quota
        assert over["type"] == "error" and over["code"] == "file_refused"
        assert "the server's files are full" in over["message"]
        assert len(list((tmp_path / "files" / "chat").iterdir())) == 2  # the first and its record, nothing else
    finally:
        srv.stop()


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (``VmHWM``)."""
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_an_upload_and_its_download_are_streamed_never_whole_in_memory(tmp_path):
    srv = ServerProcess("--rate-limit", "0")
    try:
        alice = NativeClient(srv.port, "alice")
        share(srv, alice, "warm.bin", b"x" * 1000)  # (the code paths loaded once before measuring)
        before = _peak_rss(srv.proc.pid)
        size = 96 * 1024 * 1024
        token = ask_token(alice, "big.bin", size)
        conn = http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=60)
        conn.putrequest("PUT", token["path"])
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        block = os.urandom(1024 * 1024)
        for _ in range(size // len(block)):
            conn.send(block)
        resp = conn.getresponse()
        assert resp.status == 201
        url = json.loads(resp.read())["url"]
        conn.close()
        got = get(srv, url)
        assert len(got.body) == size and got.body[: len(block)] == block
        grown = _peak_rss(srv.proc.pid) - before
        assert grown < 24 * 1024 * 1024, f"the server's peak memory grew by {grown} bytes for a {size}-byte file"
    finally:
        srv.stop()


def test_files_older_than_retain_days_are_deleted_at_start_as_messages_are(tmp_path):
    store = str(tmp_path / "chat.sqlite3")
    srv = ServerProcess("--store", store)
    try:
        alice = NativeClient(srv.port, "alice")
        old = share(srv, alice, "old.bin", b"from long ago")
        new = share(srv, alice, "new.bin", b"from today")
    finally:
        srv.stop()
    files = tmp_path / "files" / "chat"
    record = files / f"{old['id']}.json"
    fields = json.loads(record.read_text())
    fields["created"] -= 3 * 86400  # (as if shared three days ago: the record keeps when)
    record.write_text(json.dumps(fields))
    srv = ServerProcess("--store", store, "--retain-days", "2")
    try:
        gone = get(srv, old["url"])
        assert gone.status == 404 and b"not here" in gone.body
        assert get(srv, new["url"]).body == b"from today"
        assert sorted(p.name for p in files.iterdir()) == sorted([new["id"], f"{new['id']}.json"])
    finally:
        srv.stop()
