"""The terminal client's uploads are matched to the server's answers in the order it asked (issue 24's
review): two files the server names alike (``a:b.bin`` is ``a_b.bin`` to it) of one size each go where
they were sent. A real server, a real client process in line mode, native clients receiving."""

from __future__ import annotations

import hashlib

from helpers import NativeClient, run_client


def test_two_files_the_server_names_alike_each_go_where_it_was_sent(server, tmp_path):
    bob = NativeClient(server.port, "bob")
    room = NativeClient(server.port, "roomie")
    first, second = tmp_path / "one" / "a:b.bin", tmp_path / "two" / "a_b.bin"
    for path, body in ((first, b"AAAAA"), (second, b"BBBBB")):
        path.parent.mkdir()
        path.write_bytes(body)
    sent = run_client(server.address, "--name", "dave", input=f"/send {first} bob\n/send {second}\n")
    assert sent.returncode == 0, sent.stderr
    private = bob.expect(lambda f: f["type"] == "private" and "file" in f)
    public = room.expect(lambda f: f["type"] == "message" and "file" in f)
    assert private["file"]["name"] == public["file"]["name"] == "a_b.bin"
    assert private["file"]["sha256"] == hashlib.sha256(b"AAAAA").hexdigest(), "bob got the file sent to bob"
    assert public["file"]["sha256"] == hashlib.sha256(b"BBBBB").hexdigest(), "the room got the file sent to it"
    bob.close()
    room.close()
