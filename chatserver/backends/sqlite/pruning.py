"""What retention deletes from the store (``retention.Prunable``): by age, by count per room, the oldest over budget.

Each call deletes one small batch on the writer connection (one short hold
of its lock, so chat never waits long); inside an open transaction the
deletes go with the next commit. The search index loses the rows with
them (the delete trigger), so what is not indexed yet is indexed first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from chatserver.backends.sqlite.database import Database
from chatserver.backends.sqlite.readers import Readers

#: What a kept message costs beside its text and name, about (bytes): see ``kept_bytes``.
ROW_BYTES = 64
_SIZE = f"length(CAST(text AS BLOB)) + length(CAST(nick AS BLOB)) + {ROW_BYTES}"


class Pruning:
    def __init__(self, database: Database, readers: Readers, index: Callable[[sqlite3.Connection], None]) -> None:
        self._database = database
        self._readers = readers
        self._index = index  # every row not yet in the word index put there (``WordIndex.catch_up_now``)

    def prune(self, *, older_than: float | None, keep_per_room: int | None, batch: int = 500) -> int:
        """Delete at most ``batch`` messages past the retention limits; returns how many."""

        def work(db: sqlite3.Connection) -> int:
            self._index(db)
            deleted = 0
            if older_than is not None:
                cur = db.execute(
                    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE ts < ? LIMIT ?)",
                    (older_than, batch),
                )
                deleted += cur.rowcount
            if keep_per_room is not None and deleted < batch:
                for key, seq in db.execute("SELECT key, seq FROM rooms").fetchall():
                    cur = db.execute(
                        "DELETE FROM messages WHERE id IN"
                        " (SELECT id FROM messages WHERE room = ? AND seq <= ? LIMIT ?)",
                        (key, seq - keep_per_room, batch - deleted),
                    )
                    deleted += cur.rowcount
                    if deleted >= batch:
                        break
            return deleted

        return self._database.run(work, "pruning: ", 0)

    def used_bytes(self) -> int:
        """The bytes the store's pages hold (free pages, to be reused, not counted)."""

        def work(db: sqlite3.Connection) -> int:
            pages, free, size = (
                db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "freelist_count", "page_size")
            )
            return (pages - free) * size

        return self._database.run(work, "measuring: ", 0)

    def kept_bytes(self) -> int:
        """What the kept messages take: their text and names in UTF-8, and ``ROW_BYTES`` each
        (read on a read connection: a scan of the table, for when the file is over its budget)."""
        return int(self._readers.rows(f"SELECT total({_SIZE}) FROM messages")[0][0])

    def prune_oldest(self, batch: int = 500) -> tuple[int, int, float]:
        """Delete the ``batch`` oldest kept messages, whatever their room; returns how many,
        the bytes they took (as ``kept_bytes`` counts), and the time of the newest of them."""

        def work(db: sqlite3.Connection) -> tuple[int, int, float]:
            self._index(db)
            rows = db.execute(f"SELECT id, {_SIZE}, ts FROM messages ORDER BY id LIMIT ?", (batch,)).fetchall()
            db.executemany("DELETE FROM messages WHERE id = ?", [(row[0],) for row in rows])
            return len(rows), sum(row[1] for row in rows), max((row[2] for row in rows), default=0.0)

        return self._database.run(work, "pruning: ", (0, 0, 0.0))
