"""The terminal client in a real pseudo-terminal: a Ctrl-C pressed before the prompt is drawn,
passwords asked with nothing echoed and kept out of the input history."""

from __future__ import annotations

import signal
import termios
import time

import pexpect
from helpers import NativeClient, client_env, program
from terminal import Terminal


def _stop_when_shown(term: Terminal, needle: bytes, timeout: float = 10.0) -> None:
    """Read the client's output byte by byte as it comes and freeze the client (SIGSTOP) the moment
    ``needle`` is out: it is then in the instant after saying it, before what comes next."""
    deadline = time.monotonic() + timeout
    while needle not in term.raw:
        if time.monotonic() > deadline:
            raise AssertionError(f"never printed {needle!r}: {term.raw!r}")
        try:
            data = term.child.read_nonblocking(65536, timeout=0.01)
        except pexpect.TIMEOUT:
            continue
        term.raw += data
        term._unfed.append(data)
        if needle in term.raw:
            term.child.kill(signal.SIGSTOP)


def test_ctrl_c_pressed_before_the_prompt_is_drawn_quits_politely(server, tmp_path):
    """A Ctrl-C in the instant between "Connected" and the prompt: the terminal was still cooked
    then, the kernel made it a SIGINT, asyncio's handler cancelled a task that went on, and the
    key was lost. Now the terminal is raw before "Connected" is said: the key waits for the prompt,
    which quits as Ctrl-C on an empty line does, leaving the room politely."""
    watcher = NativeClient(server.port, "watcher")
    term = Terminal([*program("chatclient"), server.address, "--name", "hasty"], env=client_env(tmp_path))
    try:
        _stop_when_shown(term, b"Connected to the server.")
        lflag = termios.tcgetattr(term.child.child_fd)[3]
        assert not lflag & termios.ISIG, "Ctrl-C would be a signal: the terminal is not raw yet"
        assert b"hasty>" not in term.raw  # (the instant before the prompt)
        term.send("\x03")
    finally:
        term.child.kill(signal.SIGCONT)
    assert term.wait_exit() == 130
    assert "Chat ended." in term.text
    watcher.expect(lambda f: f["type"] == "notice" and f.get("text") == "hasty joined #lobby")
    left = watcher.expect(lambda f: f["type"] == "notice" and "hasty" in f.get("text", ""))
    assert left["event"] == "leave", left


def test_sigint_from_outside_leaves_as_quit_does(server, tmp_path):
    """SIGINT sent by another program (kill -INT) once the UI runs: left as SIGTERM leaves."""
    watcher = NativeClient(server.port, "watcher")
    term = Terminal([*program("chatclient"), server.address, "--name", "killed"], env=client_env(tmp_path))
    term.wait_text("killed>")
    watcher.expect(lambda f: f["type"] == "notice" and "killed joined" in f.get("text", ""))
    term.child.kill(signal.SIGINT)
    assert term.wait_exit() == 130
    assert "Chat ended." in term.text
    left = watcher.expect(lambda f: f["type"] == "notice" and "killed" in f.get("text", ""))
    assert left["event"] == "leave", left
