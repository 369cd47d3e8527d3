"""The terminal client's pieces: completion, local commands, config, and the
whole UI in a pseudo-terminal (toolbar, mentions, paste, history)."""

from __future__ import annotations

import asyncio
import signal
import termios
import time
from types import SimpleNamespace

import pytest
from helpers import NativeClient, ServerProcess, program, python_env, wait_for
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from terminal import Terminal

from chatclient.completion import ChatCompleter
from chatclient.config import ConfigError, load
from chatclient.connection import ChatConnection
from chatclient.local import Preferences, handle_local
from chatclient.session import ChatSession
from chatclient.toolbar import Facts, completer_for, toolbar
from common import messages as m


def complete(text: str, nicks=("alice", "Albert", "bob"), rooms=("#dev", "#lobby")) -> str:
    """Type ``text`` and press Tab in a real prompt (pipe input, dummy output);
    returns the line once the completion settled and Enter was pressed."""

    async def run() -> str:
        with create_pipe_input() as pipe:
            session: PromptSession[str] = PromptSession(
                completer=ChatCompleter(lambda: nicks, lambda: rooms),
                complete_while_typing=False,
                input=pipe,
                output=DummyOutput(),
            )
            task = asyncio.ensure_future(session.prompt_async())
            pipe.send_text(text + "\t")
            deadline = time.monotonic() + 5
            # Completion runs in the background: wait until the buffer stops changing.
            last, stable = None, 0
            while stable < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                now = session.default_buffer.text
                stable = stable + 1 if now == last else 0
                last = now
            pipe.send_text("\r")
            return await asyncio.wait_for(task, 5)

    return asyncio.run(run())


@pytest.mark.parametrize(
    "typed, result",
    [
        ("/jo", "/join "),
        ("/join #d", "/join #dev"),
        ("/msg b", "/msg bob"),
        ("/kick ali", "/kick alice"),
        ("/kick al", "/kick al"),  # alice or Albert: a menu, nothing inserted
        ("bo", "bob: "),  # addressing someone at the start of a line
        ("hello b", "hello bob"),
        ("/qu", "/quit "),
        ("zz", "zz"),
    ],
)
def test_tab_completion(typed, result):
    assert complete(typed) == result


def test_completion_follows_live_state():
    users = ["carol"]
    completer = ChatCompleter(lambda: users, lambda: [])
    users.append("dave")  # someone joined after the completer was made
    found = list(completer.get_completions(Document("da"), CompleteEvent(completion_requested=True)))
    assert [c.text for c in found] == ["dave: "]


def test_msg_completes_correspondents_in_other_rooms(server):
    """A private message crosses rooms, so /msg also completes whoever wrote
    to us privately, though they are not in our room."""
    conn = ChatConnection.connect("127.0.0.1", server.port)
    session = ChatSession(conn, conn.hello("alice"), reconnect=False)
    session.start()
    try:
        bob = NativeClient(server.port, "bob")
        bob.send_json({"type": "join", "room": "#elsewhere"})
        bob.expect(lambda f: f["type"] == "joined")
        bob.send_json({"type": "part", "room": "#lobby"})
        bob.expect(lambda f: f["type"] == "parted")
        bob.send_json({"type": "privmsg", "to": "alice", "text": "psst"})
        assert wait_for(lambda: "bob" in session.correspondents)
        assert wait_for(lambda: "bob" not in session.users)
        completer = completer_for(session)

        def tab(text: str) -> list[str]:
            return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]

        assert tab("/msg b") == ["bob"]
        assert tab("b") == [], "addressing at the start of a line is for people in the room"
        bob.send_json({"type": "nick", "nick": "robert"})
        bob.expect(lambda f: f["type"] == "notice" and f.get("event") == "nick")
        bob.send_json({"type": "privmsg", "to": "alice", "text": "it is me"})
        assert wait_for(lambda: "robert" in session.correspondents)
        assert tab("/msg r") == ["robert"]
    finally:
        session.leave()


def test_local_commands_ignore_and_bell():
    prefs = Preferences()
    msg = m.ChatMessage(seq=1, ts=1.0, room="#lobby", nick="Spammer", text="buy now")
    assert handle_local("/ignore spammer", prefs).startswith("ignoring spammer")
    assert prefs.hides(msg) and not prefs.hides(m.Notice(text="x", ts=1.0))
    assert handle_local("/unignore SPAMMER", prefs) == "no longer ignoring SPAMMER"
    assert not prefs.hides(msg)
    assert prefs.rings_for(msg, mentioned=True) and not prefs.rings_for(msg, mentioned=False)
    assert handle_local("/bell off", prefs) == "bell: off" and not prefs.rings_for(msg, mentioned=True)
    assert handle_local("/bell loud", prefs).startswith("usage: /bell on|mentions|off")
    assert handle_local("/who", prefs) is None, "server commands are not local"
    history = m.ChatMessage(seq=1, ts=1.0, room="#lobby", nick="x", text="old", replay="history")
    prefs.bell = "on"
    assert not prefs.rings_for(history, mentioned=True), "history is not news"


def test_config_file(tmp_path):
    path = tmp_path / "config.toml"
    assert load(path).bell == "mentions", "defaults without a file"
    path.write_text('name = "zoe"\nserver = "10.0.0.5:6000"\nbell = "off"\ntimestamps = false\nignore = ["troll"]\n')
    cfg = load(path)
    assert (cfg.name, cfg.server, cfg.bell, cfg.timestamps, cfg.ignore) == (
        "zoe",
        "10.0.0.5:6000",
        "off",
        False,
        ["troll"],
    )
    for bad, why in (
        ("colour = true\n", "unknown setting 'colour'"),
        ('bell = "sometimes"\n', "bell must be one of"),
        ("paste_confirm = true\n", "paste_confirm must be a whole number, not true"),
        ("name = 5\n", "name must be a string, not 5"),
        ('tls = "yes"\n', "tls must be true or false, not 'yes'"),
        ("name = \n", "config.toml"),
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=why):
            load(path)


# --- in a pseudo-terminal ---------------------------------------------------------


def _env(tmp_path) -> dict[str, str]:
    env = python_env()
    env.update(TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return env


def test_toolbar_and_mention_highlight_and_bell(server, tmp_path):
    term = Terminal([*program("chatclient"), server.address, "--name", "viewer"], env=_env(tmp_path))
    term.wait_text("viewer>")
    term.wait_for(lambda t: "#lobby (1)" in t.lines[-1] and "connected to" in t.lines[-1], what="toolbar")
    bob = NativeClient(server.port, "bob")
    term.wait_for(lambda t: "#lobby (2)" in t.lines[-1], what="toolbar head count")
    before = len(term.raw)
    bob.say("hey viewer, look")
    term.wait_text("bob: hey viewer, look")
    assert b"\x07" in term.raw[before:], "a mention rings the bell"
    row = next(i for i, line in enumerate(term.lines) if "hey viewer" in line)
    col = term.lines[row].index("viewer")
    cell = term.screen.buffer[row][col]
    assert cell.reverse or cell.bold, "our name stands out"
    before = len(term.raw)
    bob.say("no mention here")
    term.wait_text("bob: no mention here")
    assert b"\x07" not in term.raw[before:]
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_pasted_lines_go_as_one_message_after_confirmation(server, tmp_path):
    term = Terminal([*program("chatclient"), server.address, "--name", "paster"], env=_env(tmp_path))
    term.wait_text("paster>")
    bob = NativeClient(server.port, "bob")
    lines = [f"row {i}" for i in range(7)]
    term.send("\x1b[200~" + "\n".join(lines) + "\x1b[201~")
    term.send("\r")
    term.wait_text("Send 7 pasted lines as one message? [y/N]")
    term.send("y\r")
    msg = bob.messages(1)[0]
    assert msg["text"] == "\n".join(lines)
    short = ["one", "two"]
    term.send("\x1b[200~" + "\n".join(short) + "\x1b[201~\r")  # at or under the threshold: no question
    assert bob.messages(1)[0]["text"] == "one\ntwo"
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_input_history_survives_a_restart(server, tmp_path):
    env = _env(tmp_path)
    term = Terminal([*program("chatclient"), server.address, "--name", "rememberer"], env=env)
    term.wait_text("rememberer>")
    term.send("a line worth keeping\r")
    term.wait_text("You: a line worth keeping")
    term.send("/quit\r")
    assert term.wait_exit() == 0
    assert (tmp_path / "state" / "chatclient" / "history").exists()
    again = Terminal([*program("chatclient"), server.address, "--name", "rememberer"], env=env)
    again.wait_text("rememberer>")
    again.send("\x1b[A\x1b[A")  # Up, Up: past "/quit" to the line before it
    again.wait_for(lambda t: t.cursor_line() == "rememberer> a line worth keeping", what="recalled line")
    again.send("\x15/quit\r")
    assert again.wait_exit() == 0


def test_ignore_hides_a_nick_in_the_terminal(server, tmp_path):
    term = Terminal([*program("chatclient"), server.address, "--name", "calm"], env=_env(tmp_path))
    term.wait_text("calm>")
    troll, friend = NativeClient(server.port, "troll"), NativeClient(server.port, "friend")
    term.send("/ignore troll\r")
    term.wait_text("ignoring troll")
    troll.say("noise")
    friend.say("signal")
    term.wait_text("friend: signal")
    assert "noise" not in term.text
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_toolbar_shows_no_stale_head_count_while_reconnecting():
    state = SimpleNamespace(users=["a", "b", "c"], room="#lobby", status="connected to h:1", connected=True)
    session = Facts(  # what the toolbar is given: callables, asked as it is drawn
        server=lambda: "",
        room=lambda: state.room,
        users=lambda: state.users,
        connected=lambda: state.connected,
        status=lambda: state.status,
        cluster_down=lambda: False,
        encrypted=lambda: False,
        hotlist=lambda: "",
        rooms=set,
        correspondents=set,
    )
    assert "#lobby (3)" in toolbar(session)
    state.connected, state.status = False, "disconnected: connection lost"
    bar = toolbar(session)
    assert "#lobby" in bar and "(3)" not in bar and "disconnected" in bar


def test_a_paste_ending_in_a_newline_is_counted_and_sent_without_a_blank_last_line(server, tmp_path):
    """Five lines and the newline after the last (as copied from an editor):
    five lines, under the question's threshold, sent without a blank line."""
    term = Terminal([*program("chatclient"), server.address, "--name", "paster"], env=_env(tmp_path))
    term.wait_text("paster>")
    bob = NativeClient(server.port, "bob")
    lines = [f"row {i}" for i in range(5)]
    term.send("\x1b[200~" + "\n".join(lines) + "\n\n\x1b[201~\r")
    assert bob.messages(1)[0]["text"] == "\n".join(lines)
    assert "pasted lines" not in term.text
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_trailing_newlines_are_not_part_of_a_message():
    from chatclient.typed import parse_line

    assert parse_line("one\ntwo\n\n") == m.Say("one\ntwo")
    assert parse_line("just one\n") == m.Say("just one")
    assert parse_line("/me waves\n") == m.Action("waves")
    assert parse_line("\n\n") is None


# --- what the new-user trial found (issue 19, items 12-17) ------------------------------


def _tty(server, tmp_path, name: str = "viewer", *extra: str) -> Terminal:
    term = Terminal([*program("chatclient"), server.address, "--name", name, *extra], env=_env(tmp_path), rows=30)
    term.wait_text(f"{name}>")
    return term


def test_a_line_said_to_another_room_names_that_room(server, tmp_path):
    term = _tty(server, tmp_path)
    bob = NativeClient(server.port, "bob")
    term.send("/join #dev\r")
    term.wait_for(lambda t: "#dev (1)" in t.lines[-1], what="focused on #dev")
    term.send("/say #lobby over there\r")
    got = bob.messages(1)[0]
    assert (got["room"], got["text"]) == ("#lobby", "over there")
    term.wait_text("[#lobby] You: over there")
    term.send("/say #dev right here\r")
    term.wait_text("You: right here")
    assert "[#dev] You" not in term.text, "the room on screen needs no name"
    term.send("/quit\r")
    assert term.wait_exit() == 0


def test_a_line_refused_while_muted_is_marked_not_sent(tmp_path):
    (tmp_path / "oppw").write_text("op secret\n")
    srv = ServerProcess("--op", "alice", "--op-password-file", str(tmp_path / "oppw"))
    try:
        alice = NativeClient(srv.port)
        alice.send_json({"type": "hello", "version": 1, "nick": "alice", "password": "op secret"})
        alice.expect(lambda f: f["type"] == "welcome")
        term = _tty(srv, tmp_path, "spammer")
        alice.send_json({"type": "mute", "nick": "spammer", "duration": 3600, "reason": "flooding"})
        term.wait_text("you were muted by alice")
        term.send("more spam\r")
        term.wait_text('not sent: "more spam" (you are muted by alice (flooding)')
        assert term.text.index("You: more spam") < term.text.index('not sent: "more spam"')
        assert "error: you are muted" not in term.text, "one line says it all"
        term.send("/quit\r")
        assert term.wait_exit() == 0, "its fate was told: not counted again as left unsent"
    finally:
        srv.stop()


def test_keys_typed_between_two_prompts_are_not_echoed_by_the_terminal(tmp_path):
    """Issue 19, item 17: a line typed right after /window was printed raw (the terminal's own
    echo, back in cooked mode between two prompts), then again when sent. Between prompts the
    terminal stays raw. Made visible here with a server that does not answer /quit at once:
    the client waits for its goodbye with no prompt up."""
    srv = ServerProcess()
    term = _tty(srv, tmp_path, "leaver")
    try:
        term.wait_for(lambda t: "connected to" in t.lines[-1], what="the toolbar")
        srv.proc.send_signal(signal.SIGSTOP)
        term.send("/quit\r")
        term.wait_for(lambda t: "connected to" not in t.text, what="the prompt and toolbar gone")
        assert not termios.tcgetattr(term.child.child_fd)[3] & termios.ECHO, "the terminal echoes keys"
        term.send("typed while leaving")
        srv.proc.send_signal(signal.SIGCONT)
        assert term.wait_exit() == 0
        assert b"typed while leaving" not in term.raw
    finally:
        srv.proc.send_signal(signal.SIGCONT)
        srv.stop()
