"""A mark that messages may have gone out before their commit, kept where a killed server leaves it and never on a disk.

With the SQLite store the dispatcher hands a batch to everyone but its
senders while the batch is still being committed (``core/dispatcher.py``):
a write to a busy disk can take tens of milliseconds. A server killed in
that window leaves numbers in people's hands that the file never got, and
the next server must not give them to other messages under the same epoch.
So while the dispatcher has messages out that are not committed (or after a
commit failed), one byte in a small file on tmpfs says so: writing it never waits on a disk, and it
outlives the process, though not a reboot (after a power cut the last
commits may be lost anyway: ``docs/store.md``). The next server to open the
store finds it and gives every room a new epoch.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from chatserver.backends import storefile

#: Where the mark is kept: memory, not a disk (Linux's tmpfs for POSIX shared memory).
SHM_DIR = Path("/dev/shm")


class AheadMark:
    """The mark of one store: its file is named after the store's device and inode, so it
    follows the store through a rename, and made private (``storefile.open_private``)."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path
        #: The last server left it set: numbers may have gone out that the file does not hold.
        self.found = os.pread(fd, 1, 0) == b"1"
        self._ahead = self.found

    @classmethod
    def open(cls, store: Path, where: Path = SHM_DIR) -> AheadMark | None:
        """The mark of ``store``, or None where there is no tmpfs to keep it (or it is not safe)."""
        try:
            st = os.stat(store)
            if not where.is_dir():
                return None
            path = where / f"lanchat-{os.geteuid()}-{st.st_dev:x}-{st.st_ino:x}.ahead"
            return cls(storefile.open_private(path), path)
        except (OSError, storefile.UnsafeStore):
            return None

    def set(self, ahead: bool) -> None:
        """Say whether messages went out that are not yet committed (written only when it changes)."""
        if ahead is not self._ahead and self._fd >= 0:
            os.pwrite(self._fd, b"1" if ahead else b"0", 0)
            self._ahead = ahead

    def close(self) -> None:
        """Removed if clear; left set for the next server otherwise."""
        fd, self._fd = self._fd, -1
        os.close(fd)
        if not self._ahead:
            with contextlib.suppress(OSError):
                self.path.unlink()
