"""Remembered logins: one login token per server, in the client's state directory, private to the user.

After a login the server hands out a token (never the password); the client
keeps it for that server's address and sends it in its next hello, so the
person is logged in by themselves next time. ``/logout`` forgets it (the
page's "Leave" forgets the page's own), and so does a token the server refuses.

The file (``$XDG_STATE_HOME/chatclient/logins``, JSON ``{"HOST:PORT":
{"account": ..., "token": ...}}``) is mode 0600 from its first byte: each
change is written to a new file made 0600 by ``mkstemp`` in the same
directory, then renamed over the old one, so it is never readable by others,
not even for an instant, and never half-written. Changes from two clients at
once are serialised by a lock file where the platform has ``fcntl``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from common.hostport import format_address
from common.paths import client_state_dir

from .addresses import Address, address_key

try:
    import fcntl
except ImportError:  # (Windows: no lock; the last writer wins)
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "logins"


@dataclasses.dataclass(frozen=True)
class Login:
    """An account's login token for one server."""

    account: str
    token: str


class Logins:
    """The remembered logins, one per server address (a cluster's nodes each have the same one)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or client_state_dir() / FILE_NAME

    def get(self, addresses: Iterable[Address]) -> Login | None:
        """The login remembered for the first of ``addresses`` that has one."""
        kept = self._load()
        for host, port in addresses:
            entry = kept.get(address_key(format_address(host, port)))
            if entry is not None:
                return entry
        return None

    def remember(self, addresses: Iterable[Address], login: Login) -> None:
        """Keep ``login`` for each of ``addresses`` (one server's nodes)."""
        with self._changing() as kept:
            for host, port in addresses:
                kept[address_key(format_address(host, port))] = login

    def forget(self, addresses: Iterable[Address]) -> bool:
        """Forget what is kept for ``addresses``; True if there was something."""
        with self._changing() as kept:
            keys = [address_key(format_address(host, port)) for host, port in addresses]
            return bool([kept.pop(key) for key in keys if key in kept])

    # -- the file ---------------------------------------------------------
    def _load(self) -> dict[str, Login]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, unreadable or damaged: nothing remembered
            return {}
        kept = {}
        if isinstance(raw, dict):
            for key, entry in raw.items():
                fields = (entry.get("account"), entry.get("token")) if isinstance(entry, dict) else ()
                if len(fields) == 2 and all(isinstance(field, str) for field in fields):
                    kept[key] = Login(*fields)
        return kept

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, Login]]:
        """The kept logins to change in place, written back (atomically, 0600) afterwards."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            kept = self._load()
            before = dict(kept)
            yield kept
            if kept != before:
                self._write(kept)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        fd = os.open(self.path.with_name(FILE_NAME + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # (closing releases the lock)

    def _write(self, kept: dict[str, Login]) -> None:
        data = {key: dataclasses.asdict(login) for key, login in sorted(kept.items())}
        fd, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=self.path.parent)  # (mode 0600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
