"""File sharing's limits on a real server (issue 24): a disk that fills in the middle of an upload, and
``--max-file-size 0`` (file sharing off)."""

from __future__ import annotations

import os
import resource

from helpers import NativeClient, ServerProcess, run_client
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
