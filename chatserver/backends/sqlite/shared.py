"""The store's shared-file messages: which message carries which file (``ChatMessage.file``), kept beside the messages.

A message that shares a file (``chatserver/files``) is a room message like
any other; its ``FileRef`` is kept in a table of its own, keyed as the
message is (room key, seq), written in the same commit, read back with it
(``FILE_COLUMN``), and deleted with it (a trigger: retention prunes messages).
The table is made if missing when the store opens: the schema's version is
unchanged, and a store written before it simply has no shared files.
"""

from __future__ import annotations

import sqlite3

import msgspec

from common import messages as m

TABLES = (
    "CREATE TABLE IF NOT EXISTS shared_files (room TEXT NOT NULL, seq INTEGER NOT NULL, file TEXT NOT NULL,"
    " PRIMARY KEY (room, seq))",
    "CREATE TRIGGER IF NOT EXISTS shared_files_ad AFTER DELETE ON messages BEGIN"
    " DELETE FROM shared_files WHERE room = old.room AND seq = old.seq; END",
)
#: The message's file (JSON, or NULL), for a query on ``messages m``.
FILE_COLUMN = "(SELECT s.file FROM shared_files s WHERE s.room = m.room AND s.seq = m.seq)"

_decode = msgspec.json.Decoder(m.FileRef).decode
_encode = msgspec.json.Encoder().encode


def ensure(db: sqlite3.Connection) -> None:
    """The table and its trigger, made if missing (at open, after the migrations)."""
    for statement in TABLES:
        db.execute(statement)


def write(db: sqlite3.Connection, rows: list[tuple[str, int, m.FileRef]]) -> None:
    """The files of a batch's messages (room key, seq, file), in the commit's transaction."""
    if rows:
        db.executemany(
            "INSERT OR REPLACE INTO shared_files (room, seq, file) VALUES (?, ?, ?)",
            [(key, seq, _encode(ref).decode()) for key, seq, ref in rows],
        )


def file_of(value: str | None) -> m.FileRef | None:
    """A stored file back, or None (none; or unreadable: the message stays, with its link)."""
    if value is None:
        return None
    try:
        return _decode(value)
    except msgspec.DecodeError:  # (ValidationError is one)
        return None
