"""The client across lost links and server restarts: what it resends, where,
in which order, and how long it waits between attempts."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from fake_server import FakePeer, FakeServer, GateClock, notices, session_on
from helpers import TIMEOUT, NativeClient, Proxy, ServerProcess, client_process, kill_quietly, wait_for

import chatclient.session as session_module
from chatclient.backoff import backoff_delays
from chatclient.connection import ChatConnection
from chatclient.errors import ClientError
from chatclient.outbox import Outbox
from chatclient.session import ChatSession
from common import messages as m
from common.plain import render_plain


def start_session(port: int, nick: str, **kw) -> tuple[ChatSession, list[m.Message]]:
    """A ChatSession of this checkout on 127.0.0.1:port; returns it and what it shows."""
    conn = ChatConnection.connect("127.0.0.1", port)
    shown: list[m.Message] = []
    session = ChatSession(conn, conn.hello(nick), show=shown.append, **kw)
    session.start()
    return session, shown


class Output:
    """A client process's stdout, read by a thread, so that waiting for a line has a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, wanted: str | Callable[[str], bool], timeout: float = TIMEOUT) -> list[str]:
        """Lines up to and including the first that contains ``wanted`` (or satisfies it)."""
        match = wanted if callable(wanted) else lambda line: wanted in line
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {wanted!r} in time; saw {lines}") from None
            assert line is not None, f"output ended before {wanted!r}: {lines}"
            lines.append(line)
            if match(line):
                return lines


def read_until(proc: subprocess.Popen, needle: str | Callable[[str], bool]) -> list[str]:
    """Lines of a client's stdout up to and including the first containing ``needle``."""
    if not hasattr(proc, "output"):
        proc.output = Output(proc)
    return proc.output.until(needle)


def reconnected_as(nick: str) -> Callable[[str], bool]:
    return lambda line: line == f"* reconnected as {nick}" or line.startswith(f"* reconnected as {nick};")


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


# --- a typed line waits in one queue, the outbox's (issue 20, item 11) ----------------


def test_a_typed_line_is_queued_once_and_leaves_once_after_the_link_breaks():
    """Behind a server that reads nothing, what is typed waits in the outbox,
    not also in a queue of the connection that a broken link throws away: a
    /topic typed then (the server never confirms it) and a line typed while
    disconnected each arrive exactly once after the reconnect, in order."""
    fake = FakeServer(rcvbuf=4096)
    clock = GateClock(open_=False)
    session, peer, shown = session_on(fake, "stuck", reconnect=True, clock=clock)
    try:
        before = [f"{i} " + "x" * 7000 for i in range(1500)]  # 10 MB: more than the socket buffers hold
        for line in before:
            session.submit(line)
        session.submit("/topic typed behind a full socket")
        assert session.unsent() == 1501, "each line counted once: waiting, or sent and not confirmed"
        peer.close()  # the server goes away without reading
        assert wait_for(lambda: not session.connected)
        session.submit("typed while away")
        assert session.unsent() == 1502
        clock.gate.set()
        again = fake.accept()
        again.greet()
        frames = [again.expect(lambda f: f["type"] in ("say", "topic")) for _ in range(1502)]
        assert [f["text"] for f in frames] == [*before, "typed behind a full socket", "typed while away"]
        assert [f["type"] for f in frames[-2:]] == ["topic", "say"]
        session.submit("after")
        assert again.expect(lambda f: f["type"] in ("say", "topic"))["text"] == "after", "nothing went out twice"
    finally:
        session.leave(timeout=0)
        fake.close()


def test_a_line_leaves_the_outbox_as_its_write_begins_and_a_failed_write_puts_it_back_once():
    """The outbox writes itself (no second queue behind it): while a write
    waits on the socket, typing returns at once and what is typed waits in
    the outbox; a line whose write failed goes back to the head, and leaves
    once on the next link, before what was typed after it."""
    writing, release = threading.Event(), threading.Event()

    def stuck(msg: m.Message) -> None:  # a socket that takes nothing, then breaks
        writing.set()
        release.wait(TIMEOUT)
        raise ClientError("connection lost: connection reset")

    written: list[m.Message] = []
    outbox = Outbox("#lobby", pace=lambda: 0.0)
    outbox.connected(stuck)
    outbox.start()
    try:
        outbox.put(m.SetTopic("typed first"))
        assert writing.wait(TIMEOUT)
        typing = threading.Thread(target=lambda: [outbox.put(m.Say(f"line {i}")) for i in range(3)])
        typing.start()
        typing.join(TIMEOUT)
        assert not typing.is_alive(), "typing waited for the socket"
        assert outbox.unsent() == 3, "the lines wait in the outbox, each once (the topic is being written)"
        outbox.disconnected()
        release.set()
        assert wait_for(lambda: outbox.unsent() == 4), "the topic whose write failed is back in the queue"
        outbox.connected(written.append)
        assert wait_for(lambda: len(written) == 4)
        for _ in range(3):
            outbox.acknowledged("#lobby")
        assert outbox.wait_empty(TIMEOUT)
        assert written == [m.SetTopic("typed first"), *(m.Say(f"line {i}") for i in range(3))]
    finally:
        release.set()
        outbox.stop()


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
        read_until(client, "Connected to the server.")
        srv.proc.kill()
        srv.proc.wait()
        read_until(client, "reconnecting")
        srv = ServerProcess("--port", str(port))
        read_until(client, reconnected_as("phoenix"))
        assert wait_for(lambda: not close_wait_sockets(client.pid)), close_wait_sockets(client.pid)
    finally:
        kill_quietly(client)
        srv.stop()


# --- back into the right room, in the right numbering (issue 11, items 2, 3, 9, 10) ----


def _says(peer: FakePeer, count: int) -> list[str]:
    """The next ``count`` room lines the fake server receives (other frames skipped)."""
    return [peer.expect(lambda f: f["type"] == "say")["text"] for _ in range(count)]


def test_a_reconnect_asks_for_its_room_its_epoch_and_its_last_seq_there():
    """What the client saw, by room: a late receipt of the room it left and a
    stray message of another room move nothing (issue 11, items 9 and 10)."""
    fake = FakeServer()
    session, peer, shown = session_on(
        fake, "frank", welcome={"room": "#lobby", "epoch": "lobby-1"}, reconnect=True, clock=GateClock()
    )
    try:
        peer.send_msg(m.ChatMessage(seq=40, ts=1.0, room="#lobby", nick="x", text="in the lobby"))
        session.submit("/join #ops")
        peer.expect(lambda f: f["type"] == "join")
        peer.send_msg(m.Joined(room="#ops", topic="", users=["frank", "ops"], replay=1, epoch="ops-7"))
        peer.send_msg(m.ChatMessage(seq=7, ts=1.0, room="#ops", nick="ops", text="plan", replay="history"))
        peer.send_msg(m.Accepted(seq=41, ts=1.0, room="#lobby"))  # a receipt of the old room, arriving late
        peer.send_msg(m.ChatMessage(seq=99, ts=1.0, room="#lobby", nick="x", text="stray"))  # another room's
        assert wait_for(lambda: "stray" in [getattr(s, "text", "") for s in shown])
        peer.close()  # the link breaks
        again = fake.accept()
        hello = again.expect(lambda f: f["type"] == "hello")
        assert (hello["room"], hello["epoch"], hello["last_seq"]) == ("#ops", "ops-7", 7)
    finally:
        session.leave(timeout=0)
        fake.close()


def test_a_rename_brings_a_new_token_and_the_reconnect_uses_it():
    """Issue 11, item 3: tokens name their nick; after /nick the server sends
    a new one, and the reconnect must present that one, not the first."""
    fake = FakeServer()
    session, peer, shown = session_on(fake, "frank", welcome={"token": "t1"}, reconnect=True, clock=GateClock())
    try:
        session.submit("/nick frank2")
        peer.expect(lambda f: f["type"] == "nick")
        peer.send_msg(m.Token("t2"))
        renamed = m.Notice(text="frank is now known as frank2", ts=1.0, event="nick", nick="frank2", previous="frank")
        peer.send_msg(renamed)
        assert wait_for(lambda: session.nick == "frank2")
        peer.close()
        again = fake.accept()
        hello = again.expect(lambda f: f["type"] == "hello")
        assert (hello["nick"], hello["resume"]) == ("frank2", "t2"), "the token issued for the new name"
        assert "* token" not in [render_plain(msg) for msg in shown], "a token is not news for the user"
    finally:
        session.leave(timeout=0)
        fake.close()


def test_lines_typed_for_a_room_are_never_posted_in_another_and_go_out_once_back_there():
    """The reconnect lands in #lobby, not #private (say, a restarted server
    that has forgotten the room): what was typed for #private is held and the
    user told; a /join back to #private sends it there."""
    fake = FakeServer()
    clock = GateClock(open_=False)
    session, peer, shown = session_on(
        fake, "alice", welcome={"room": "#private", "epoch": "p1"}, reconnect=True, clock=clock
    )
    try:
        peer.close()
        assert wait_for(lambda: not session.connected)
        session.submit("only for #private: the salary numbers")
        clock.gate.set()
        again = fake.accept()
        hello = again.greet(room="#lobby", epoch="l1", users=["alice", "bob"])
        assert hello["room"] == "#private"
        assert wait_for(lambda: any("held" in text for text in notices(shown))), notices(shown)
        told = notices(shown)
        assert "you are in #lobby, not #private: the server did not take you back there" in told
        assert (
            "1 line(s) you typed for #private are held, not sent: you are in #lobby. "
            "/join #private to send them there." in told
        )
        assert session.unsent() == 1, "held, and counted as not sent"
        waited: list[bool] = []  # at the end of line mode's input: held lines cannot go, nothing to wait for
        waiter = threading.Thread(target=lambda: waited.append(session.wait_sent(60)))
        waiter.start()
        waiter.join(TIMEOUT)  # (the clock never reaches the 60 s: only a wait that ends by itself ends)
        assert waited == [False]
        session.submit("hello lobby")
        assert _says(again, 1) == ["hello lobby"], "the held line was not sent to #lobby before it"
        again.send_msg(m.Accepted(seq=1, ts=1.0, room="#lobby"))
        session.submit("/join #private")
        session.submit("and one more for #private")  # typed before the server answered the /join
        again.expect(lambda f: f["type"] == "join" and f["room"] == "#private")
        again.send_msg(m.Joined(room="#private", topic="", users=["alice"], epoch="p2"))
        assert _says(again, 2) == ["only for #private: the salary numbers", "and one more for #private"]
    finally:
        session.leave(timeout=0)
        fake.close()


def test_a_renumbered_room_resumes_in_its_new_epoch():
    """The server says the room's numbering changed (it was made anew): the
    client shows that and the recent history, even with seqs below what it
    had seen in the old epoch, and next time asks in the new epoch."""
    fake = FakeServer()
    session, peer, shown = session_on(
        fake, "dora", welcome={"room": "#dev", "epoch": "old"}, reconnect=True, clock=GateClock()
    )
    try:
        peer.send_msg(m.ChatMessage(seq=10, ts=1.0, room="#dev", nick="x", text="ten"))
        assert wait_for(lambda: "ten" in [getattr(s, "text", "") for s in shown])
        peer.close()
        again = fake.accept()
        hello = again.greet(room="#dev", epoch="new", replay=2)
        assert (hello["epoch"], hello["last_seq"]) == ("old", 10)
        again.send_msg(m.Notice(text="#dev was renumbered: recent history follows", ts=1.0, event="renumbered"))
        for seq in (1, 2):
            again.send_msg(m.ChatMessage(seq=seq, ts=1.0, room="#dev", nick="x", text=f"new {seq}", replay="history"))
        assert wait_for(lambda: [getattr(s, "text", "") for s in shown][-2:] == ["new 1", "new 2"])
        assert "#dev was renumbered: recent history follows" in notices(shown)
        again.close()
        third = fake.accept()
        hello = third.expect(lambda f: f["type"] == "hello")
        assert (hello["epoch"], hello["last_seq"]) == ("new", 2)
    finally:
        session.leave(timeout=0)
        fake.close()


# --- the same against the real server (docs/protocol.md, Reconnecting) -----------------


def _history_and_live(client: NativeClient, count: int) -> list[str]:
    """The texts of the next ``count`` room messages, history or live."""
    return [f["text"] for f in client.messages(count, replayed=True)]


def test_after_a_server_restart_lines_typed_for_a_room_land_in_that_room():
    """Issue 11, item 2: the client asks for #private back and the restarted
    server honours it; what was typed during the outage is posted there, and
    #lobby (its members, its history) never sees it."""
    srv = ServerProcess()
    port = srv.port
    client = client_process(f"127.0.0.1:{port}", "--name", "alice")
    try:
        read_until(client, "Connected to the server.")
        client.stdin.write("/join #private\n")
        client.stdin.flush()
        read_until(client, "you are in #private")
        assert srv.stop(signal.SIGTERM)[0] == 0
        read_until(client, "reconnecting")
        client.stdin.write("only for #private: the salary numbers\n")
        client.stdin.flush()
        read_until(client, "will be sent after reconnecting")
        srv = ServerProcess("--port", str(port))
        lines = read_until(client, reconnected_as("alice"))
        boss = NativeClient(port, "boss")
        boss.send_json({"type": "join", "room": "#private"})
        assert "only for #private: the salary numbers" in _history_and_live(boss, 1)
        assert not any("not #private" in line for line in lines + read_until(client, "boss joined"))
        newcomer = NativeClient(port, "newcomer")  # #lobby's history
        assert all(f.get("text") != "only for #private: the salary numbers" for f in _replayed(newcomer))
    finally:
        kill_quietly(client)
        srv.stop()


def _replayed(client: NativeClient) -> list[dict]:
    """The history a client was sent with its welcome or joined."""
    greeting = client.welcome
    return [client.frame() for _ in range(greeting.get("replay", 0))]


def test_after_a_rename_a_reconnect_keeps_the_new_name_the_room_and_the_missed_messages(server):
    """Issue 11, item 3: /nick brings a new resume token; with the old session
    still half-open, the reconnect gets the new name back (not frank22), in
    its room, with what was said meanwhile marked missed."""
    proxy = Proxy(server.port)
    ops = NativeClient(server.port, "ops")
    ops.send_json({"type": "join", "room": "#ops"})
    ops.expect(lambda f: f["type"] == "joined")
    client = client_process(f"127.0.0.1:{proxy.port}", "--name", "frank")
    try:
        read_until(client, "Connected to the server.")
        client.stdin.write("/join #ops\n/nick frank2\n")
        client.stdin.flush()
        read_until(client, "frank is now known as frank2")
        proxy.cut_client_side(hold=True)  # half-open: the server still has frank2's session
        read_until(client, "reconnecting")
        ops.say("ops said this while frank was away")
        client.stdin.write("private plan for ops only\n")
        client.stdin.flush()
        read_until(client, "will be sent after reconnecting")
        proxy.release()
        lines = read_until(client, reconnected_as("frank2"))
        lines += read_until(client, "(missed) ops: ops said this while frank was away")
        assert not any("#lobby" in line for line in lines), lines
        got = ops.expect(lambda f: f["type"] == "message" and f["nick"] == "frank2")
        assert (got["room"], got["text"]) == ("#ops", "private plan for ops only")
    finally:
        kill_quietly(client)
        proxy.close()


def test_a_server_back_with_a_password_ends_the_reconnects_with_why(tmp_path):
    """Asking again cannot change the answer: one clear line, exit 1, no endless retries."""
    first = ServerProcess("--rate-limit", "0")
    client = client_process(first.address, "--name", "roamer")
    try:
        read_until(client, "Connected to the server.")
        port = first.port
        first.stop()
        read_until(client, "reconnecting")
        (tmp_path / "pw").write_text("sesame\n")
        second = ServerProcess("--port", str(port), "--password-file", str(tmp_path / "pw"))
        try:
            assert client.wait(timeout=60) == 1, "it gave up"
            err = client.stderr.read()
            assert "needs a password" in err and "--password-file" in err, err
        finally:
            second.stop()
    finally:
        kill_quietly(client)


def test_not_connected_is_said_once_per_outage_not_for_every_line(server):
    """Issue 19, item 17: three lines typed while away bring one notice; the next outage, one again."""
    proxy = Proxy(server.port)
    watcher = NativeClient(server.port, "watcher")
    client = client_process(f"127.0.0.1:{proxy.port}", "--name", "away")
    try:
        read_until(client, "Connected to the server.")
        for outage in (1, 2):
            proxy.cut_client_side(hold=True)
            read_until(client, "reconnecting")
            client.stdin.write("".join(f"typed away {outage}.{i}\n" for i in range(3)) + "/help\n")
            client.stdin.flush()
            lines = read_until(client, "* Commands:")  # (the help is printed after the three lines are taken)
            assert sum("will be sent after reconnecting" in line for line in lines) == 1, lines
            proxy.release()
            read_until(client, reconnected_as("away"))
            got = [watcher.expect(lambda f: f["type"] == "message" and f["nick"] == "away")["text"] for _ in range(3)]
            assert got == [f"typed away {outage}.{i}" for i in range(3)]
    finally:
        kill_quietly(client)
        proxy.close()
