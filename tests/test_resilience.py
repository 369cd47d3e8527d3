"""Load, faults and bad input: the server keeps serving and loses nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading

import pytest
from helpers import (
    NativeClient,
    PlainClient,
    Proxy,
    ServerProcess,
    client_process,
    kill_quietly,
    proc_counts,
    program,
    python_env,
    tcp_sockets,
    wait_for,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from terminal import Terminal

from common import messages as m
from common.safetext import neutralise


def read_until(proc: subprocess.Popen, needle: str) -> list[str]:
    """Lines of a client's stdout up to and including the first containing ``needle``."""
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, f"output ended before {needle!r}: {lines}"
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines


# --- slow and stuck peers ---------------------------------------------------------


def test_stuck_reader_among_twenty_is_dropped_and_the_others_get_everything():
    """Twenty peers that keep reading get every message, each sender's in
    order; the one that never reads is dropped once its backlog passes the
    limit, the others are told why, and the drop is logged.

    The others are paced in rounds (each round sent once all readers have the
    last one): "keeps reading" must mean keeping up, not being a test
    process whose twenty reader threads share one GIL while a burst four times
    the backlog limit arrives at once (that peer would rightly be dropped too).
    """
    srv = ServerProcess("--rate-limit", "0", "--max-backlog", "262144", "--max-per-ip", "100")
    try:
        stuck = NativeClient(srv.port, "stuck", rcvbuf=4096)
        clients = [NativeClient(srv.port, f"c{i}") for i in range(20)]
        clients[0].expect(lambda f: f.get("event") == "join" and f.get("nick") == "c19")
        per = 40
        payload = "x" * 1500  # 20 x 40 x 1.5 KB = 1.2 MB into the stuck one
        got: dict[int, list[dict]] = {i: [] for i in range(20)}
        told: dict[int, list[dict]] = {i: [] for i in range(20)}  # the stuck one's leave notice

        def reader(i: int) -> None:
            while len(got[i]) < 19 * per:
                frame = clients[i].frame(timeout=60)
                if frame["type"] == "message" and "replay" not in frame:
                    got[i].append(frame)
                elif frame.get("event") == "leave" and frame.get("nick") == "stuck":
                    told[i].append(frame)

        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(20)]
        for t in threads:
            t.start()
        for k in range(per):
            for i, c in enumerate(clients):
                c.say(f"{i}:{k}:{payload}")
            assert wait_for(lambda k=k: all(len(g) >= 19 * (k + 1) for g in got.values()), timeout=30), k
        for t in threads:
            t.join(10)
        for i in range(20):
            sent = [tuple(map(int, f["text"].split(":")[:2])) for f in got[i]]
            assert sorted(sent) == [(j, k) for j in range(20) if j != i for k in range(per)], "all, once"
            for j in range(20):
                if j != i:
                    assert [k for sender, k in sent if sender == j] == list(range(per)), f"c{j}'s in the order sent"
            seqs = [f["seq"] for f in got[i]]
            assert seqs == sorted(seqs), "one order"
            if not told[i]:  # dropped after this reader's last message
                told[i].append(clients[i].expect(lambda f: f.get("event") == "leave" and f.get("nick") == "stuck"))
            assert "outbound backlog over 262144 bytes" in told[i][0]["text"], told[i][0]
        _, err = srv.stop()
        assert "(stuck) disconnected: outbound backlog over 262144 bytes" in err
        assert err.count("outbound backlog over") == 1, "only the stuck one was dropped"
        stuck.close()
    finally:
        if srv.proc.poll() is None:
            srv.stop()


def test_ten_by_five_hundred_with_a_slow_reader_no_loss_no_dup_same_order(server):
    """Ten senders, and one more peer that reads slowly: everyone gets every
    other sender's messages once, each sender's in the order sent, all in
    one order for everybody, and nobody gets their own back."""
    clients = [NativeClient(server.port, f"u{i}") for i in range(10)]
    slow = NativeClient(server.port, "slow")
    total = 10 * 500
    results: dict[str, list[dict]] = {}

    def read(name: str, client: NativeClient, count: int, pace: bool) -> None:
        out: list[dict] = []
        while len(out) < count:
            if pace and len(out) % 50 == 0:
                threading.Event().wait(0.005)  # a slow reader: 5 ms pause every 50 messages
            out.extend(client.messages(1, timeout=60))
        results[name] = out

    threads = [threading.Thread(target=read, args=(f"u{i}", c, total - 500, False)) for i, c in enumerate(clients)]
    threads.append(threading.Thread(target=read, args=("slow", slow, total, True)))
    for t in threads:
        t.start()
    for k in range(500):
        for i, c in enumerate(clients):
            c.say(f"{i} {k}")
    for t in threads:
        t.join(90)

    def check(name: str, senders: list[int]) -> None:
        frames = results[name]
        sent = [tuple(map(int, f["text"].split())) for f in frames]
        assert sorted(sent) == [(i, k) for i in senders for k in range(500)], f"{name}: each message once"
        assert all(f["nick"] == f"u{i}" for f, (i, _) in zip(frames, sent, strict=True)), name
        for i in senders:
            assert [k for j, k in sent if j == i] == list(range(500)), f"{name}: u{i}'s in the order sent"
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(seqs), f"{name}: in the room's order"

    check("slow", list(range(10)))
    by_seq = {f["seq"]: f["text"] for f in results["slow"]}
    for i in range(10):
        check(f"u{i}", [j for j in range(10) if j != i])
        assert all(by_seq[f["seq"]] == f["text"] for f in results[f"u{i}"]), "one order for everybody"


# --- rate limit, connection limits, deadlines ----------------------------------------


def test_flooder_is_slowed_then_disconnected_and_others_unaffected():
    srv = ServerProcess("--rate-limit", "50", "--rate-burst", "5")
    try:
        calm = NativeClient(srv.port, "calm")
        flood = NativeClient(srv.port, "flood")
        flood.send(b"".join(json.dumps({"type": "say", "text": f"spam {i}"}).encode() + b"\n" for i in range(300)))
        frames = [json.loads(line) for line in flood.read_until_closed(timeout=20)]
        notices = [f["text"] for f in frames if f["type"] == "notice"]
        assert any(t.startswith("slow down: at most 50 messages/s") for t in notices)
        assert any(f["type"] == "error" and f["code"] == "flooding" for f in frames)
        accepted = [f for f in frames if f["type"] == "accepted"]
        assert 5 < len(accepted) < 300, "some got through (slowed), the rest was refused by disconnecting"
        received = calm.messages(len(accepted))
        assert [m["text"] for m in received] == [f"spam {i}" for i in range(len(accepted))]
        leave = calm.expect(lambda f: f.get("event") == "leave")
        assert "flooding" in leave["text"]
        calm.send_json({"type": "who"})
        assert calm.expect(lambda f: f["type"] == "users")["nicks"] == ["calm"]
    finally:
        srv.stop()


def test_connection_limits_refuse_clearly_and_keep_existing_sessions():
    srv = ServerProcess("--max-clients", "3", "--max-per-ip", "2")
    try:
        a, b = NativeClient(srv.port, "a"), NativeClient(srv.port, "b")
        proc = subprocess.run(
            [*program("chatclient"), f"127.0.0.1:{srv.port}", "--name", "c"],
            input="",
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=10,
        )
        assert proc.returncode == 1
        assert "too many connections from 127.0.0.1 (at most 2)" in proc.stderr
        raw = socket.create_connection(("127.0.0.1", srv.port))
        data = b""
        while chunk := raw.recv(4096):
            data += chunk
        assert data.startswith(b"* error: too many connections"), "nc users read why too"
        a.say("still fine")
        assert b.messages(1)[0]["text"] == "still fine"
    finally:
        srv.stop()


def test_server_full():
    srv = ServerProcess("--max-clients", "2")
    try:
        a, b = NativeClient(srv.port, "a"), NativeClient(srv.port, "b")  # noqa: F841
        raw = socket.create_connection(("127.0.0.1", srv.port))
        first = raw.makefile("rb").readline()
        assert first == b"* error: the server is full (2 connections); try again later\r\n"
    finally:
        srv.stop()


def test_a_burst_of_connections_never_overshoots_max_clients():
    srv = ServerProcess("--max-clients", "5", "--max-per-ip", "100")
    try:
        start = threading.Barrier(30)
        first_lines: list[bytes] = []
        socks: list[socket.socket] = []

        def connect() -> None:
            start.wait(10)
            s = socket.create_connection(("127.0.0.1", srv.port))
            socks.append(s)
            s.settimeout(10)
            first_lines.append(s.makefile("rb").readline())

        threads = [threading.Thread(target=connect) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert len(first_lines) == 30
        full = [line for line in first_lines if line.startswith(b"* error: the server is full")]
        assert len(full) == 25, first_lines
        assert sum(b"Welcome to" in line for line in first_lines) == 5
        for s in socks:
            s.close()
    finally:
        srv.stop()


def test_login_deadline():
    srv = ServerProcess("--login-timeout", "0.5")
    try:
        silent = socket.create_connection(("127.0.0.1", srv.port))
        silent.settimeout(10)
        data = b""
        while chunk := silent.recv(4096):
            data += chunk
        assert b"Choose a nickname" in data and b"no nickname within 0.5 s" in data
    finally:
        srv.stop()


def test_unanswered_pings_drop_a_half_open_client_but_not_a_live_one():
    srv = ServerProcess("--ping-interval", "0.3", "--idle-timeout", "1")
    live = client_process(f"127.0.0.1:{srv.port}", "--name", "live")
    try:
        assert live.stdout.readline() == "Connected to the server.\n"
        dead = NativeClient(srv.port, "dead")  # registered, then never answers
        assert dead.expect(lambda f: f["type"] == "ping")["token"]
        frames = [json.loads(line) for line in dead.read_until_closed(timeout=10)]
        assert frames[-1] == {"type": "bye", "reason": "no answer for 1 s"}
        watcher = NativeClient(srv.port, "watcher")
        watcher.send_json({"type": "who"})
        nicks = watcher.expect(lambda f: f["type"] == "users")["nicks"]
        assert "live" in nicks and "dead" not in nicks, "the real client answered its pings"
    finally:
        kill_quietly(live)
        srv.stop()


# --- faults -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_client_reconnects_after_the_server_is_killed_or_stopped_and_restarted(how):
    """A crash, and a graceful stop (SIGTERM, Ctrl-C: a restart to the client,
    not the end of the chat), both end in a reconnect."""
    srv = ServerProcess()
    port = srv.port
    client = client_process(f"127.0.0.1:{port}", "--name", "phoenix")
    try:
        assert client.stdout.readline() == "Connected to the server.\n"
        if how == "killed":
            srv.proc.kill()
            srv.proc.wait()
            read_until(client, "reconnecting")
        else:
            assert srv.stop(signal.SIGTERM)[0] == 0
            lines = read_until(client, "reconnecting")
            assert "* server shutting down" in lines and "Chat ended." not in lines
        assert client.poll() is None, "still running"
        srv = ServerProcess("--port", str(port))
        read_until(client, "reconnected as phoenix")
        watcher = NativeClient(port, "watcher")
        client.stdin.write("I am back\n")
        client.stdin.flush()
        msg = watcher.messages(1)[0]
        assert (msg["nick"], msg["text"]) == ("phoenix", "I am back")
    finally:
        kill_quietly(client)
        srv.stop()


def test_dropped_link_resumes_with_exactly_the_missed_messages(server):
    proxy = Proxy(server.port)
    talker = NativeClient(server.port, "talker")
    client = client_process(f"127.0.0.1:{proxy.port}", "--name", "roamer")
    try:
        assert client.stdout.readline() == "Connected to the server.\n"
        talker.expect(lambda f: f.get("event") == "join")
        talker.say("before")
        read_until(client, "talker: before")
        proxy.cut_client_side(hold=True)  # the server does not notice: half-open
        read_until(client, "reconnecting")
        for i in range(5):
            talker.say(f"missed {i}")
        client.stdin.write("typed while away\n")
        client.stdin.flush()
        read_until(client, "will be sent after reconnecting")
        proxy.release()
        lines = read_until(client, "reconnected as roamer; 5 missed message(s) follow")
        lines += read_until(client, "missed 4")
        replay = [line for line in lines if line.startswith("(missed) ")]
        assert replay == [f"(missed) talker: missed {i}" for i in range(5)], lines
        assert not any("joined" in line or "left" in line for line in lines)
        msg = talker.messages(1)[0]
        assert (msg["nick"], msg["text"]) == ("roamer", "typed while away")
        talker.say("after")
        assert read_until(client, "talker: after")[-1] == "talker: after"
        # The others saw no leave/join noise: the stale session was replaced silently.
        talker.send_json({"type": "who"})
        frames = []
        while not frames or frames[-1]["type"] != "users":
            frames.append(talker.frame())
        assert frames[-1]["nicks"] == ["talker", "roamer"]
        assert not any(f["type"] == "notice" and f["event"] in ("join", "leave") for f in frames)
    finally:
        kill_quietly(client)
        proxy.close()


def test_rst_and_mid_frame_closes_leave_the_server_healthy(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", server.port))
        if i % 2:
            s.sendall(b'{"type":"hello","version":1,"nick":"half' + str(i).encode())  # mid-frame
        else:
            s.sendall(b'{"type":"hello","version":1,"nick":"r%d"}\n{"type":"say","text":"par' % i)
        if i % 4 < 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        s.close()
    # A client process killed mid-message:
    victim = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1])));"
            's.sendall(b\'{"type":"hello","version":1,"nick":"victim"}\\n\');'
            's.recv(4096); s.sendall(b\'{"type":"say","te\'); os.kill(os.getpid(), 9)',
            str(server.port),
        ]
    )
    assert victim.wait(10) == -signal.SIGKILL
    alice.say("still talking")
    assert bob.messages(1)[0]["text"] == "still talking", "no partial message was ever delivered"
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err and "unexpected error" not in err


# --- fuzzing ----------------------------------------------------------------------


def _heard(client: NativeClient, pred, timeout: float = 5.0) -> dict:
    """The first frame matching ``pred``; pings on the way are answered, as a client does."""

    def match(frame: dict) -> bool:
        if frame["type"] == "ping":
            client.send_json({"type": "pong", "token": frame["token"]})
        return pred(frame)

    return client.expect(match, timeout)


class Pulse:
    """Two clients of the fuzzed server: after each example one speaks, the
    other must hear it and the speaker get its receipt."""

    def __init__(self, port: int) -> None:
        self.alice, self.bob = NativeClient(port, "alice"), NativeClient(port, "bob")
        self.beats = 0

    def check(self) -> None:
        self.beats += 1
        text = f"pulse {self.beats}"
        self.alice.say(text)
        heard = _heard(self.bob, lambda f: f["type"] == "message" and f["nick"] == "alice" and f["text"] == text)
        receipt = _heard(self.alice, lambda f: f["type"] == "accepted")
        assert receipt["seq"] == heard["seq"], (receipt, heard)

    def log_mark(self, server: ServerProcess) -> None:
        """Have the server log a line now, and wait until it is read: every
        line the server logged before it has been read too."""
        self.alice.send_json({"type": "error", "code": "test", "message": f"mark {self.beats}"})
        mark = f"alice reports an error: test mark {self.beats}\n"
        assert wait_for(lambda: any(line.endswith(mark) for line in server._stderr)), "the server logged the mark"


@pytest.fixture(scope="module")
def pulse(server_for_fuzz):
    probe = Pulse(server_for_fuzz.port)
    yield probe
    probe.alice.close()
    probe.bob.close()


def _check_reply(reply: bytes, native: bool) -> None:
    """What the server said to a fuzzed connection: whole lines, each a frame a
    server may send (native) or a CRLF line safe for a raw terminal (plain)."""
    *lines, rest = reply.split(b"\n")
    assert rest == b"", f"the reply ends mid-line: {rest[-200:]!r}"
    for line in lines:
        if native:
            assert type(m.decode(line)) in m.SERVER_TYPES, line
        else:
            assert line.endswith(b"\r"), line
            text = line[:-1].decode("utf-8")
            assert neutralise(text) == text, f"a control character reached a plain client: {line!r}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=st.sampled_from([b"", b'{"type":"hello","version":1,"nick":"fz"}\n', b"fuzzer\n"]),
    junk=st.binary(max_size=2048),
)
def test_fuzzed_streams_never_hurt_the_server(server_for_fuzz, pulse, prefix, junk):
    """Each example: the fuzzed connection gets well-formed lines, then a clean
    close (no reset, no hang); the server logs no error; and two other clients
    still chat through it. So a failure is this example's, and Hypothesis can
    shrink it."""
    srv = server_for_fuzz
    logged = len(srv._stderr)
    threads = proc_counts(srv.proc.pid)[0]
    data = prefix + junk
    s = socket.create_connection(("127.0.0.1", srv.port))
    reply = b""
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        while chunk := s.recv(65536):  # a reset or a timeout fails the example
            reply += chunk
    finally:
        s.close()
    _check_reply(reply, native=data.lstrip()[:1] == b"{")  # (how the server tells them apart)
    # Its thread ends after logging any error it met; then the mark orders the log.
    assert wait_for(lambda: proc_counts(srv.proc.pid)[0] <= threads), "the session's thread ended"
    pulse.check()
    pulse.log_mark(srv)
    log = "".join(srv._stderr[logged:])
    assert "Traceback" not in log and "unexpected error" not in log, log


def test_urandom_and_json_garbage_against_live_sessions(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    rng = random.Random(1234)
    garbage = [
        os.urandom(200_000),
        b'{"type":"say","text":' + b"9" * 5000 + b"}\n",
        b'{"type":"say","text":"\\ud800"}\n{"type":"nick","nick":' + b"[" * 5000 + b"\n",
        b'{"type":"frobnicate"}\n{"type":"say","text":"' + "é".encode() * 9000 + b'"}\n',
        bytes(rng.randrange(256) for _ in range(100_000)),
    ]
    for blob in garbage:
        for first in (b"", b"nick\n", b'{"type":"hello","version":1,"nick":"g"}\n'):
            s = socket.create_connection(("127.0.0.1", server.port))
            try:
                s.sendall(first + blob)
            except OSError:
                pass
            s.close()
    alice.say("survived")  # (the garbage may have registered and chatted too: that is allowed)
    assert bob.expect(lambda f: f["type"] == "message" and f["nick"] == "alice")["text"] == "survived"
    code, err = server.stop()
    assert code == 0, err[-3000:]
    assert "Traceback" not in err and "unexpected error" not in err


# --- leaks ------------------------------------------------------------------------


@pytest.mark.timeout(180)  # (about 25 s alone; beside three other workers on two cores it once passed 60 s)
def test_ten_thousand_connect_disconnect_cycles_leak_nothing():
    # The keeper is silent all along and answers no ping: under load the run once outlasted the
    # default --idle-timeout (90 s), and the keeper was dropped, rightly.
    srv = ServerProcess("--rate-limit", "0", "--max-per-ip", "100", "--log-level", "WARNING", "--idle-timeout", "3600")
    try:
        pid = srv.proc.pid
        keeper = NativeClient(srv.port, "keeper")

        # Counted: the threads serving connections and the TCP sockets. (All threads and all fds
        # once counted a service thread and its socketpair started during the run as a leak.)
        def counts() -> tuple[int, int]:
            return srv.connection_threads(), tcp_sockets(pid)

        baseline = counts()
        assert baseline[0] == 1, baseline  # (the keeper's)
        # The keeper reads all along, as a client does (a peer that stops
        # reading is the slow-consumer tests' subject, not this one's). A keeper
        # that read nothing for the whole run once waited over 10 s for its
        # answer in CI. Likeliest cause: its receive buffer overflowed and the
        # server's side sat in zero-window probing with a long backoff; a
        # reading of the server's threads found nothing that could hold the
        # answer back. Not reproduced here.
        heard: list[dict] = []
        done = threading.Event()
        lost: list[BaseException] = []

        def listen() -> None:
            while not done.is_set():
                try:
                    heard.append(keeper.frame(0.2))
                except TimeoutError:
                    pass
                except EOFError as exc:  # (said in the failure below, with the server's log)
                    lost.append(exc)
                    return

        listener = threading.Thread(target=listen)
        listener.start()

        def cycle(i: int) -> None:
            s = socket.create_connection(("127.0.0.1", srv.port))
            kind = i % 4
            try:
                if kind == 0:  # clean bye
                    s.sendall(b'{"type":"hello","version":1,"nick":"n%d"}\n{"type":"quit"}\n' % i)
                    while s.recv(4096):
                        pass
                elif kind == 1:  # abrupt close
                    s.sendall(b"plain%d\nhello\n" % i)
                elif kind == 2:  # RST
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:  # mid-frame close
                    s.sendall(b'{"type":"hello","vers')
            except OSError:
                pass
            finally:
                s.close()

        def worker(start: int) -> None:
            for i in range(start, 10_000, 8):
                cycle(i)

        workers = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert not any(w.is_alive() for w in workers)
        settled = wait_for(lambda: counts() <= baseline, timeout=20)
        done.set()
        listener.join()
        if not settled or lost:
            tail = "".join(srv._stderr)[-3000:]
            now = counts()
            said = f"(connection threads, TCP sockets) {now} against {baseline}; keeper lost: {lost}"
            pytest.fail(f"{said}\n{tail}\n{srv.stacks()}")
        assert any(f["type"] == "notice" and f.get("event") == "leave" for f in heard)
        keeper.send_json({"type": "who"})
        seen: list[dict] = []
        try:
            users = keeper.expect(lambda f: seen.append(f) or f["type"] == "users")
        except (TimeoutError, EOFError) as exc:  # say where the server was, to find out why
            tail = "".join(srv._stderr)[-3000:]
            pytest.fail(f"no /who answer ({exc!r}) after {len(seen)} frames, last {seen[-3:]}\n{tail}\n{srv.stacks()}")
        assert users["nicks"] == ["keeper"]
    finally:
        _, err = srv.stop()
    assert "Traceback" not in err


# --- the terminal client under faults ------------------------------------------------


#: Run as ``python -c RECORD_MODES FILE ARGS...``: writes the terminal's modes
#: (iflag, oflag, cflag, lflag) to FILE, then becomes ``python ARGS...`` in
#: the same process, so a signal to the child reaches the program itself.
RECORD_MODES = (
    "import json, os, sys, termios; json.dump(termios.tcgetattr(0)[:4], open(sys.argv[1], 'w'));"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)


def test_tty_client_keeps_typing_through_a_reconnect():
    srv = ServerProcess()
    port = srv.port
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), f"127.0.0.1:{port}", "--name", "typist"], env=env)
    try:
        term.wait_text("typist>")
        term.send("half a th")
        term.wait_for(lambda t: t.cursor_line() == "typist> half a th", what="half line")
        srv.proc.kill()
        srv.proc.wait()
        term.wait_text("reconnecting to 127.0.0.1")  # the toolbar shows the state
        assert "typist> half a th" in term.text, "the half line survives the disconnect"
        srv = ServerProcess("--port", str(port))
        term.wait_text("reconnected as typist")
        watcher = NativeClient(port, "watcher")
        term.send("ought\r")
        msg = watcher.messages(1)[0]
        assert (msg["nick"], msg["text"]) == ("typist", "half a thought")
        term.send("/quit\r")
        assert term.wait_exit() == 0
    finally:
        if term.child.isalive():
            term.child.kill(signal.SIGKILL)
        srv.stop()


def test_sigterm_and_sighup_leave_the_terminal_usable(server, tmp_path):
    """After SIGTERM or SIGHUP the terminal has the modes it had before the
    client started (echo, line editing), though the client ran it raw."""
    env = python_env()
    env["TERM"] = "xterm"
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        before = tmp_path / f"modes-{sig}.json"
        client = ["-m", "chatclient", server.address, "--name", f"s{sig}"]
        term = Terminal([sys.executable, "-c", RECORD_MODES, str(before), *client], env=env)
        term.wait_text(f"s{sig}>")
        term.send("unfinished")
        term.wait_text("unfinished")
        running = termios.tcgetattr(term.child.child_fd)  # (the pty's master reads the terminal's modes)
        assert not running[3] & (termios.ICANON | termios.ECHO), "the client reads keys raw"
        term.child.kill(sig)
        term.wait_for(lambda t: not t.child.isalive(), what="the client's exit")
        after = termios.tcgetattr(term.child.child_fd)[:4]
        assert term.wait_exit() == code
        assert after[3] & termios.ICANON and after[3] & termios.ECHO, "line editing and echo are back"
        assert after == json.loads(before.read_text()), "every mode as it was before the client started"
        raw = term.raw.decode(errors="replace")
        assert "Traceback" not in raw
        if sig == signal.SIGTERM:
            assert "Chat ended." in term.text


def test_ctrl_c_and_ctrl_d_restore_the_terminal(server):
    env = python_env()
    env["TERM"] = "xterm"
    for key, code in (("\x03", 130), ("\x04", 0)):
        term = Terminal(
            [
                "/bin/sh",
                "-c",
                f"{' '.join(program('chatclient'))} {server.address} --name k{code}; stty -a; sleep 30",
            ],
            env=env,
        )
        term.wait_text(f"k{code}>")
        term.send(key)
        term.wait_text("Chat ended.")
        term.wait_text("icanon")  # stty ran after the client exited
        assert "-icanon" not in term.text and "-echo " not in term.text, "cooked mode and echo are back"
        assert "Traceback" not in term.raw.decode(errors="replace")
        term.child.kill(signal.SIGKILL)


def test_client_line_mode_signals_end_cleanly(server):
    proc = client_process(server.address, "--name", "sig")
    assert proc.stdout.readline() == "Connected to the server.\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert out.splitlines()[-1] == "Chat ended.", (out, err)


def test_plain_client_survives_other_peoples_faults(server):
    plain = PlainClient(server.port, "nc-user")
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"\xff\xfe\xfd garbage without a name\n")
    s.close()
    native = NativeClient(server.port, "native")
    native.say("hello nc")
    plain.expect_line(lambda line: line == b"native: hello nc")
