"""A mark that messages may have gone out before their commit, kept where a killed server leaves it and never on a disk.

With the SQLite store the dispatcher hands a batch to everyone but its
senders while the batch is still being committed (``core/dispatcher.py``):
a write to a busy disk can take tens of milliseconds. A server killed in
that window leaves numbers in people's hands that the file never got, and
the next server must not give them to other messages under the same epoch.
So while the dispatcher has messages out that are not committed (or after a
commit failed), a small empty file on tmpfs exists: making and removing it
never waits on a disk, and it outlives the process, though not a reboot
(after a power cut the last commits may be lost anyway: ``docs/store.md``).
The next server to open the store finds it and gives every room a new epoch.
A server that is killed with everything committed leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from chatserver.backends import storefile

#: Where the mark is kept: memory, not a disk (Linux's tmpfs for POSIX shared memory).
SHM_DIR = Path("/dev/shm")

log = logging.getLogger(__name__)


class AheadMark:
    """The mark of one store: named after the store's device and inode (so it follows the
    store through a rename) and this user, made private (``storefile.open_private``)."""

    def __init__(self, path: Path, found: bool) -> None:
        self.path = path
        #: The last server left it: numbers may have gone out that the file does not hold.
        self.found = found
        self._ahead = found

    @classmethod
    def open(cls, store: Path, where: Path = SHM_DIR) -> AheadMark | None:
        """The mark of ``store``, or None where there is no tmpfs to keep it, or where a file
        not ours (another user's, a link) stands in its place."""
        try:
            st = os.stat(store)
            if not where.is_dir():
                return None
            path = where / f"lanchat-{os.geteuid()}-{st.st_dev:x}-{st.st_ino:x}.ahead"
            return cls(path, storefile.check_private(path))
        except (OSError, storefile.UnsafeStore) as exc:
            log.info("no mark of messages delivered before their commit for %s (%s): committing first", store, exc)
            return None

    def set(self, ahead: bool) -> None:
        """Say whether messages went out that are not yet committed (touched only when it changes)."""
        if ahead is self._ahead:
            return
        try:
            if ahead:
                os.close(storefile.open_private(self.path))
            else:
                self.path.unlink(missing_ok=True)
        except (OSError, storefile.UnsafeStore) as exc:  # (someone put a file in its way since)
            log.warning("cannot mark %s: %s", self.path, exc)
        self._ahead = ahead
