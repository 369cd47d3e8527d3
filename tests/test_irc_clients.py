"""Real IRC clients (weechat-headless, irssi) on the IRC port with a terminal-protocol user: both ways, two
channels, history replayed. Skipped with how to install when missing; with ``CI`` set they fail instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pexpect
import pytest
from helpers import NativeClient, ServerProcess, wait_for


def require(program: str, package: str) -> str:
    found = shutil.which(program)
    if found is None:
        message = f"{program} is not installed (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(f"real IRC client tests cannot run in CI: {message}")
        pytest.skip(message)
    return found


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0")
    yield server
    server.stop()


def joined_room(port: int, nick: str, room: str) -> NativeClient:
    native = NativeClient(port, nick)
    native.send_json({"type": "join", "room": room})
    native.expect(lambda f: f["type"] == "joined")
    return native


def said_by(native: NativeClient, nick: str, text: str) -> dict:
    return native.expect(lambda f: f["type"] == "message" and f["nick"] == nick and f["text"] == text)


def test_weechat_talks_with_a_terminal_user_in_two_channels(srv, tmp_path):
    weechat = require("weechat-headless", "weechat-headless")
    native = joined_room(srv.port, "termy", "#wee")
    native.send_json({"type": "join", "room": "#wee2"})
    native.expect(lambda f: f["type"] == "joined")
    native.send_json({"type": "say", "text": "said before weechat came", "room": "#wee"})
    native.expect(lambda f: f["type"] == "accepted")
    home = tmp_path / "weechat"
    commands = ";".join(
        [
            "/set logger.file.auto_log on",
            "/set logger.file.flush_delay 0",
            "/set fifo.file.enabled on",
            f"/set fifo.file.path {home}/fifo",
            f"/server add lan 127.0.0.1/{srv.irc_port} -notls -nicks=weechy",
            "/set irc.server.lan.autojoin #wee,#wee2",
            "/set irc.server.lan.capabilities *",
            "/connect lan",
        ]
    )
    proc = subprocess.Popen(
        [weechat, "--dir", str(home), "-r", commands],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        for room in ("#wee", "#wee2"):
            native.expect(lambda f, r=room: f.get("event") == "join" and f.get("nick") == "weechy" and f["room"] == r)
        log = home / "logs" / "irc.lan.#wee.weechatlog"
        native.send_json({"type": "say", "text": "hello weechat", "room": "#wee"})
        assert wait_for(lambda: "hello weechat" in _read(log)), _read(log)
        # weechat 3.8 asks for server-time but not batch: no replay on joining (as Ergo), history on request
        assert "said before weechat came" not in _read(log)
        native.send_json({"type": "action", "text": "waves at weechat", "room": "#wee2"})
        log2 = home / "logs" / "irc.lan.#wee2.weechatlog"
        assert wait_for(lambda: "waves at weechat" in _read(log2)), _read(log2)
        fifo = home / "fifo"
        assert wait_for(fifo.exists)
        with open(fifo, "w") as pipe:
            pipe.write("irc.lan.#wee *hello terminal\n")
            pipe.write("irc.lan.#wee2 */me nods\n")
            pipe.write("irc.lan.#wee */quote CHATHISTORY LATEST #wee * 10\n")
        said_by(native, "weechy", "hello terminal")
        nod = said_by(native, "weechy", "nods")
        assert nod["action"] and nod["room"] == "#wee2"
        assert wait_for(lambda: "said before weechat came" in _read(log)), _read(log)
    finally:
        proc.terminate()
        proc.wait(10)
        native.close()


def test_irssi_talks_with_a_terminal_user(srv, tmp_path):
    irssi = require("irssi", "irssi")
    native = joined_room(srv.port, "termi", "#irs")
    home = tmp_path / "irssi"
    home.mkdir()
    logs = tmp_path / "logs"
    (home / "config").write_text(
        'settings = { core = { real_name = "tester"; user_name = "tester"; nick = "irssy"; }; '
        f'"fe-common/core" = {{ autolog = "yes"; autolog_path = "{logs}/$tag/$0.log"; }}; }};\n'
    )
    child = pexpect.spawn(
        irssi,
        ["--home", str(home), "-c", "127.0.0.1", "-p", str(srv.irc_port), "-n", "irssy"],
        env={**os.environ, "HOME": str(tmp_path), "TERM": "xterm"},
        dimensions=(40, 120),
        encoding="utf-8",
    )
    try:
        native.expect(lambda f: f.get("event") == "join" and f.get("nick") == "irssy")  # (in #lobby)
        child.send("/join #irs\r")
        native.expect(lambda f: f.get("event") == "join" and f.get("nick") == "irssy" and f["room"] == "#irs")
        child.send("hello terminal\r")
        said_by(native, "irssy", "hello terminal")
        native.send_json({"type": "say", "text": "hello irssi", "room": "#irs"})
        log = next(iter(logs.glob("*/#irs.log")), None) if logs.exists() else None
        assert wait_for(lambda: any("hello irssi" in _read(p) for p in logs.glob("*/*.log"))), list(logs.glob("**/*"))
        assert log is not None or wait_for(lambda: any(logs.glob("*/#irs.log")))
    finally:
        child.sendline("/quit")
        child.close(force=True)
        native.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
