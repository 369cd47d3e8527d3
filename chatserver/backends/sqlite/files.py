"""The store's files on disk: made private, and refused unless they are this user's own and private.

A store in a shared folder could be a file another user made for us to
fill (and then read, or read its WAL), or a link to somewhere else. So a
new file is made with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode 0600 (SQLite
gives its ``-wal`` and ``-shm`` the main file's mode), and an existing one,
or any of the files beside it, is used only if it is a plain file this
user owns that nobody else may read or write.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: The files SQLite and the server keep beside the store.
BESIDE = ("-wal", "-shm", ".lock")
PRIVATE_MODE = 0o600
OTHERS_RW = 0o066  # read or write for the group or anyone


class UnsafeStore(Exception):
    """The file cannot be trusted with chat; the message says why in one line."""


def check_private(path: Path) -> bool:
    """True if ``path`` is a plain file this user owns and nobody else may read or
    write; False if there is none; ``UnsafeStore`` otherwise. A link is never followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UnsafeStore(f"cannot look at {path}: {exc.strerror or exc}") from None
    _judge(path, st)
    return True


def _judge(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStore(f"{path} is a symbolic link; refusing to follow it (give the real file with --store)")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeStore(f"{path} is not a plain file")
    if st.st_uid != os.geteuid():
        raise UnsafeStore(f"{path} belongs to another user (uid {st.st_uid}), who could read the chat kept in it")
    if st.st_mode & OTHERS_RW:
        raise UnsafeStore(
            f"{path} may be read or written by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            "chat logs must be private: chmod 600 it if it is yours"
        )


def prepare(path: Path) -> bool:
    """Check the store and the files beside it; make the store (empty, 0600) if there is none.
    Returns whether it holds anything already."""
    for suffix in BESIDE:
        check_private(Path(str(path) + suffix))
    if check_private(path):
        return path.stat().st_size > 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UnsafeStore(f"cannot create the store's folder {path.parent}: {exc.strerror or exc}") from None
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, PRIVATE_MODE))
    except FileExistsError:  # made by someone else just now: judged like any file found
        check_private(path)
        return path.stat().st_size > 0
    except OSError as exc:
        raise UnsafeStore(f"cannot create the store {path}: {exc.strerror or exc}") from None
    return False


def open_private(path: Path) -> int:
    """A descriptor on ``path`` for reading and writing, made 0600 if new; never through a link."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_MODE)
    except OSError as exc:
        raise UnsafeStore(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        _judge(path, os.fstat(fd))
    except UnsafeStore:
        os.close(fd)
        raise
    return fd
