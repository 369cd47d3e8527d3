"""The real chatclient: line mode through pipes, the UI in a pseudo-terminal."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time

import pyte
import pytest
import trustme
from fake_server import FakeServer, session_on
from helpers import (
    TIMEOUT,
    NativeClient,
    PlainClient,
    ServerProcess,
    ask_who,
    client_process,
    kill_quietly,
    program,
    python_env,
    run_client,
    send_once,
    wait_for,
)
from terminal import Terminal
from test_reconnect import read_until

from chatclient.trust import TlsOptions
from common import messages as m


def test_line_mode_between_two_client_processes(server):
    bob = client_process(server.address, "--name", "bob")
    assert bob.stdout.readline() == "Connected to the server.\n"
    assert bob.stdout.readline() == "* 1 in #lobby: bob\n"
    alice = client_process(server.address, "--name", "alice")
    assert alice.stdout.readline() == "Connected to the server.\n"
    assert bob.stdout.readline() == "* alice joined #lobby\n"
    alice.stdin.write("hello bob\n")
    alice.stdin.flush()
    assert bob.stdout.readline() == "alice: hello bob\n"
    bob.stdin.write("hi alice\nbye\n")
    bob.stdin.flush()
    out, err = bob.communicate(timeout=10)
    assert bob.returncode == 0, err
    assert out.splitlines()[-1] == "Chat ended."
    alice_out, alice_err = alice.communicate(timeout=10)  # stdin EOF: finish and leave
    assert alice.returncode == 0, alice_err
    lines = alice_out.splitlines()
    assert "bob: hi alice" in lines and "bob: bye" in lines and "* bob left" in lines
    assert "hello bob" not in "\n".join(lines), "own messages are not echoed in line mode"
    assert lines[-1] == "Chat ended."


def test_line_mode_sends_everything_before_exiting_at_eof(server):
    watcher = NativeClient(server.port, "watcher")
    proc = client_process(server.address, "--name", "burst")
    lines = [f"line {i}" for i in range(200)]
    out, err = proc.communicate("\n".join(lines), timeout=20)  # last line has no newline
    assert proc.returncode == 0, err
    assert [f["text"] for f in watcher.messages(200)] == lines


def test_a_piped_bot_prints_only_what_happens_after_it_joined(server):
    """Issue 19, item 18: no replay of the room's history before the bot's own lines."""
    talker = NativeClient(server.port, "talker")
    talker.say("said before the bot came")
    talker.expect(lambda f: f["type"] == "accepted")
    bot = client_process(server.address, "--name", "bot")
    try:
        assert bot.stdout.readline() == "Connected to the server.\n"
        assert bot.stdout.readline() == "* 2 in #lobby: talker, bot\n"
        talker.expect(lambda f: f.get("event") == "join")
        talker.say("said after the bot came")
        assert bot.stdout.readline() == "talker: said after the bot came\n", "the first line it prints"
        bot.stdin.write("x\n/history 5\n")  # asked for, the history is shown
        bot.stdin.flush()
        assert talker.messages(1)[0]["text"] == "x"
        line = bot.stdout.readline()
        while not line.startswith("(history)"):
            line = bot.stdout.readline()
        assert line == "(history) talker: said before the bot came\n"
    finally:
        bot.stdin.close()
        bot.wait(TIMEOUT)


def test_msg_to_a_name_someone_left_by_renaming_hints_the_new_name(server):
    """Issue 19, item 17."""
    bob = NativeClient(server.port, "bob")
    proc = client_process(server.address, "--name", "alice")
    try:
        assert proc.stdout.readline() == "Connected to the server.\n"
        bob.expect(lambda f: f.get("event") == "join")
        bob.send_json({"type": "nick", "nick": "robert"})
        line = proc.stdout.readline()
        while "bob is now known as robert" not in line:
            line = proc.stdout.readline()
        proc.stdin.write("/msg bob are you there?\n")
        proc.stdin.flush()
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "* bob is now robert; /msg robert ...\n" in lines, lines
        assert any(line.startswith("* error: nobody called 'bob'") for line in lines), "the server's answer too"
    finally:
        proc.stdin.close()
        proc.wait(TIMEOUT)


def test_unreachable_server_is_one_clear_line():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    proc = client_process(f"127.0.0.1:{port}", "--name", "x")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert err.strip() == f"chatclient: could not connect to 127.0.0.1:{port}: connection refused"


def test_server_going_away_is_reported_with_no_reconnect(server):
    proc = client_process(server.address, "--name", "loner", "--no-reconnect")
    assert proc.stdout.readline() == "Connected to the server.\n"
    server.proc.kill()
    server.proc.wait()
    try:
        out, err = proc.communicate("anyone?\n", timeout=10)  # (it may have seen the loss and gone already)
    finally:
        kill_quietly(proc)
    assert proc.returncode == 1
    assert "connection lost" in err and "Traceback" not in err


def test_taken_name_in_line_mode_is_an_error(server):
    holder = NativeClient(server.port, "alice")  # noqa: F841
    proc = client_process(server.address, "--name", "alice")
    out, err = proc.communicate("", timeout=10)
    assert proc.returncode == 1
    assert "taken" in err and "'alice2'" in err


@pytest.mark.parametrize("bad", ["host:notaport", "[::1", "h:70000"])
def test_bad_address_is_a_usage_error(bad):
    proc = subprocess.run([*program("chatclient"), bad], capture_output=True, text=True, env=python_env(), timeout=10)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


# --- the terminal UI --------------------------------------------------------


def _tty_client(server, name: str = "alice", *extra: str) -> Terminal:
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), server.address, "--name", name, *extra], env=env)
    term.wait_text(f"{name}>")
    return term


def test_incoming_message_keeps_half_typed_line_intact(server):
    term = _tty_client(server)
    term.wait_text("Connected to the server.")
    bob = NativeClient(server.port, "bob")
    term.wait_text("bob joined")
    term.send("hello wor")
    term.wait_for(lambda t: t.cursor_line() == "alice> hello wor", what="the half line")
    bob.say("a message while you type")
    term.wait_text("bob: a message while you type")
    # Once the redraw settles: the message sits above the prompt, and the half
    # line and cursor are where they were.
    term.wait_for(lambda t: t.cursor_line() == "alice> hello wor", what="the half line after the message")
    msg_row = next(i for i, line in enumerate(term.lines) if "bob: a message while you type" in line)
    assert term.screen.cursor.y > msg_row
    assert term.screen.cursor.x == len("alice> hello wor")
    term.send("ld\r")
    got = bob.messages(1)[0]
    assert (got["nick"], got["text"]) == ("alice", "hello world"), "the line is sent intact"
    term.wait_text("You: hello world")
    term.send("bye\r")
    assert term.wait_exit() == 0
    assert "Chat ended." in term.text
    assert "Traceback" not in term.raw.decode(errors="replace")


def test_escape_sequences_from_peers_are_shown_inert(server):
    term = _tty_client(server)
    bob = NativeClient(server.port, "bob")
    bob.say("title\x1b]0;pwned\x07 clip\x1b]52;c;ZXZpbA==\x07 \x1b[2Jrtl\u202eexe")
    term.wait_text("bob: title^[]0;pwned^G clip^[]52;c;ZXZpbA==^G ^[[2Jrtl<U+202E>exe")
    assert b"\x1b]52" not in term.raw and b"\x1b]0;pwned" not in term.raw
    term.send("\x04")  # Ctrl-D on an empty line
    assert term.wait_exit() == 0


def test_ctrl_c_clears_a_half_typed_line_then_quits_cleanly_with_130(server):
    """As shells do: the first Ctrl-C clears what is typed (Up brings it back), one on an empty line quits."""
    term = _tty_client(server)
    watcher = NativeClient(server.port, "watcher")
    term.send("half")
    term.wait_for(lambda t: t.cursor_line() == "alice> half", what="the half line")
    term.send("\x03")
    term.wait_for(lambda t: t.cursor_line() == "alice>", what="the line cleared")
    term.send("\x1b[A")  # Up: the cleared line is in the history
    term.wait_for(lambda t: t.cursor_line() == "alice> half", what="the cleared line recalled")
    assert term.child.isalive(), "the first Ctrl-C does not quit"
    term.send("\x15\x03")  # Ctrl-U empties the line; Ctrl-C on an empty line quits
    assert term.wait_exit() == 130
    assert "Traceback" not in term.raw.decode(errors="replace")
    leave = watcher.expect(lambda f: f.get("event") == "leave")
    assert leave["nick"] == "alice"


@pytest.mark.parametrize("no_color", [False, True])
def test_nick_colour_and_no_color(server, no_color):
    env = python_env()
    env["TERM"] = "xterm"
    if no_color:
        env["NO_COLOR"] = "1"
    term = Terminal([*program("chatclient"), server.address, "--name", "viewer"], env=env)
    term.wait_text("viewer>")
    bob = NativeClient(server.port, "bob")
    bob.say("colourless?")
    term.wait_text("bob: colourless?")
    row = next(i for i, line in enumerate(term.lines) if "bob: colourless?" in line)
    col = term.lines[row].index("bob:")
    nick_colours = {term.screen.buffer[row][col + k].fg for k in range(3)}
    if no_color:
        assert nick_colours == {"default"}
    else:
        assert nick_colours != {"default"}, "a colour per nickname"
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_name_is_asked_for_on_a_terminal(server):
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), server.address], env=env)
    term.wait_text("Your nickname:")
    term.send("\x15carol\r")  # Ctrl-U clears the suggested default first
    term.wait_text("carol>")
    watcher = NativeClient(server.port, "watcher")
    watcher.send_json({"type": "who"})
    assert "carol" in watcher.expect(lambda f: f["type"] == "users")["nicks"]
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_a_typed_name_replaces_the_suggested_one_and_enter_alone_keeps_it(server):
    """The suggestion (the login name) is a hint in the empty line, not text in it: typing a name
    gives that name (it was added to the suggestion: "root" + "frank" = "rootfrank")."""
    env = python_env()
    env["TERM"] = "xterm"
    env["USER"] = env["LOGNAME"] = "suggested"
    typed = Terminal([*program("chatclient"), server.address], env=env)
    typed.wait_text("Your nickname:")
    typed.send("frank\r")
    typed.wait_text("frank>")
    kept = Terminal([*program("chatclient"), server.address], env=env)
    kept.wait_text("Your nickname:")
    kept.send("\r")
    kept.wait_text("suggested>")
    watcher = NativeClient(server.port, "watcher2")
    watcher.send_json({"type": "who"})
    nicks = watcher.expect(lambda f: f["type"] == "users")["nicks"]
    assert "frank" in nicks and "suggested" in nicks, nicks
    for term in (typed, kept):
        term.send("/quit\r")
        assert term.wait_exit() == 0


@pytest.mark.timeout(180)  # (a pyte replay of every redraw: beside busy workers on two cores it twice passed 60 s)
def test_keys_typed_while_messages_stream_in_all_reach_the_line(server):
    """Keys and erases typed while the client prints a stream of messages must
    all go to the input line: none echoed into the output by the tty, no
    erase swallowed by it (prompt_toolkit prints in cooked mode by default)."""
    term = _tty_client(server)
    bob = PlainClient(server.port, "bob")  # a plain sender gets no acks: it need not read
    term.wait_text("bob joined")
    stop = threading.Event()

    def stream() -> None:
        i = 0
        while not stop.is_set() and i < 20_000:  # bounded: about 20 s at most
            bob.send(f"m {i} {'.' * 60}\n".encode())
            i += 1
            time.sleep(0.001)  # pacing the stream, not synchronising

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    term.wait_for(lambda t: b"m 20 ...." in t.raw, what="the stream")
    typed = "QZXVW" * 8
    for ch in typed:  # a key, a wrong key and its erase, as people type
        for key in (ch, "Y", "\x7f"):
            term.send(key)
            time.sleep(0.02)  # typing speed
            term.collect()
    stop.set()
    sender.join(10)
    term.wait_for(lambda t: t.cursor_line() == f"alice> {typed}", timeout=15, what="every key on the line")
    term.send("\r")
    sent: list[bytes] = []

    def bob_got_it(t: Terminal) -> bool:  # (the terminal keeps being read meanwhile)
        try:
            sent.append(bob.expect_line(lambda line: b"QZ" in line, timeout=0.05)[-1])
        except TimeoutError:
            return False
        return True

    term.wait_for(bob_got_it, timeout=20, what="alice's line reaching bob")
    assert sent[0].endswith(f"alice: {typed}".encode()), sent
    term.send("\x04")
    assert term.wait_exit() == 0
    # Replay the whole output on a screen that keeps what scrolled away: the
    # prompt's own redraws are erased there, a key the tty echoed is not.
    screen = pyte.HistoryScreen(100, 24, history=100_000)
    pyte.ByteStream(screen).feed(term.raw)
    rows = [*screen.history.top, *(screen.buffer[y] for y in range(screen.lines))]
    shown = [text for text in ("".join(row[x].data for x in range(100)) for row in rows) if "bob: m " in text]
    assert len(shown) > 100
    garbled = [line for line in shown if any(c in line for c in "QZXVWY")]
    assert not garbled, garbled[:3]


def test_a_script_piping_many_lines_is_paced_not_cut_off_for_flooding():
    """The server cuts off a client that stays over its limit for three bursts
    (here 20/s, bursts of 5: 20 lines at once would do). Line mode keeps to
    the limit the server announces instead, so all 40 lines arrive."""
    srv = ServerProcess("--rate-limit", "20", "--rate-burst", "5")
    try:
        watcher = NativeClient(srv.port, "watcher")
        lines = [f"line {i}" for i in range(40)]
        proc = client_process(srv.address, "--name", "script")
        out, err = proc.communicate("\n".join(lines) + "\n", timeout=60)
        assert proc.returncode == 0, err
        assert "flooding" not in out + err and "not sent" not in err
        assert [f["text"] for f in watcher.messages(40, timeout=30)] == lines
    finally:
        srv.stop()


def test_tests_run_with_a_private_home():
    """Nothing a test starts may write into the real home directory."""
    from helpers import REAL_HOME

    env = python_env()
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        assert not env[name].startswith(REAL_HOME + os.sep) and env[name] != REAL_HOME, name
        assert os.environ[name] == env[name]


# --- clear errors, not tracebacks (issue 11, item 17) ------------------------------


def _usage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*program("chatclient"), *args], capture_output=True, text=True, env=python_env(), timeout=10)


@pytest.mark.parametrize(
    "args, says",
    [
        (["127.0.0.1", "--port", "70000"], "--port: 70000 is not a port (1-65535)"),
        (["127.0.0.1", "--port", "-1"], "--port: -1 is not a port (1-65535)"),
        (["127.0.0.1", "--port", "0"], "--port: 0 is not a port (1-65535)"),
        (["127.0.0.1", "--port", "abc"], "--port: 'abc' is not a port (1-65535)"),
        (["127.0.0.1:5050", "--send", ""], "--send needs a non-empty message"),
        (["127.0.0.1:5050", "--send", " \n "], "--send needs a non-empty message"),
        (["127.0.0.1:5050", "--name", ""], "--name: a nickname cannot be empty"),
    ],
)
def test_bad_flags_are_usage_errors_before_connecting(args, says):
    proc = _usage(*args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("chatclient: error: ")


def test_a_missing_or_garbage_cafile_is_one_clear_line(tmp_path):
    garbage = tmp_path / "ca.pem"
    garbage.write_text("this is not a certificate\n")
    for path, why in ((tmp_path / "absent.pem", "no such file or directory"), (garbage, "no PEM certificate in it")):
        proc = _usage("127.0.0.1:5050", "--name", "x", "--cafile", str(path))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines()[-1] == f"chatclient: error: --cafile {path}: {why}"
        assert "Traceback" not in proc.stderr


# --- --send interprets commands as line mode does (issue 11, item 4) ---------------


def _room_lines_before(watcher: NativeClient, marker: str) -> list[dict]:
    """Room messages the watcher gets up to a marker line (which a third party sends)."""
    NativeClient(watcher.sock.getpeername()[1], "marker").say(marker)
    seen = []
    while True:
        f = watcher.expect(lambda f: f["type"] == "message")
        if f["text"] == marker:
            return seen
        seen.append(f)


def test_send_msg_is_private_and_never_reaches_the_room(server):
    alice, watcher = NativeClient(server.port, "alice"), NativeClient(server.port, "watcher")
    proc = send_once(server.address, "/msg alice psst", "--name", "ci")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Private message delivered to alice.\n"
    got = alice.expect(lambda f: f["type"] in ("private", "message"))
    assert (got["type"], got["nick"], got["text"]) == ("private", "ci", "psst")
    assert _room_lines_before(watcher, "end of test") == [], "nothing of it in the room (or its history)"


def test_send_me_is_an_action_and_double_slash_sends_a_slash(server):
    watcher = NativeClient(server.port, "watcher")
    proc = send_once(server.address, "/me deploys", "--name", "ci")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Message delivered (#")
    proc = send_once(server.address, "//etc/motd is out of date", "--name", "ci")
    assert proc.returncode == 0, proc.stderr
    first, second = watcher.messages(2)
    assert (first["text"], first["action"]) == ("deploys", True)
    assert (second["text"], second["action"]) == ("/etc/motd is out of date", False)


@pytest.mark.parametrize("command", ["/who", "/join #dev", "/rooms", "/nick other", "/part", "/quit", "/help", "/away"])
def test_send_of_a_command_that_means_nothing_one_shot_is_a_usage_error(command):
    """Refused before connecting: the address below has no server."""
    proc = send_once("127.0.0.1:9", command, "--name", "ci")
    assert proc.returncode == 2, proc.stderr
    assert "--send" in proc.stderr and "could not connect" not in proc.stderr


def test_send_of_a_malformed_command_is_a_usage_error():
    proc = send_once("127.0.0.1:9", "/msg alice", "--name", "ci")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "chatclient: error: --send: usage: /msg NICK TEXT"


def test_send_msg_to_nobody_fails_clearly(server):
    proc = send_once(server.address, "/msg nobody hello", "--name", "ci")
    assert proc.returncode == 1
    assert proc.stderr == "chatclient: the server refused the message: nobody called 'nobody' is here\n"


def test_send_with_a_taken_name_is_refused_like_line_mode(server):
    holder = NativeClient(server.port, "ci")
    proc = send_once(server.address, "second ci", "--name", "ci")
    assert proc.returncode == 1
    assert "taken" in proc.stderr and "'ci2'" in proc.stderr
    assert _room_lines_before(holder, "end of test") == [], "not posted under another name"


# --- one writer: neither the receiver nor the UI waits on the socket (issue 11, item 15)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "tls"])
def test_a_server_that_takes_nothing_freezes_neither_the_receiver_nor_the_typing(encrypted, tmp_path):
    """The server stops reading (backpressure) while the user keeps typing: the
    typing must not wait for the socket, and the receiver must go on reading
    and answering pings, not queue behind a blocked send (nor, with TLS,
    behind the TLS state a blocked send holds)."""
    tls = server_tls = None
    if encrypted:
        authority = trustme.CA()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(server_tls)
        authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        tls = TlsOptions(cafile=str(tmp_path / "ca.pem"))
    fake = FakeServer(rcvbuf=4096, tls=server_tls)
    session, peer, shown = session_on(fake, tls=tls)
    try:
        typer = threading.Thread(target=lambda: [session.submit(f"{i} " + "x" * 7000) for i in range(1500)])
        typer.start()  # 10 MB: more than the socket buffers on both sides hold
        typer.join(TIMEOUT)
        typing_returned = not typer.is_alive()
        peer.send_msg(m.Ping("are you there"))
        for seq in range(1, 201):
            peer.send_msg(m.ChatMessage(seq=seq, ts=1.0, room="#lobby", nick="talker", text=f"news {seq}"))
        news = lambda: [msg.text for msg in shown if isinstance(msg, m.ChatMessage)]  # noqa: E731
        assert wait_for(lambda: len(news()) == 200), f"the receiver stopped after {len(news())} messages"
        assert typing_returned, "typing waited on a server that does not read"
    finally:
        session.leave(timeout=0)
        fake.close()


# --- history already on screen is not shown again (issue 11, item 19) ------------------


def test_coming_back_to_a_room_shows_only_the_history_not_yet_seen(server):
    talker = NativeClient(server.port, "talker")
    proc = client_process(server.address, "--name", "walker")
    shown: list[str] = []  # everything the client printed, for the failure's message

    def until(wanted: str) -> list[str]:
        lines = read_until(proc, lambda line: line.startswith(wanted))
        shown.extend(lines)
        return lines

    def said(text: str) -> dict:
        """``text`` said by the talker, and its own ack (not an earlier one still unread)."""
        talker.say(text)
        return talker.expect(lambda f: f["type"] == "accepted")

    try:
        until("Connected to the server.")
        talker.expect(lambda f: f.get("event") == "join")
        acks = [said(f"seen {i}") for i in range(3)]
        assert until("talker: seen 2")[-3:] == [f"talker: seen {i}" for i in range(3)], shown
        proc.stdin.write("/join #dev\n")
        proc.stdin.flush()
        until("* you are in #dev")
        ack = said("said while you were in #dev")
        assert ack["seq"] == acks[-1]["seq"] + 1, (ack, acks)
        # Accepted, so it is in the walker's outbox, or queued before anything the /part is answered with.
        proc.stdin.write("/part\n")
        proc.stdin.flush()
        mark = len(shown)
        until("* you left")
        said("after")
        until("talker: after")
        # In two rooms, the lobby's line was shown as it came, naming its room;
        # leaving #dev (the lobby was kept) replays nothing.
        assert shown[mark:] == [
            "[#lobby] talker: said while you were in #dev",
            "* you left #dev; your messages go to #lobby",
            "talker: after",
        ], shown
        proc.stdin.write("/history 2\n")  # asked for: shown, seen or not
        proc.stdin.flush()
        asked = until("* end of history")
        assert asked[-3:-1] == ["(history) talker: said while you were in #dev", "(history) talker: after"], shown
    finally:
        proc.stdin.close()
        proc.wait(TIMEOUT)


# --- a kick, a password: said once, and said plainly (issue 11, item 19) ------------


@pytest.fixture
def guarded_server(tmp_path, make_server):
    """A server with a password (no TLS) and an operator, alice."""
    (tmp_path / "pw").write_text("open sesame\n")
    (tmp_path / "oppw").write_text("op secret\n")
    srv = make_server(
        "--password-file", str(tmp_path / "pw"), "--op", "alice", "--op-password-file", str(tmp_path / "oppw")
    )
    srv.files = tmp_path
    return srv


def _operator(srv: ServerProcess) -> NativeClient:
    alice = NativeClient(srv.port)
    alice.send_json({"type": "hello", "version": 1, "nick": "alice", "password": "op secret"})
    alice.expect(lambda f: f["type"] == "welcome")
    return alice


def test_a_kick_says_its_reason_once(guarded_server):
    alice = _operator(guarded_server)
    bob = client_process(guarded_server.address, "--password-file", str(guarded_server.files / "pw"), "--name", "bob")
    assert bob.stdout.readline() == "Connected to the server.\n"
    alice.expect(lambda f: f.get("event") == "join")
    alice.send_json({"type": "kick", "nick": "bob", "reason": "spamming"})
    out, err = bob.stdout.read(), bob.stderr.read()  # to the end: bob's client exits (its input stays open)
    assert bob.wait(TIMEOUT) == 1
    assert (out + err).count("spamming") == 1, (out, err)
    assert err.splitlines()[-1] == "chatclient: you were kicked by alice: spamming"
    assert "Chat ended." not in out


def test_a_password_without_tls_is_said_to_travel_in_clear(guarded_server, tmp_path):
    pw = str(guarded_server.files / "pw")
    sent = run_client(guarded_server.address, "--password-file", pw, "--name", "bob", input="")
    assert sent.returncode == 0, sent.stderr
    warning = "chatclient: warning: no --tls: the password goes to the server unencrypted, readable on the network"
    assert warning in sent.stderr.splitlines()
    env = python_env()
    env["TERM"] = "xterm"
    asked = Terminal([*program("chatclient"), guarded_server.address, "--name", "dave"], env=env)
    asked.wait_text("Password:")
    assert "the password goes to the server unencrypted" in asked.text, "said before the password is typed"
    asked.send("open sesame\r")
    asked.wait_text("dave>")
    asked.send("/quit\r")
    assert asked.wait_exit() == 0


def test_a_wrong_password_on_a_terminal_is_asked_again(guarded_server):
    """Issue 19, item 16: not "start again"; without a terminal, one clear line."""
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), guarded_server.address, "--name", "dave"], env=env)
    term.wait_text("Password:")
    term.send("not it\r")
    term.wait_text("wrong password; try again")
    term.wait_for(lambda t: t.text.count("Password:") == 2, what="asked again")
    term.send("open sesame\r")
    term.wait_text("dave>")
    assert "not it" not in term.text and "open sesame" not in term.text, "no echo"
    term.send("/quit\r")
    assert term.wait_exit() == 0
    (guarded_server.files / "wrong").write_text("not it\n")
    piped = run_client(guarded_server.address, "--password-file", str(guarded_server.files / "wrong"), input="")
    assert piped.returncode == 1
    assert piped.stderr.splitlines()[-1] == "chatclient: the server refused us: wrong password"


def test_a_server_back_wanting_an_operators_password_asks_for_it_on_a_terminal(tmp_path):
    """Issue 19, item 16: restarted with --op for our name, the reconnect asks (no echo), keeping the half line."""
    first = ServerProcess()
    port = first.port
    env = python_env()
    env["TERM"] = "xterm"
    term = Terminal([*program("chatclient"), first.address, "--name", "alice"], env=env)
    second = None
    try:
        term.wait_text("alice>")
        term.send("half typed")
        term.wait_for(lambda t: t.cursor_line() == "alice> half typed", what="the half line")
        first.stop()
        term.wait_text("reconnecting")
        (tmp_path / "oppw").write_text("op secret\n")
        second = ServerProcess("--port", str(port), "--op", "alice", "--op-password-file", str(tmp_path / "oppw"))
        term.wait_text("needs an operator's password")
        term.wait_for(lambda t: t.cursor_line().startswith("Password:"), what="the password prompt")
        term.send("op secret\r")
        term.wait_text("reconnected as alice")
        term.wait_for(lambda t: t.cursor_line() == "alice> half typed", what="the half line back")
        assert "op secret" not in term.text, "no echo"
        watcher = NativeClient(port, "watcher")
        term.send("\x15/who\r")
        term.wait_text("2 in #lobby")
        assert "alice" in ask_who(watcher)["nicks"]
        term.send("/quit\r")
        assert term.wait_exit() == 0
    finally:
        term.child.terminate(force=True)
        if second is not None:
            second.stop()


def test_a_password_over_tls_brings_no_warning(tmp_path):
    (tmp_path / "pw").write_text("open sesame\n")
    srv = ServerProcess("--tls", "--password-file", str(tmp_path / "pw"))
    try:
        sent = run_client(srv.address, "--tls", "--password-file", str(tmp_path / "pw"), "--name", "bob", input="")
        assert sent.returncode == 0, sent.stderr
        assert "unencrypted" not in sent.stderr
    finally:
        srv.stop()


# --- /topic alone shows the topic (issue 11, item 19) ---------------------------------


def test_topic_without_text_asks_for_the_topic():
    from common.commands import HELP_LINES, parse_input

    assert parse_input("/topic") == m.SetTopic("")
    assert parse_input("/topic   ") == m.SetTopic("")
    assert parse_input("/topic ship it") == m.SetTopic("ship it")
    assert any(line.split()[:2] == ["/topic", "[TEXT]"] for line in HELP_LINES)


def test_topic_without_text_shows_the_topic_and_keeps_it(server):
    """Against the server (its side: an empty topic frame is a question)."""
    setter = NativeClient(server.port, "setter")
    setter.send_json({"type": "topic", "text": "release friday"})
    setter.expect(lambda f: f.get("event") == "topic")
    proc = client_process(server.address, "--name", "asker")
    try:
        assert proc.stdout.readline() == "Connected to the server.\n"
        proc.stdin.write("/topic\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        while "topic" not in line:
            line = proc.stdout.readline()
        assert "release friday" in line, line
        assert NativeClient(server.port, "late").welcome["topic"] == "release friday", "unchanged"
    finally:
        proc.stdin.close()
        proc.wait(TIMEOUT)


def test_pointed_at_the_chat_pages_port_it_says_so():
    """Issue 19, item 18: the web port answers our hello in HTTP; not "closed the connection".
    (The page answers a head that never ends when its head deadline passes: the login
    timeout, 1 s here rather than the 10 s the test would otherwise sit through.)"""
    server = ServerProcess("--rate-limit", "0", "--login-timeout", "1")
    try:
        done = run_client(f"127.0.0.1:{server.web_port}", "--name", "lost", input="")
        assert done.returncode == 1
        assert done.stderr == (
            f"chatclient: 127.0.0.1:{server.web_port} is a web server (the chat page's port? open "
            f"http://127.0.0.1:{server.web_port}/ in a browser), not the chat port: chatclient needs the port "
            "chatserver says it is listening on (5050 unless it was started with --port)\n"
        )
    finally:
        server.stop()
