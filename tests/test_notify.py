"""Mentions and notifications: what counts as a mention, which messages notify,
the rate limit (injected clock and timer), and the real thing in a terminal:
``notify-send`` (a script on PATH that records its arguments) or the OSC escape."""

from __future__ import annotations

import os
import stat
import sys

import pytest
from helpers import NativeClient, program, python_env
from terminal import Terminal

from chatclient.config import ConfigError, load
from chatclient.notify import Notifier, osc_flavour
from chatclient.render import Renderer
from common import messages as m


def said(text: str, nick: str = "bob", room: str = "#lobby", replay: str | None = None) -> m.ChatMessage:
    return m.ChatMessage(seq=1, ts=0.0, room=room, nick=nick, text=text, replay=replay)


def test_a_mention_is_our_name_or_a_highlight_word_as_a_word_in_any_case():
    r = Renderer(color=False, me=lambda: "viewer", highlight=("deploy", " "))
    assert r.mentions_me(said("hey VIEWER, look"))
    assert r.mentions_me(said("viewer"))
    assert not r.mentions_me(said("viewers and reviewer"))
    assert r.mentions_me(said("Deploy is done"))
    assert not r.mentions_me(said("redeployed"))
    assert not r.mentions_me(said("viewer", nick="viewer")), "our own line is not a mention"
    assert r.mentions_me(m.Private(ts=0.0, nick="bob", to="viewer", text="deploy?"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now

    def schedule(self, delay: float, action) -> None:
        self.timers.append((self.now + delay, action))

    def advance(self, to: float) -> None:
        self.now = to
        due = [t for t in self.timers if t[0] <= to]
        self.timers = [t for t in self.timers if t[0] > to]
        for _, action in due:
            action()


def notifier(mode: str = "mentions", osc: str = "777") -> tuple[Notifier, list[str], Clock]:
    written: list[str] = []
    clock = Clock()
    n = Notifier(mode, write=written.append, interval=10, osc=osc, clock=clock, schedule=clock.schedule)
    return n, written, clock


def test_a_burst_makes_one_notification_that_says_how_many():
    n, written, clock = notifier()
    assert n.message(said("viewer: one"), True, "viewer")
    assert written == ["\x1b]777;notify;bob (#lobby);viewer: one\x1b\\"]
    for t, text in ((1, "viewer: two"), (2, "viewer: three"), (3, "viewer: four")):
        clock.advance(t)
        n.message(said(text), True, "viewer")
    assert len(written) == 1, "nothing more within the interval"
    clock.advance(9.9)
    assert len(written) == 1
    clock.advance(10)
    assert written[1] == "\x1b]777;notify;3 mentions or messages;3 new, the last: bob (#lobby): viewer: four\x1b\\"
    clock.advance(19)
    n.message(said("viewer: five"), True, "viewer")  # within the interval the summary began
    assert len(written) == 2
    clock.advance(20)
    assert written[2] == "\x1b]777;notify;bob (#lobby);viewer: five\x1b\\", "one held back: itself"
    clock.advance(31)
    n.message(said("viewer: six"), True, "viewer")
    assert written[3].endswith(";viewer: six\x1b\\"), "after a quiet interval: at once"


def test_which_messages_notify_by_mode():
    n, written, _ = notifier("mentions")
    assert not n.message(said("no mention"), False, "viewer")
    assert n.message(m.Private(ts=0.0, nick="bob", to="viewer", text="psst"), False, "viewer")
    assert not n.message(m.Private(ts=0.0, nick="viewer", to="bob", text="mine"), False, "viewer")
    assert not n.message(said("viewer: old", replay="missed"), True, "viewer"), "a replay is not news"
    assert not n.message(said("viewer?"), True, "viewer", watched=True), "on screen and typing"
    assert not n.message(m.Notice(text="viewer joined", ts=0.0), True, "viewer")
    everything, _, _ = notifier("all")
    assert everything.message(said("no mention"), False, "viewer")
    off, written_off, _ = notifier("off")
    assert not off.message(m.Private(ts=0.0, nick="bob", to="viewer", text="psst"), True, "viewer")
    assert written_off == []


def test_the_escape_carries_no_control_characters_and_osc_9_where_the_terminal_speaks_it():
    n, written, _ = notifier(osc="9")
    n.message(said("viewer \x1b]0;pwned\x07 a;b\nc", nick="ev\x1bil"), True, "viewer")
    (escape,) = written
    assert escape.startswith("\x1b]9;") and escape.endswith("\x1b\\")
    inner = escape[len("\x1b]9;") : -2]
    assert "\x1b" not in inner and "\x07" not in inner and "\n" not in inner
    assert osc_flavour({"TERM_PROGRAM": "iTerm.app"}) == "9"
    assert osc_flavour({"WT_SESSION": "1"}) == "9"
    assert osc_flavour({"TERM": "xterm"}) == "777"


def test_config_settings_for_mentions_and_notifications(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('highlight = ["deploy", "lunch"]\nnotify = "all"\nnotify_interval = 3\n')
    config = load(path)
    assert (config.highlight, config.notify, config.notify_interval) == (["deploy", "lunch"], "all", 3)
    assert load(tmp_path / "none.toml").notify == "mentions", "the default on a terminal"
    for bad, why in (
        ('notify = "loud"', "notify must be one of mentions, all, off"),
        ("highlight = [1]", "highlight must be a list of words"),
        ("notify_interval = -1", "notify_interval must be 0 or more"),
    ):
        path.write_text(bad + "\n")
        with pytest.raises(ConfigError, match=why):
            load(path)


# --- in a real terminal --------------------------------------------------------------------------


@pytest.fixture
def recorder(tmp_path):
    """A ``notify-send`` on PATH that appends its arguments, one call per line, to a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "notified"
    script = bin_dir / "notify-send"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nwith open({str(log)!r}, 'a') as f:\n    f.write(repr(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log.touch()
    return bin_dir, log


def _terminal(server, tmp_path, *, path: str, config: str = "") -> Terminal:
    env = python_env()
    env.update(TERM="xterm", XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    env["PATH"] = path
    (tmp_path / "config" / "chatclient").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "chatclient" / "config.toml").write_text(config)
    term = Terminal([*program("chatclient"), server.address, "--name", "viewer"], env=env, rows=30)
    term.wait_text("viewer>")
    return term


def calls(log) -> list[list[str]]:
    import ast

    return [ast.literal_eval(line) for line in log.read_text().splitlines()]


def test_notify_send_is_run_for_a_mention_and_a_private_message_and_a_burst_is_summed_up(server, tmp_path, recorder):
    bin_dir, log = recorder
    term = _terminal(server, tmp_path, path=f"{bin_dir}{os.pathsep}/usr/bin:/bin", config="notify_interval = 2\n")
    try:
        bob = NativeClient(server.port, "bob")
        bob.say("nothing for you")
        bob.say("hey viewer, look")
        term.wait_text("bob: hey viewer, look")
        term.wait_for(lambda t: calls(log), what="notify-send called")
        assert calls(log) == [["--app-name=chatclient", "bob (#lobby)", "hey viewer, look"]]
        for i in range(3):
            bob.say(f"viewer {i}")
        term.wait_text("bob: viewer 2")
        term.wait_for(lambda t: len(calls(log)) >= 2, what="the burst's notification", timeout=15)
        assert calls(log)[1] == [
            "--app-name=chatclient",
            "3 mentions or messages",
            "3 new, the last: bob (#lobby): viewer 2",
        ]
        bob.send_json({"type": "privmsg", "to": "viewer", "text": "psst"})
        term.wait_for(lambda t: len(calls(log)) >= 3, what="the private message's notification", timeout=15)
        assert calls(log)[2] == ["--app-name=chatclient", "bob (private)", "psst"]
        assert b"\x1b]777" not in term.raw and b"\x1b]9;" not in term.raw, "never both"
        term.send("/quit\r")
        assert term.wait_exit() == 0
    finally:
        term.child.terminate(force=True)


def test_without_notify_send_the_terminal_escape_and_not_while_typing_in_that_room(server, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    term = _terminal(server, tmp_path, path=str(empty), config='highlight = ["deploy"]\nnotify_interval = 0\n')
    try:
        bob = NativeClient(server.port, "bob")
        bob.say("the deploy is done")
        term.wait_text("bob: the deploy is done")
        term.wait_for(lambda t: b"\x1b]777;notify;bob (#lobby);the deploy is done\x1b\\" in t.raw, what="OSC 777")
        term.send("half typed")  # typing, the lobby on screen: a mention here does not notify
        term.wait_text("viewer> half typed")
        before = len(term.raw)
        bob.say("viewer, are you there?")
        term.wait_text("bob: viewer, are you there?")
        bob.send_json({"type": "privmsg", "to": "viewer", "text": "but this does"})
        term.wait_text("(private) bob: but this does")
        term.wait_for(lambda t: b"\x1b]777;notify;bob (private);but this does" in t.raw[before:], what="private")
        assert (
            b"are you there" not in term.raw[before:].split(b"\x1b]777")[-1]
            and term.raw[before:].count(b"\x1b]777") == 1
        ), "the mention while typing made no notification"
        term.send("\x15/quit\r")
        assert term.wait_exit() == 0
    finally:
        term.child.terminate(force=True)


def test_a_kept_line_rings_when_it_comes_not_again_when_its_room_is_looked_at():
    """A mention in a room not on screen rings (and notifies) once, as it arrives."""
    from chatclient.windows import Windows

    welcome = m.Welcome(version=1, server="s", nick="alice", room="#lobby", users=["alice"])
    windows = Windows(welcome)
    windows.hide_unfocused = True
    windows.mentions = lambda msg: "alice" in getattr(msg, "text", "")
    windows.entered(m.Joined(room="#dev", topic="", users=["alice", "bob"]))
    windows.focus("#lobby", lambda msg: None)
    rang, shown, kept = [], [], []
    windows.on_hidden = lambda msg, mentioned: rang.append(mentioned)
    windows.show_kept = kept.append
    mention = m.ChatMessage(seq=1, ts=1.0, room="#dev", nick="bob", text="alice: look")
    assert windows.route(mention, shown.append)[0], "kept: #dev is not on screen"
    assert rang == [True] and shown == []
    windows.focus("#dev", shown.append)
    assert kept == [mention], "shown once more, without its bell"
    assert rang == [True] and [getattr(x, "event", None) for x in shown] == ["unseen"]
