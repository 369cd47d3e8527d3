"""Searching a room's kept messages by their words (FTS5), on a read connection and within a time budget.

A word with punctuation in it is several words (``search_terms``), each
quoted, so nothing a person types is taken as FTS syntax; past the budget
SQLite's progress handler stops the search (``SearchTooLong``).
"""

from __future__ import annotations

from collections.abc import Callable

from chatserver.backends.roomlog import search_terms
from chatserver.backends.sqlite.messages import COLUMNS, row_message
from chatserver.backends.sqlite.readers import Readers
from common import messages as m

#: A search stops after this long (seconds), and the asker is told to narrow it.
SEARCH_SECONDS = 2.0
#: Terms of one search, at most.
MAX_TERMS = 16


class Search:
    def __init__(
        self, readers: Readers, room_key: Callable[[str], str], closed: Callable[[], bool], seconds: float
    ) -> None:
        self._readers = readers
        self._room_key = room_key
        self._closed = closed
        self._seconds = seconds

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding every word of ``words``, newest first."""
        terms = search_terms(words)[:MAX_TERMS]
        if not terms or self._closed():
            return []
        query = " AND ".join(f'"{w}"' for w in terms)  # (words only: no FTS syntax, no quotes)
        rows = self._readers.rows(
            f"SELECT {COLUMNS} FROM messages_fts f"
            " JOIN messages m ON m.id = f.rowid JOIN rooms r ON r.key = m.room"
            " WHERE messages_fts MATCH ? AND m.room = ? ORDER BY m.seq DESC LIMIT ?",
            (query, self._room_key(room), limit),
            self._seconds,
        )
        return [row_message(row) for row in rows]
