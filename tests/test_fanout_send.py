"""The outbox's send that keeps the GIL (``outbound.send_now``) does what Python's non-blocking send
does: takes what the kernel takes, says so when it takes nothing, and fails as it fails."""

from __future__ import annotations

import socket

import pytest

from chatserver.net.outbound import send_now


def test_it_sends_every_byte_nul_included_and_views_too() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        data = b"ab\x00cd\n" * 100
        assert send_now(ours, data) == len(data)
        assert send_now(ours, memoryview(data)[6:12]) == 6
        got = b""
        while len(got) < len(data) + 6:
            got += theirs.recv(65536)
        assert got == data + data[6:12]


def test_a_full_socket_takes_part_then_nothing_as_pythons_send_says() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = b"x" * (1 << 20)
        sent = send_now(ours, big)
        assert 0 < sent < len(big)
        with pytest.raises(BlockingIOError):
            for _ in range(100):  # (until the kernel's buffers are full)
                assert send_now(ours, big) > 0


def test_a_closed_peer_fails_as_pythons_send_fails() -> None:
    ours, theirs = socket.socketpair()
    with ours:
        theirs.close()
        with pytest.raises(BrokenPipeError):
            send_now(ours, b"hello")
    with pytest.raises(OSError):
        send_now(ours, b"hello")  # (closed: no descriptor)
