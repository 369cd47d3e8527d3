"""The remembered login tokens (``chatclient/logins.py``): private from their first byte, one per
server, forgotten on demand; and the input history that keeps no password."""

from __future__ import annotations

import os
import stat
import tempfile
import threading

from chatclient.keyboard import history, keeps
from chatclient.logins import Login, Logins
from common.paths import client_state_dir


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_file_is_private_from_its_first_byte(tmp_path, monkeypatch):
    """Even with a umask letting everyone read, the file is 0600, its directory 0700, and the
    file it is written to before the rename was 0600 before anything was written in it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    seen: list[int] = []
    made = tempfile.mkstemp

    def watched_mkstemp(*args, **kwargs):
        fd, path = made(*args, **kwargs)
        seen.append(_mode(path))
        assert os.fstat(fd).st_size == 0
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", watched_mkstemp)
    old = os.umask(0)
    try:
        logins = Logins()
        logins.remember([("127.0.0.1", 5050)], Login("alice", "t0ken"))
    finally:
        os.umask(old)
    assert logins.path == client_state_dir() / "logins"
    assert logins.path.is_relative_to(tmp_path)
    assert seen == [0o600]
    assert _mode(logins.path) == 0o600
    assert _mode(logins.path.parent) == 0o700
    assert [p.name for p in logins.path.parent.iterdir() if p.name.startswith(".logins")] == []  # no leftovers


def test_one_login_per_server_address(tmp_path):
    logins = Logins(tmp_path / "logins")
    logins.remember([("Chat.LAN", 5050)], Login("alice", "a"))
    logins.remember([("chat.lan.", 5051)], Login("bob", "b"))
    logins.remember([("::1", 5050), ("127.0.0.1", 5050)], Login("carol", "c"))  # a cluster's two nodes
    assert logins.get([("chat.lan", 5050)]) == Login("alice", "a")  # one spelling per server
    assert logins.get([("CHAT.lan", 5051)]) == Login("bob", "b")
    assert logins.get([("127.0.0.1", 5050)]) == Login("carol", "c")
    assert logins.get([("0:0:0:0:0:0:0:1", 5050)]) == Login("carol", "c")
    assert logins.get([("10.0.0.1", 5050)]) is None
    logins.remember([("chat.lan", 5050)], Login("alice", "renewed"))  # a new login replaces the old
    assert Logins(tmp_path / "logins").get([("chat.lan", 5050)]) == Login("alice", "renewed")


def test_forgetting_one_server_keeps_the_others(tmp_path):
    logins = Logins(tmp_path / "logins")
    logins.remember([("a.lan", 1)], Login("alice", "x"))
    logins.remember([("b.lan", 2)], Login("alice", "y"))
    assert logins.forget([("a.lan", 1)]) is True
    assert logins.forget([("a.lan", 1)]) is False
    assert logins.get([("a.lan", 1)]) is None
    assert logins.get([("b.lan", 2)]) == Login("alice", "y")
    assert "x" not in (tmp_path / "logins").read_text()
    assert _mode(tmp_path / "logins") == 0o600


def test_a_damaged_file_is_nothing_remembered(tmp_path):
    path = tmp_path / "logins"
    path.write_text('{"a.lan:1": {"account": 5, "token": "x"}, "b.lan:2": "nope", "c.lan:3": ')
    assert Logins(path).get([("a.lan", 1), ("b.lan", 2)]) is None
    path.write_text('["not", "a", "table"]')
    logins = Logins(path)
    assert logins.get([("a.lan", 1)]) is None
    logins.remember([("a.lan", 1)], Login("alice", "z"))  # written afresh
    assert logins.get([("a.lan", 1)]) == Login("alice", "z")


def test_two_clients_remembering_at_once_lose_nothing(tmp_path):
    """Each change reads, changes and writes under a lock: none overwrites another's entry."""
    path = tmp_path / "logins"
    barrier = threading.Barrier(8)

    def remember(number: int) -> None:
        barrier.wait()
        for round_ in range(5):
            Logins(path).remember([(f"host{number}.lan", 5050 + round_)], Login(f"user{number}", f"t{round_}"))

    threads = [threading.Thread(target=remember, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logins = Logins(path)
    for number in range(8):
        for round_ in range(5):
            assert logins.get([(f"host{number}.lan", 5050 + round_)]) == Login(f"user{number}", f"t{round_}")


def test_account_lines_with_a_password_stay_out_of_the_history(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    kept = history()
    typed = ("hello", "/register hunter2", "/login alice hunter2", "/LOGIN alice", "/passwd old new", "/unregister pw")
    for line in typed:
        kept.append_string(line)
    on_disk = (client_state_dir() / "history").read_text()
    assert "hunter2" not in on_disk and "old new" not in on_disk and " pw" not in on_disk
    assert list(kept.get_strings()) == ["hello", "/LOGIN alice"]
    assert keeps("/login bob") and not keeps("/login bob pw") and not keeps("/register") and keeps("/msg bob hi")
