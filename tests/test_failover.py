"""A server with several addresses (a cluster's nodes): ``chatclient HOST1:PORT1,HOST2:PORT2``
connects to the first that answers and, after a lost link, tries the others in
turn, the one after the lost node first, resuming as it always does."""

from __future__ import annotations

import re
import socket
import threading

import pytest
from fake_server import FakeServer, GateClock, notices, session_on
from helpers import TIMEOUT, NativeClient, Proxy, ServerProcess, client_process, kill_quietly, run_client, wait_for
from test_reconnect import read_until, reconnected_as

from chatclient.addresses import MAX_ADDRESSES, parse_addresses, rotation
from common import messages as m

# ---------------------------------------------------------------- the address list


@pytest.mark.parametrize(
    "text, port, expected",
    [
        ("10.0.0.1:5051,10.0.0.2:5052", None, [("10.0.0.1", 5051), ("10.0.0.2", 5052)]),
        ("alpha,beta", None, [("alpha", 5050), ("beta", 5050)]),
        ("alpha,beta", 6000, [("alpha", 6000), ("beta", 6000)]),
        ("alpha:6000,beta", 6000, [("alpha", 6000), ("beta", 6000)]),
        (
            "[::1]:7000,[fd00::2],fd00::3,10.0.0.1:7001",
            None,
            [("::1", 7000), ("fd00::2", 5050), ("fd00::3", 5050), ("10.0.0.1", 7001)],
        ),
        (" alpha:1 , beta:2 ", None, [("alpha", 1), ("beta", 2)]),
        ("alpha:1,beta:2,alpha:1", None, [("alpha", 1), ("beta", 2)]),  # tried once, where it came first
        ("alpha", None, [("alpha", 5050)]),
        (None, None, [("127.0.0.1", 5050)]),
    ],
)
def test_address_lists(text, port, expected):
    assert parse_addresses(text, port) == expected


@pytest.mark.parametrize(
    "text, port, problem",
    [
        ("alpha:1,,beta:2", None, "address 2 of 3 is empty"),
        ("alpha:1,", None, "address 2 of 2 is empty"),
        (",alpha:1", None, "address 1 of 2 is empty"),
        ("alpha:1,beta:x", None, "bad port 'x' in 'beta:x'"),
        ("alpha:1,beta:70000", None, "bad port '70000'"),
        ("alpha:1,[::1", None, "bad address '[::1': expected [IPv6]:PORT"),
        ("alpha:1,:5050", None, "bad address ':5050': no host"),
        ("alpha:1,beta:2", 1, "'beta:2' and --port 1 disagree"),
        (",".join(f"h{i}" for i in range(MAX_ADDRESSES + 1)), None, f"the most is {MAX_ADDRESSES}"),
    ],
)
def test_a_malformed_address_list_says_what_is_wrong(text, port, problem):
    with pytest.raises(ValueError, match=None) as caught:
        parse_addresses(text, port)
    assert problem in str(caught.value)


def test_the_rotation_starts_after_the_lost_address_and_ends_with_it():
    a, b, c = ("a", 1), ("b", 2), ("c", 3)
    assert rotation([a, b, c], b) == [c, a, b]
    assert rotation([a, b, c], c) == [a, b, c]
    assert rotation([a, b, c], a) == [b, c, a]
    assert rotation([a], a) == [a]
    assert rotation([a, b], ("elsewhere", 9)) == [a, b]


def test_the_command_line_refuses_a_malformed_list_clearly():
    done = run_client("127.0.0.1:1,,127.0.0.1:2", "--send", "hello")
    assert done.returncode == 2, done
    assert "address 2 of 3 is empty" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- connecting at start


class DeadPort:
    """A loopback port bound by nobody listening: a connection to it is refused at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # held (not listening), so nothing else takes the port meanwhile
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()


def test_the_first_address_that_answers_is_used(server):
    dead = DeadPort()
    try:
        watcher = NativeClient(server.port, "watcher")
        done = run_client(f"{dead.address},{server.address}", "--send", "through the second", "--name", "sender")
        assert done.returncode == 0, done
        assert done.stdout.startswith("Message delivered"), done
        got = watcher.messages(1)[0]
        assert (got["nick"], got["text"]) == ("sender", "through the second")
    finally:
        dead.close()


def test_when_no_address_answers_the_error_says_why_for_each():
    first, second = DeadPort(), DeadPort()
    try:
        done = run_client(f"{first.address},{second.address}", "--send", "into the void")
        assert done.returncode == 1, done
        assert done.stderr.strip() == (
            f"chatclient: none of the server's 2 addresses answered: "
            f"could not connect to {first.address}: connection refused; "
            f"could not connect to {second.address}: connection refused"
        )
    finally:
        first.close()
        second.close()


def test_a_node_that_cannot_take_us_now_passes_us_to_the_next():
    """The first node lost its cluster link and refuses logins (``cluster_unavailable``):
    the client logs in at the second and sends there."""
    down, up = FakeServer(), FakeServer()
    said: list[str] = []

    def refuse() -> None:
        peer = down.accept()
        peer.expect(lambda f: f["type"] == "hello")
        peer.send_msg(m.Error("cluster_unavailable", "the server lost its cluster (Redis): try again soon"))
        peer.send_msg(m.Bye("the server lost its cluster (Redis)"))
        peer.close()

    def serve() -> None:
        peer = up.accept()
        peer.greet()
        said.append(peer.expect(lambda f: f["type"] == "say")["text"])
        peer.send_msg(m.Accepted(seq=1, ts=1.0, room="#lobby"))
        peer.expect(lambda f: f["type"] == "quit")
        peer.send_msg(m.Bye("bye"))
        peer.close()

    threads = [threading.Thread(target=refuse, daemon=True), threading.Thread(target=serve, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        done = run_client(f"{down.address},{up.address}", "--send", "to whoever can take it")
        assert done.returncode == 0, done
        assert done.stdout == "Message delivered (#1).\n"
        assert said == ["to whoever can take it"]
    finally:
        down.close()
        up.close()


# ---------------------------------------------------------------- after a lost link (fake nodes)


def test_after_a_lost_link_the_next_node_is_tried_first_and_the_resume_is_unchanged():
    """Connected to B of A, B, C: B is lost, C is asked (not A) with the same
    token, room, epoch and last seq, and gets what was typed meanwhile; C is
    lost, A comes next (around the list), with C's token."""
    a, b, c = FakeServer(), FakeServer(), FakeServer()
    clock = GateClock(open_=False)
    addresses = [("127.0.0.1", s.port) for s in (a, b, c)]
    session, peer, shown = session_on(
        b,
        "rover",
        welcome={"room": "#ops", "epoch": "ops-1", "seq": 3, "token": "token-b"},
        reconnect=True,
        clock=clock,
        addresses=addresses,
    )
    try:
        peer.send_msg(m.ChatMessage(seq=4, ts=1.0, room="#ops", nick="other", text="four"))
        assert wait_for(lambda: "four" in [getattr(s, "text", "") for s in shown])
        peer.close()
        assert wait_for(lambda: not session.connected)
        session.submit("typed while away")
        clock.gate.set()
        at_c = c.accept()
        hello = at_c.greet(room="#ops", epoch="ops-1", seq=4, token="token-c")
        assert (hello["nick"], hello["resume"], hello["room"], hello["epoch"], hello["last_seq"]) == (
            "rover",
            "token-b",
            "#ops",
            "ops-1",
            4,
        )
        assert at_c.expect(lambda f: f["type"] == "say")["text"] == "typed while away"
        at_c.send_msg(m.Accepted(seq=5, ts=1.0, room="#ops"))
        assert wait_for(lambda: session.unsent() == 0)
        assert wait_for(lambda: session.status == f"connected to 127.0.0.1:{c.port}"), session.status
        with pytest.raises(TimeoutError):
            a.accept(timeout=0.2)  # nobody knocked at A: C came first
        at_c.close()
        at_a = a.accept()
        hello = at_a.greet(room="#ops", epoch="ops-1", seq=5, token="token-a")
        assert (hello["resume"], hello["last_seq"]) == ("token-c", 5), "around the list, with C's token"
        assert clock.waits and len(clock.waits) == 2, "one backoff wait per lost link"
    finally:
        session.leave(timeout=0)
        for fake in (a, b, c):
            fake.close()


def test_a_refused_node_is_passed_over_in_the_same_attempt():
    """A, a dead port, C: A is lost; the dead one refuses and C is asked at
    once, without another backoff wait in between."""
    a, c, dead = FakeServer(), FakeServer(), DeadPort()
    clock = GateClock()
    addresses = [("127.0.0.1", a.port), ("127.0.0.1", dead.port), ("127.0.0.1", c.port)]
    session, peer, shown = session_on(a, "rover", reconnect=True, clock=clock, addresses=addresses)
    try:
        peer.close()
        at_c = c.accept()
        at_c.greet()
        assert wait_for(lambda: session.connected and session.status.endswith(f":{c.port}"))
        assert len(clock.waits) == 1, clock.waits
    finally:
        session.leave(timeout=0)
        a.close()
        c.close()
        dead.close()


def test_a_node_without_its_cluster_passes_the_reconnect_to_the_next():
    a, b, c = FakeServer(), FakeServer(), FakeServer()
    addresses = [("127.0.0.1", s.port) for s in (a, b, c)]
    session, peer, shown = session_on(a, "rover", reconnect=True, clock=GateClock(), addresses=addresses)
    try:
        peer.close()
        at_b = b.accept()
        at_b.expect(lambda f: f["type"] == "hello")
        at_b.send_msg(m.Error("cluster_unavailable", "the cluster is unreachable"))
        at_b.close()
        at_c = c.accept()
        assert at_c.greet()["resume"] == "token-1"
        assert wait_for(lambda: session.connected and session.status.endswith(f":{c.port}"))
        failed = [t for t in notices(shown) if t.startswith("reconnect failed")]
        assert failed == [f"reconnect failed: 127.0.0.1:{b.port} cannot take us now: the cluster is unreachable"], (
            notices(shown)
        )
    finally:
        session.leave(timeout=0)
        for fake in (a, b, c):
            fake.close()


def test_a_ban_from_any_node_ends_the_reconnecting():
    """Never retried, on another node either: C is never asked."""
    a, b, c = FakeServer(), FakeServer(), FakeServer()
    addresses = [("127.0.0.1", s.port) for s in (a, b, c)]
    session, peer, shown = session_on(a, "rover", reconnect=True, clock=GateClock(), addresses=addresses)
    try:
        peer.close()
        at_b = b.accept()
        at_b.expect(lambda f: f["type"] == "hello")
        at_b.send_msg(m.Error("banned", "you are banned from this server until 2031-01-01"))
        assert session.ended.wait(TIMEOUT)
        assert session.lost == "you are banned from this server until 2031-01-01"
        with pytest.raises(TimeoutError):
            c.accept(timeout=0.3)
    finally:
        session.leave(timeout=0)
        for fake in (a, b, c):
            fake.close()


# ---------------------------------------------------------------- a real node killed


def test_a_client_fails_over_when_its_node_is_killed():
    """Two real servers (single nodes: they share nothing, so the client
    arrives at the second as a new session in its #lobby). The first is
    killed with -9 while the second is unreachable for a moment (its proxy
    refuses), so a line is typed while away; once the second answers, the
    client is there under its name, and the line is posted there once, and
    nothing confirmed by the first is sent again."""
    first, second = ServerProcess("--no-web"), ServerProcess("--no-web")
    relay = Proxy(second.port)
    relay.cut_client_side(hold=True)  # (no links yet: only refuses new ones until released)
    client = client_process(f"{first.address},127.0.0.1:{relay.port}", "--name", "roamer")
    try:
        read_until(client, "Connected to the server.")
        at_first = NativeClient(first.port, "first")
        client.stdin.write("before the crash\n")
        client.stdin.flush()
        assert at_first.messages(1)[0]["text"] == "before the crash"
        client.stdin.write("/who\n")  # answered after the receipt of the line before: that is confirmed then
        client.stdin.flush()
        read_until(client, "* 2 in #lobby")
        at_second = NativeClient(second.port, "second")
        first.proc.kill()
        first.proc.wait()
        read_until(client, "reconnecting")
        client.stdin.write("typed while away\n")
        client.stdin.flush()
        read_until(client, "will be sent after reconnecting")
        relay.release()
        read_until(client, reconnected_as("roamer"))
        read_until(client, "sending 1 message(s) typed or unconfirmed while away")
        got = at_second.messages(1)[0]
        assert (got["nick"], got["text"], got["room"]) == ("roamer", "typed while away", "#lobby")
        client.stdin.write("and after\n")
        client.stdin.flush()
        assert at_second.messages(1)[0]["text"] == "and after", "no line came twice, none from before"
    finally:
        kill_quietly(client)
        relay.close()
        first.stop()
        second.stop()


# ---------------------------------------------------------------- TLS across nodes


def _tls_nodes(tmp_path, monkeypatch) -> tuple[ServerProcess, ServerProcess, str]:
    """Two TLS servers (one self-signed certificate, made by the first) and its fingerprint."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = ServerProcess("--tls", "--no-web")
    second = ServerProcess("--tls", "--no-web")
    match = re.search(r"fingerprint.*: ([0-9A-F:]{95})$", first.proc.stdout.readline().strip())
    assert match
    return first, second, match.group(1)


def test_a_node_met_first_in_a_failover_is_trusted_and_its_fingerprint_shown(tmp_path, monkeypatch):
    first, second, fp = _tls_nodes(tmp_path, monkeypatch)
    client = client_process(f"{first.address},{second.address}", "--tls", "--name", "roamer")
    try:
        read_until(client, "Connected to the server.")
        first.proc.kill()
        first.proc.wait()
        lines = read_until(client, reconnected_as("roamer"))
        told = (
            f"* first connection to {second.address}: its TLS certificate is SHA256 {fp}; it is remembered from now on"
        )
        assert told in lines, lines
        known = (tmp_path / "config" / "chatclient" / "known_servers").read_text().splitlines()
        assert known == [f"{first.address} {fp}", f"{second.address} {fp}"]
    finally:
        kill_quietly(client)
        first.stop()
        second.stop()


def test_a_changed_certificate_on_another_node_ends_the_reconnecting(tmp_path, monkeypatch):
    """Never retried, on any node: the client stops with both fingerprints."""
    first, second, fp = _tls_nodes(tmp_path, monkeypatch)
    known = tmp_path / "config" / "chatclient" / "known_servers"
    known.parent.mkdir(parents=True)
    other = ":".join(["AB"] * 32)
    known.write_text(f"{second.address} {other}\n")
    client = client_process(f"{first.address},{second.address}", "--tls", "--name", "roamer")
    try:
        read_until(client, "Connected to the server.")
        first.proc.kill()
        first.proc.wait()
        assert client.wait(TIMEOUT) == 1
        stderr = client.stderr.read()
        assert f"the TLS certificate of {second.address} has CHANGED" in stderr, stderr
        assert f"remembered: SHA256 {other}" in stderr and f"presented:  SHA256 {fp}" in stderr
        assert "Traceback" not in stderr
    finally:
        kill_quietly(client)
        first.stop()
        second.stop()
