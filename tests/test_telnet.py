"""Telnet command stripping: the scanner alone, and its cost inside a real server."""

from __future__ import annotations

import select
import socket
import statistics
import time

import pytest
from helpers import TIMEOUT, LineSocket, NativeClient, ServerProcess
from hypothesis import given
from hypothesis import strategies as st

from common.telnet import MAX_SUBNEGOTIATION, TelnetError, TelnetScanner

IAC, DONT, DO, WONT, WILL, SB = b"\xff", b"\xfe", b"\xfd", b"\xfc", b"\xfb", b"\xfa"
SE, NOP, GA = b"\xf0", b"\xf1", b"\xf9"

# (stream, the data a peer meant) — every command form, and 0xFF as data.
SAMPLES = [
    (b"plain text\r\n", b"plain text\r\n"),
    (IAC + WILL + b"\x18bob\r\n", b"bob\r\n"),
    (IAC + DO + b"\x01" + IAC + DONT + b"\x03" + IAC + WONT + b"\x1fhi", b"hi"),
    (b"a" + IAC + IAC + b"b", b"a\xffb"),
    (IAC + SB + b"\x18\x00xterm-256color" + IAC + SE + b"nick\n", b"nick\n"),
    (IAC + SB + b"\x1f\x00\x50" + IAC + IAC + b"\x18" + IAC + SE + b"x", b"x"),  # IAC IAC inside SB
    (IAC + SB + b"\x27" + IAC + SB + b"junk" + IAC + SE + b"y", b"y"),  # a stray IAC x inside SB
    (b"one" + IAC + NOP + b"two" + IAC + GA + IAC + b"\xf4three", b"onetwothree"),
    (IAC + b"\x41bc", b"bc"),  # IAC and a non-command byte: both dropped
    ("héllo ünïcode\n".encode(), "héllo ünïcode\n".encode()),
]


def scan_in_pieces(stream: bytes, cuts: list[int]) -> bytes:
    scanner = TelnetScanner()
    bounds = [0, *sorted(cuts), len(stream)]
    return b"".join(scanner.feed(stream[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize(("stream", "data"), SAMPLES)
def test_every_split_point_gives_the_same_data(stream, data):
    assert TelnetScanner().feed(stream) == data
    for cut in range(len(stream) + 1):
        assert scan_in_pieces(stream, [cut]) == data, cut
    assert scan_in_pieces(stream, list(range(len(stream) + 1))) == data, "one byte at a time"


@given(
    parts=st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_any_pieces_of_any_concatenation(parts, cuts):
    stream = b"".join(p[0] for p in parts)
    data = b"".join(p[1] for p in parts)
    assert scan_in_pieces(stream, [c % (len(stream) + 1) for c in cuts]) == data


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_arbitrary_bytes_split_anywhere_scan_the_same(stream, cuts):
    """The scanner's answer never depends on how the stream was cut into reads."""
    try:
        whole = TelnetScanner().feed(stream)
    except TelnetError:
        with pytest.raises(TelnetError):
            scan_in_pieces(stream, [c % (len(stream) + 1) for c in cuts])
        return
    assert scan_in_pieces(stream, [c % (len(stream) + 1) for c in cuts]) == whole
    assert len(whole) <= len(stream)


def test_a_subnegotiation_up_to_the_limit_is_skipped():
    body = b"x" * MAX_SUBNEGOTIATION
    assert TelnetScanner().feed(IAC + SB + body + IAC + SE + b"ok") == b"ok"


def test_an_endless_subnegotiation_is_an_error_not_a_black_hole():
    scanner = TelnetScanner(max_subnegotiation=100)
    assert scanner.feed(b"hi" + IAC + SB + b"\x18" * 50) == b"hi"
    with pytest.raises(TelnetError) as caught:
        for _ in range(10):
            scanner.feed(b"z" * 20)
    assert caught.value.fatal and "100 bytes" in str(caught.value)
    with pytest.raises(TelnetError):
        scanner.feed(b"anything after it")  # the stream stays broken


def test_the_adversarial_line_is_linear_work():
    """b"\\xff\\xfa" repeated: one subnegotiation that never ends, refused at the limit."""
    with pytest.raises(TelnetError):
        TelnetScanner().feed(IAC + SB + b"\xff\xfa" * 32767 + b"\n")
    roomy = TelnetScanner(max_subnegotiation=1 << 20)
    assert roomy.feed(b"\xff\xfa" * 32767 + b"\n") == b""  # still inside the SB: nothing is data


# --- in a real server -------------------------------------------------------------


def test_a_plain_client_negotiating_telnet_gets_in_and_chats():
    srv = ServerProcess("--rate-limit", "0")
    try:
        native = NativeClient(srv.port, "alice")
        telnet = LineSocket(srv.port)
        telnet.send(IAC + DO + b"\x01" + IAC + WILL + b"\x18" + IAC + SB + b"\x18\x00xterm" + IAC + SE)
        telnet.send(b"bob\r\n")
        telnet.expect_line(lambda line: line.startswith(b"* welcome"))
        telnet.send(b"100" + IAC + NOP + b"% sure\r\n")
        msg = native.messages(1)[0]
        assert (msg["nick"], msg["text"]) == ("bob", "100% sure")
    finally:
        srv.stop()


def test_an_endless_subnegotiation_ends_that_connection_with_a_reason():
    srv = ServerProcess()
    try:
        attacker = LineSocket(srv.port)
        attacker.send(IAC + SB + b"\x18" * (MAX_SUBNEGOTIATION + 10))
        lines = attacker.read_until_closed()
        assert any(line.startswith(b"* error: telnet subnegotiation longer than") for line in lines), lines
        assert NativeClient(srv.port, "alice").welcome["type"] == "welcome", "the server carries on"
    finally:
        srv.stop()


def _worst_round_trip_while_taking(srv: ServerProcess, alice: NativeClient, line: bytes) -> float:
    """Send ``line`` from a fresh, unauthenticated socket; alice measures round trips
    (say -> accepted) until the server has answered that socket. The worst one."""
    attacker = socket.create_connection(("127.0.0.1", srv.port))
    try:
        worst = 0.0
        attacker.sendall(line)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            start = time.monotonic()
            alice.say("ping")
            alice.expect(lambda f: f["type"] == "accepted", timeout=30)
            worst = max(worst, time.monotonic() - start)
            if select.select([attacker], [], [], 0)[0]:  # answered (an error, or closed): done
                return worst
        raise AssertionError("the server never answered the long line")
    finally:
        attacker.close()


@pytest.mark.timeout(180)
def test_an_adversarial_telnet_line_costs_other_sessions_no_more_than_an_ordinary_one():
    """Issue 11 #1: b"\\xff\\xfa"*32767 from one unauthenticated socket froze every
    other session for seconds (a quadratic regex). Now it must cost what any
    64 KiB line costs, give or take a few ms."""
    srv = ServerProcess("--rate-limit", "0")
    try:
        alice = NativeClient(srv.port, "alice")
        ordinary = b"a" * 65534 + b"\n"
        adversarial = b"\xff\xfa" * 32767 + b"\n"
        assert len(ordinary) == len(adversarial) == 64 * 1024 - 1
        plain, attack = [], []
        for _ in range(5):  # interleaved, so that load from elsewhere hits both alike
            plain.append(_worst_round_trip_while_taking(srv, alice, ordinary))
            attack.append(_worst_round_trip_while_taking(srv, alice, adversarial))
        assert statistics.median(attack) <= statistics.median(plain) + 0.02, (plain, attack)
    finally:
        srv.stop(timeout=TIMEOUT)
