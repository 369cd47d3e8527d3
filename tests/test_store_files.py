"""The store file is this user's and private: one found that is another's, readable by others, or a link
is refused (one line, exit 2); a new one, and its WAL and SHM, are 0600. Real files (the tests run as root,
so a file is given to another user with chown)."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from helpers import program, python_env

from chatserver.backends.roomlog import StoredRoom
from chatserver.backends.store import SqliteStore, StoreError
from common import messages as m
from common.rooms import room_key

OTHER_UID = 54321


def _store(path) -> SqliteStore:
    return SqliteStore(path, room_key=room_key)


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_store_and_its_wal_and_shm_are_private(tmp_path):
    path = tmp_path / "new.sqlite3"
    old = os.umask(0)  # even with nothing masked
    try:
        store = _store(path)
        store.save_room(StoredRoom("#a", "e", 0, ""))
        store.stage(m.ChatMessage(seq=1, ts=1.0, room="#a", nick="a", text="secret plans"))
        assert store.commit() == set()
        for name in ("new.sqlite3", "new.sqlite3-wal", "new.sqlite3-shm", "new.sqlite3.lock"):
            assert _mode(tmp_path / name) == 0o600, name
        store.close()
    finally:
        os.umask(old)


def _empty(path, mode: int, uid: int | None = None) -> None:
    path.write_bytes(b"")
    path.chmod(mode)
    if uid is not None:
        os.chown(path, uid, -1)


@pytest.mark.parametrize(
    ("uid", "mode", "why"),
    [
        (OTHER_UID, 0o600, "belongs to another user"),
        (OTHER_UID, 0o666, "belongs to another user"),
        (None, 0o666, "may be read or written by others"),
        (None, 0o644, "may be read or written by others"),
        (None, 0o620, "may be read or written by others"),
    ],
)
def test_a_store_found_that_is_not_private_is_refused_untouched(tmp_path, uid, mode, why):
    path = tmp_path / "shared.sqlite3"
    _empty(path, mode, uid)
    with pytest.raises(StoreError, match=why):
        _store(path)
    assert path.read_bytes() == b"" and _mode(path) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.sqlite3"], "nothing made beside it"


@pytest.mark.parametrize("beside", ["-wal", "-shm", ".lock"])
def test_a_file_beside_the_store_made_by_another_user_is_refused(tmp_path, beside):
    path = tmp_path / "chat.sqlite3"
    _store(path).close()
    planted = tmp_path / f"chat.sqlite3{beside}"
    _empty(planted, 0o666, OTHER_UID)
    with pytest.raises(StoreError, match="belongs to another user"):
        _store(path)


@pytest.mark.parametrize("target", ["mine", "dangling"])
def test_a_symbolic_link_is_not_followed(tmp_path, target):
    real = tmp_path / "real.sqlite3"
    if target == "mine":
        _store(real).close()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(real)
    with pytest.raises(StoreError, match="symbolic link"):
        _store(link)
    assert real.exists() == (target == "mine"), "a dangling link's target is not made"


def test_the_server_says_why_in_one_line_and_exits_2(tmp_path):
    path = tmp_path / "shared.sqlite3"
    _empty(path, 0o666)
    done = subprocess.run(
        [*program("chatserver"), "--host", "127.0.0.1", "--port", "0", "--no-web", "--store", str(path)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=20,
    )
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        f"chatserver: {path} may be read or written by others (mode 0666); chat logs must be private: "
        "chmod 600 it if it is yours"
    ]
