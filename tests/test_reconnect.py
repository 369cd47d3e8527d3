"""The client across lost links and server restarts: what it resends, where,
in which order, and how long it waits between attempts."""

from __future__ import annotations

import os
import random
import subprocess
import threading

from helpers import TIMEOUT, NativeClient, Proxy, ServerProcess, client_process, kill_quietly, wait_for

import chatclient.session as session_module
from chatclient.backoff import backoff_delays
from chatclient.connection import ChatConnection
from chatclient.session import ChatSession
from common import messages as m


def start_session(port: int, nick: str, **kw) -> tuple[ChatSession, list[m.Message]]:
    """A ChatSession of this checkout on 127.0.0.1:port; returns it and what it shows."""
    conn = ChatConnection.connect("127.0.0.1", port)
    shown: list[m.Message] = []
    session = ChatSession(conn, conn.hello(nick), show=shown.append, **kw)
    session.start()
    return session, shown


def read_until(proc: subprocess.Popen, needle: str) -> list[str]:
    """Lines of a client's stdout up to and including the first containing ``needle``."""
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, f"output ended before {needle!r}: {lines}"
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines


def texts(shown: list[m.Message]) -> list[str]:
    return [msg.text for msg in shown if isinstance(msg, (m.ChatMessage, m.Notice))]


# --- how long between attempts ------------------------------------------------------


class Extremes(random.Random):
    """A random source that always draws the top (or the bottom) of the range."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


class FakeClock:
    """Waits take no real time: each is recorded, and ``on_wait`` may act in it."""

    def __init__(self, on_wait=lambda waits: None) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.on_wait = on_wait

    def monotonic(self) -> float:
        return self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        self.on_wait(self.waits)
        return stop.is_set()


def test_backoff_doubles_up_to_its_cap_and_jitters_down_by_at_most_half():
    top = backoff_delays(rng=Extremes(top=True))
    assert [next(top) for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    bottom = backoff_delays(rng=Extremes(top=False))
    assert [next(bottom) for _ in range(8)] == [0.25, 0.5, 1, 2, 4, 8, 15, 15]
    jittered = backoff_delays(rng=random.Random(7))
    for nominal in (0.5, 1, 2, 4, 8, 16, 30, 30):
        assert nominal / 2 <= next(jittered) <= nominal
    a, b = backoff_delays(rng=random.Random(1)), backoff_delays(rng=random.Random(2))
    assert [next(a) for _ in range(4)] != [next(b) for _ in range(4)], "clients do not return in lock-step"


def test_the_session_reconnects_on_its_backoff_schedule_without_real_waiting():
    """Five refused attempts, then the server is back: the session waited
    0.5, 1, 2, 4 and 8 s by its clock (none of them in real time)."""
    srv = ServerProcess()
    port = srv.port
    wanted, started = threading.Event(), threading.Event()

    def on_wait(waits: list[float]) -> None:  # in the receiver thread, before each attempt
        if len(waits) == 5:
            wanted.set()  # (started by the test's thread: the receiver's blocks SIGTERM, which a child inherits)
            started.wait(TIMEOUT)

    clock = FakeClock(on_wait)
    session, shown = start_session(port, "phoenix", clock=clock, rng=Extremes(top=True))
    try:
        srv.proc.kill()
        srv.proc.wait()
        assert wanted.wait(TIMEOUT), f"no fifth attempt: {clock.waits}"
        srv = ServerProcess("--port", str(port))
        started.set()
        assert wait_for(lambda: "reconnected as phoenix" in texts(shown))
        assert clock.waits == [0.5, 1, 2, 4, 8]
        watcher = NativeClient(port, "watcher")
        session.submit("back")
        assert watcher.messages(1)[0]["text"] == "back"
    finally:
        session.leave()
        srv.stop()


# --- the resend after a reconnect (issue 11, item 16) ----------------------------------


def test_a_line_typed_while_the_reconnect_completes_is_sent_at_once(server, monkeypatch):
    """A line typed in the moment the reconnect finishes (after the old code
    took its snapshot of what to resend, before it counted as connected) was
    kept until the next reconnect."""
    proxy = Proxy(server.port)
    watcher = NativeClient(server.port, "watcher")
    session, shown = start_session(proxy.port, "roamer")
    typed = threading.Event()
    real_pacer = session_module._pacer

    def pacer_with_a_line_typed_meanwhile(welcome):  # runs inside the reconnect, in the receiver thread
        if not typed.is_set():
            typed.set()
            typist = threading.Thread(target=session.submit, args=("typed as the link came back",))
            typist.start()
            typist.join(1.0)  # (a typist that has to wait for the reconnect may finish later)
        return real_pacer(welcome)

    monkeypatch.setattr(session_module, "_pacer", pacer_with_a_line_typed_meanwhile)
    try:
        proxy.cut_client_side(hold=False)
        assert wait_for(typed.is_set), "the reconnect never made its pacer"
        got = watcher.messages(1)[0]
        assert (got["nick"], got["text"]) == ("roamer", "typed as the link came back")
        assert wait_for(lambda: session.unsent() == 0)
    finally:
        session.leave()
        proxy.close()


def test_lines_typed_during_the_paced_resend_wait_their_turn():
    """Lines queued while away go out at the server's pace after the reconnect;
    a line typed meanwhile must come after them, not overtake them."""
    srv = ServerProcess("--rate-limit", "4", "--rate-burst", "1")
    proxy = Proxy(srv.port)
    try:
        watcher = NativeClient(srv.port, "watcher")
        session, shown = start_session(proxy.port, "roamer")
        proxy.cut_client_side(hold=True)
        assert wait_for(lambda: not session.connected)
        queued = [f"queued {i}" for i in range(4)]
        for line in queued:
            session.submit(line)
        proxy.release()
        first = watcher.messages(1)[0]
        assert first["text"] == "queued 0"
        session.submit("typed during the resend")
        rest = [f["text"] for f in watcher.messages(4, timeout=TIMEOUT)]
        assert rest == [*queued[1:], "typed during the resend"]
        session.leave()
    finally:
        proxy.close()
        srv.stop()


# --- the old socket is closed (issue 11, item 18) ------------------------------------


def close_wait_sockets(pid: int) -> list[str]:
    """The process's TCP sockets in CLOSE-WAIT (the peer closed, we never did)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                fields = row.split()
                if fields[3] == "08" and fields[9] in inodes:
                    found.append(f"{fields[1]} -> {fields[2]}")
    return found


def test_the_old_connection_is_closed_after_a_reconnect():
    srv = ServerProcess()
    port = srv.port
    client = client_process(f"127.0.0.1:{port}", "--name", "phoenix")
    try:
        assert client.stdout.readline() == "Connected to the server.\n"
        srv.proc.kill()
        srv.proc.wait()
        read_until(client, "reconnecting")
        srv = ServerProcess("--port", str(port))
        read_until(client, "reconnected as phoenix")
        assert wait_for(lambda: not close_wait_sockets(client.pid)), close_wait_sockets(client.pid)
    finally:
        kill_quietly(client)
        srv.stop()
