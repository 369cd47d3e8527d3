"""Shared files on disk: each under its random id in one directory, with its record beside it; quotas kept here.

The directory is ``files/`` beside the chat store's SQLite file (a temporary
one, deleted at exit, with ``--store memory``). A file is written as
``ID.part`` while it arrives, renamed to ``ID`` when whole, then its record
``ID.json`` is written (atomically): a file without a record, or a ``.part``
left by a crash, is deleted at start. The name a file was given is never a
path here: only ids are (``names.safe_name`` makes the shown name).

Quotas (per person, and all files together) and the disk's free space are
checked when an upload is asked for and again, reserving the bytes, when it
begins (``reserve``); a failed upload gives its reservation back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import msgspec

from chatserver.files.names import in_mib

log = logging.getLogger(__name__)

#: What must stay free on the disk besides an upload (chat's store keeps writing).
DISK_MARGIN = 64 * 1024 * 1024


class Refusal(Exception):
    """An upload refused, with the line that says why, and the HTTP status that answers it."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.status = status


@dataclasses.dataclass
class Record:
    """One kept file: the shared file's fields, whose it is, where it went, and the message it became."""

    id: str
    name: str
    size: int
    sha256: str
    type: str
    owner: str  # the sharer's nick_key (quotas)
    nick: str
    room: str | None
    to: str | None
    created: float
    message: dict | None = None  # the ChatMessage or Private it was shared with (its fields)


class FileStore:
    """The files directory and its records (thread-safe: one small lock, never held during I/O of file bytes)."""

    def __init__(self, root: Path | None, *, per_person: int, total: int, margin: int = DISK_MARGIN) -> None:
        self.temporary = root is None
        self.root = Path(tempfile.mkdtemp(prefix="lanchat-files-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.per_person = per_person
        self.total = total
        self.margin = margin
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        self._reserved: dict[str, int] = {}  # owner -> bytes of uploads under way
        self._load()

    def _load(self) -> None:
        for path in self.root.iterdir():
            if path.suffix == ".part":
                path.unlink(missing_ok=True)
        for path in self.root.glob("*.json"):
            try:
                record = Record(**json.loads(path.read_text()))
                ok = (self.root / record.id).stat().st_size == record.size and path.stem == record.id
            except (OSError, ValueError, TypeError) as exc:
                log.warning("files: %s unreadable, left out: %s", path.name, exc)
                continue
            if ok:
                self._records[record.id] = record
        kept = {*self._records, *(f"{i}.json" for i in self._records)}
        for path in self.root.iterdir():  # data without a record: an upload a crash cut short
            if path.name not in kept and not path.name.endswith(".json"):
                path.unlink(missing_ok=True)

    # -- quotas -------------------------------------------------------------------
    def _used(self, owner: str | None = None) -> int:
        kept = sum(r.size for r in self._records.values() if owner is None or r.owner == owner)
        return kept + sum(n for o, n in self._reserved.items() if owner is None or o == owner)

    def check(self, owner: str, size: int) -> None:
        """Raise ``Refusal`` if ``owner`` may not add ``size`` bytes now."""
        with self._lock:
            self._check_locked(owner, size)

    def _check_locked(self, owner: str, size: int) -> None:
        if self.per_person and self._used(owner) + size > self.per_person:
            left = max(0, self.per_person - self._used(owner))
            raise Refusal(f"over your quota of {in_mib(self.per_person)} of files ({in_mib(left)} left)", 413)
        if self.total and self._used() + size > self.total:
            raise Refusal(f"the server's files are full ({in_mib(self.total)}): ask an operator", 507)
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            free = 0
        if free < size + self.margin:
            raise Refusal("the server's disk is full: no files are taken for now (chat goes on)", 507)

    def reserve(self, owner: str, size: int) -> None:
        with self._lock:
            self._check_locked(owner, size)
            self._reserved[owner] = self._reserved.get(owner, 0) + size

    def release(self, owner: str, size: int) -> None:
        with self._lock:
            left = self._reserved.get(owner, 0) - size
            if left > 0:
                self._reserved[owner] = left
            else:
                self._reserved.pop(owner, None)

    # -- files --------------------------------------------------------------------
    def part_path(self, file_id: str) -> Path:
        return self.root / f"{file_id}.part"

    def path(self, file_id: str) -> Path:
        return self.root / file_id

    def keep(self, record: Record) -> None:
        """The upload is whole: ``ID.part`` becomes ``ID``, and its record is written."""
        os.replace(self.part_path(record.id), self.path(record.id))
        self._write(record)
        with self._lock:
            self._records[record.id] = record

    def remember(self, record: Record, message: dict) -> None:
        """The message the file was shared with (``/files`` sends it again)."""
        record.message = message
        self._write(record)

    def _write(self, record: Record) -> None:
        tmp = self.root / f"{record.id}.json.tmp"
        tmp.write_bytes(msgspec.json.encode(dataclasses.asdict(record)))
        os.replace(tmp, self.root / f"{record.id}.json")

    def get(self, file_id: str) -> Record | None:
        with self._lock:
            return self._records.get(file_id)

    def forget(self, file_id: str) -> None:
        with self._lock:
            self._records.pop(file_id, None)
        for path in (self.root / f"{file_id}.json", self.path(file_id), self.part_path(file_id)):
            path.unlink(missing_ok=True)

    def in_room(self, room_key: str, key_of, count: int) -> list[Record]:  # noqa: ANN001 - rooms.room_key
        """The last ``count`` files shared with the room, oldest first."""
        with self._lock:
            found = [r for r in self._records.values() if r.room is not None and key_of(r.room) == room_key]
        found.sort(key=lambda r: r.created)
        return found[-count:]

    def prune(self, before: float) -> int:
        """Delete the files shared before ``before`` (a time, as ``Record.created``): retention, as
        for messages (``--retain-days``). How many went."""
        with self._lock:
            old = [r.id for r in self._records.values() if r.created < before]
        for file_id in old:
            self.forget(file_id)
        if old:
            log.info("files: %d shared file(s) older than the retention deleted", len(old))
        return len(old)

    def close(self) -> None:
        """A temporary directory (``--store memory``) goes with the server."""
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)
