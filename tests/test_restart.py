"""A server restarted on the same store loses nothing: real processes, a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess

import pytest
from helpers import NativeClient, PlainClient, ServerProcess, ask_history, program, python_env, wait_for
from test_web import WsClient


def store_server(path, *args: str) -> ServerProcess:
    return ServerProcess("--rate-limit", "0", "--store", str(path), *args)


def hello(port: int, **fields) -> NativeClient:
    client = NativeClient(port)
    client.send_json({"type": "hello", "version": 1, **fields})
    return client


def until(client: NativeClient, kind: str) -> list[dict]:
    out = [client.frame()]
    while out[-1]["type"] != kind:
        out.append(client.frame())
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_rooms_history_topic_numbering_and_resume_survive_a_restart(tmp_path, sig):
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    alice = NativeClient(srv.port, "alice")
    alice.send_json({"type": "join", "room": "#dev"})
    epoch = until(alice, "joined")[-1]["epoch"]
    alice.send_json({"type": "topic", "text": "release friday"})
    acks = []
    for i in range(5):
        alice.say(f"before {i}")
        acks.append(alice.expect(lambda f: f["type"] == "accepted"))
    token = alice.welcome["token"]
    srv.stop(sig)  # the last message was acknowledged: it must be there, even after kill -9
    srv = store_server(path)
    try:
        back = hello(srv.port, nick="alice", resume=token, room="#dev", epoch=epoch, last_seq=acks[2]["seq"])
        welcome = until(back, "welcome")[-1]
        assert (welcome["room"], welcome["epoch"], welcome["topic"]) == ("#dev", epoch, "release friday")
        missed = [back.frame() for _ in range(welcome["replay"])]
        assert [(f["text"], f["replay"]) for f in missed] == [("before 3", "missed"), ("before 4", "missed")]
        back.say("after")
        ack = back.expect(lambda f: f["type"] == "accepted")
        assert ack["seq"] == acks[-1]["seq"] + 1, "numbering continues"
        newcomer = NativeClient(srv.port, "newcomer")
        newcomer.send_json({"type": "join", "room": "#dev"})
        frames = until(newcomer, "joined")
        joined = frames[-1]
        history = [newcomer.frame() for _ in range(joined["replay"])]
        assert [f["text"] for f in history] == [f"before {i}" for i in range(5)] + ["after"]
        assert joined["topic"] == "release friday"
    finally:
        srv.stop()


def test_a_replaced_store_is_a_new_numbering(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    alice = NativeClient(srv.port, "alice")
    alice.say("one")
    seq = alice.expect(lambda f: f["type"] == "accepted")["seq"]
    epoch = alice.welcome["epoch"]
    srv.stop()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")
    srv = store_server(path)
    try:
        back = hello(srv.port, nick="alice", room="#lobby", epoch=epoch, last_seq=seq)
        welcome = until(back, "welcome")[-1]
        assert welcome["epoch"] != epoch
        assert back.frame()["event"] == "renumbered"
    finally:
        srv.stop()


def _start(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=env or python_env(),
        timeout=20,
    )


@pytest.mark.parametrize("kind", ["random", "other-db"])
def test_a_store_that_is_not_ours_is_refused_untouched(tmp_path, kind):
    path = tmp_path / "x.sqlite3"
    if kind == "random":
        path.write_bytes(os.urandom(8192))
    else:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE payroll (who TEXT, amount INTEGER)")
        db.commit()
        db.close()
    path.chmod(0o600)  # private, as a store must be: refused for what it holds
    before = path.read_bytes()
    done = _start(["--store", str(path)])
    assert done.returncode == 2
    assert str(path) in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert path.read_bytes() == before


def test_the_default_store_is_under_xdg_state_home_and_said_at_start(tmp_path):
    env = {**python_env(), "XDG_STATE_HOME": str(tmp_path / "state")}
    srv_env = dict(env)
    proc = subprocess.Popen(
        [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--name", "office", "--no-web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=srv_env,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        expected = tmp_path / "state" / "lanchat" / "office.sqlite3"
        assert any(str(expected) in line for line in lines), lines
        assert wait_for(expected.exists)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_a_second_server_on_the_same_store_is_refused(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    try:
        done = _start(["--store", str(path)])
        assert done.returncode == 2 and "in use" in done.stderr and str(path) in done.stderr
    finally:
        srv.stop()


def test_plain_clients_see_history_after_a_restart(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    alice = NativeClient(srv.port, "alice")
    alice.say("kept across the restart")
    alice.expect(lambda f: f["type"] == "accepted")
    srv.stop(signal.SIGKILL)
    srv = store_server(path)
    try:
        bob = PlainClient(srv.port, "bob")
        line = bob.expect_line(lambda x: b"kept across" in x)[-1]
        assert line == b"(history) alice: kept across the restart"
    finally:
        srv.stop()


def _small_files() -> None:
    """In the server's process: files of at most 256 KiB (writes past it fail with EFBIG, as on a full disk)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_a_full_disk_keeps_chat_going_and_tells_the_senders(tmp_path):
    path = tmp_path / "small.sqlite3"
    proc = subprocess.Popen(
        [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--rate-limit", "0", "--store", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
        preexec_fn=_small_files,
    )
    try:
        port = int(proc.stdout.readline().split(":")[-1])
        alice, bob = NativeClient(port, "alice"), NativeClient(port, "bob")
        big = "y" * 7000
        answers = []
        for i in range(200):  # 1.4 MB: far past the limit
            alice.say(f"{i} {big}")
            answers.append(alice.expect(lambda f: f["type"] in ("accepted", "error")))
            if answers[-1]["type"] == "error":
                break
        assert answers[-1]["code"] == "not_kept", answers[-1]
        assert "not kept" in answers[-1]["message"]
        got = bob.messages(len(answers))
        assert [int(f["text"].split()[0]) for f in got] == list(range(len(answers))), "delivered all the same"
        alice.say("still chatting")
        assert bob.messages(1)[0]["text"] == "still chatting"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err
    assert err.count("cannot write the store") == 1, err


def test_retention_prunes_the_store_in_the_background(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    alice = NativeClient(srv.port, "alice")
    for i in range(10):
        alice.say(f"m{i}")
        alice.expect(lambda f: f["type"] == "accepted")
    srv.stop()
    srv = store_server(path, "--retain-messages", "3")  # a round runs at start, then every 10 minutes
    try:
        bob = NativeClient(srv.port, "bob")

        def kept() -> list[str]:
            bob.send_json({"type": "history", "count": 100})
            head = bob.expect(lambda f: f["type"] == "notice" and f["event"] == "history")
            count = int(head["text"].split()[2])
            found = [bob.frame()["text"] for _ in range(count)]
            if count:
                bob.expect(lambda f: f["type"] == "notice" and f["text"].startswith("end of"))
            return found

        assert wait_for(lambda: kept() == ["m7", "m8", "m9"], timeout=10)
    finally:
        srv.stop()


def test_the_client_counts_a_message_not_kept_as_delivered(tmp_path):
    path = tmp_path / "small.sqlite3"
    argv = [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--rate-limit", "0", "--store", str(path)]
    server = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env(), preexec_fn=_small_files
    )
    try:
        port = int(server.stdout.readline().split(":")[-1])
        lines = "".join(f"{i} {'z' * 7000}\n" for i in range(60))  # 420 KB: past the limit
        done = subprocess.run(
            [*program("chatclient"), f"127.0.0.1:{port}", "--name", "writer"],
            input=lines,
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=60,
        )
        assert "delivered but not kept" in done.stdout, done.stdout[-500:]
        assert done.returncode == 0 and "not sent" not in done.stderr, done.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=10)


# --- a line is committed before it is shown, whoever sent it, whoever listens (issue 25) -----


def _kept_after_kill_9(srv: ServerProcess, path, room: str = "#lobby") -> list[str]:
    """Kill the server with SIGKILL, start it again on the same store: the texts ``room`` keeps."""
    srv.stop(signal.SIGKILL)
    srv = store_server(path)
    try:
        reader = NativeClient(srv.port, "reader")
        if room != "#lobby":
            reader.send_json({"type": "join", "room": room})
            until(reader, "joined")
        return [f["text"] for f in ask_history(reader)]
    finally:
        srv.stop()


def test_a_plain_users_lines_alone_in_a_room_are_kept_at_once(tmp_path):
    """Nobody else is in the room, so nobody is told; the lines must be committed
    all the same before the server answers the next command (here /history,
    which shows them): a kill -9 then loses none of them."""
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    nc = PlainClient(srv.port, "loner")
    for i in range(5):
        nc.send(f"alone {i}\r\n".encode())
    nc.send(b"/history 5\r\n")
    shown = nc.expect_line(lambda line: line.startswith(b"* end of history"))
    assert [line for line in shown if line.startswith(b"(history)")] == [
        f"(history) loner: alone {i}".encode() for i in range(5)
    ]
    assert _kept_after_kill_9(srv, path) == [f"alone {i}" for i in range(5)]


def test_a_page_users_lines_alone_in_a_room_are_kept_at_once(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = store_server(path)
    page = WsClient(srv)
    assert page.hello("pager")["type"] == "welcome"
    page.send_json({"type": "join", "room": "#quiet"})
    page.expect(lambda f: f["type"] == "joined")
    for i in range(3):
        page.send_json({"type": "say", "text": f"page {i}"})
        page.expect(lambda f: f["type"] == "accepted")
    assert _kept_after_kill_9(srv, path, "#quiet") == [f"page {i}" for i in range(3)]
