"""The word index of kept messages (FTS5): filled a batch of commits at a time, searched by room within a budget.

Indexing a commit's few rows on their own cost as much again as writing
them, and made the WAL several times larger (a segment and its merges per
commit), so checkpoints fell behind and the WAL never started over. So the
index is filled a batch of rows at a time: by the indexer's thread
(``indexing.py``) once a commit leaves ``indexing.EARLY_ROWS`` unindexed,
else in the commit that brings them to ``INDEX_ROWS``, or that comes
``INDEX_SECONDS`` after the last filling (and at close, and before retention deletes rows: the delete trigger takes rows
out of the index, which must hold them). How far it goes is kept in the
same transaction (``meta`` row ``indexed``: the last message id indexed; a
file without one was indexed at every commit). A search reads the index,
and the few rows past it by their words as the memory broker does
(``word_matcher``). A word with punctuation in it is several words
(``search_terms``), each quoted, so nothing a person types is FTS syntax;
past the budget SQLite's progress handler stops the search (``SearchTooLong``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from chatserver.backends.roomlog import search_terms, word_matcher
from chatserver.backends.sqlite.messages import COLUMNS, row_message
from chatserver.backends.sqlite.readers import Readers
from common import messages as m

#: A search stops after this long (seconds), and the asker is told to narrow it.
SEARCH_SECONDS = 2.0
#: Terms of one search, at most.
MAX_TERMS = 16
#: Rows written and not indexed after which a commit indexes them.
INDEX_ROWS = 256
#: Seconds after which a commit indexes what is not yet, however few.
INDEX_SECONDS = 1.0

#: A room's messages matching an FTS query, newest first, at most so many. In the index's own order
#: (a room's messages are written, so numbered, in the order of their ids): FTS5 walks its matches
#: from the newest and LIMIT stops it. Ordered by seq, SQLite walked the room's messages instead and
#: ran the match for each: a search's cost grew with the room (10,000 long messages: seconds of a core).
#: Used for rooms of more than ``SMALL_ROOM`` messages.
MATCHES = (
    f"SELECT {COLUMNS} FROM messages_fts f"
    " JOIN messages m ON m.id = f.rowid JOIN rooms r ON r.key = m.room"
    " WHERE messages_fts MATCH ? AND m.room = ? ORDER BY f.rowid DESC LIMIT ?"
)
#: The same, walking the room's own messages newest first and matching each: for a room of at most
#: ``SMALL_ROOM`` messages. The index's walk above looks at every match of the whole store newer than
#: what it finds, so a quiet room or a private conversation beside a busy room paid for all the busy
#: room's matches (100,000 of them: 500,000 steps where this walk takes 1,000).
ROOM_MATCHES = (
    f"SELECT {COLUMNS} FROM messages_fts f"
    " JOIN messages m ON m.id = f.rowid JOIN rooms r ON r.key = m.room"
    " WHERE messages_fts MATCH ? AND m.room = ? ORDER BY m.seq DESC LIMIT ?"
)
#: Rooms numbered up to this many messages are searched through their own messages (``ROOM_MATCHES``).
SMALL_ROOM = 1000
#: How many a room has numbered (its messages, at most: retention takes the oldest).
NUMBERED = "SELECT seq FROM rooms WHERE key = ?"
#: A room's messages written after the index's last filling (a few hundred at most), found by their ids
#: (``+m.room``: not through the room's index, which walked every message of the room to find them).
NOT_INDEXED = f"SELECT {COLUMNS} FROM messages m JOIN rooms r ON r.key = m.room WHERE +m.room = ? AND m.id > ?"


class WordIndex:
    def __init__(
        self,
        readers: Readers,
        room_key: Callable[[str], str],
        closed: Callable[[], bool],
        seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._readers = readers
        self._room_key = room_key
        self._closed = closed
        self._seconds = seconds
        self._clock = clock
        self._indexed = 0  # the last message id in the index, as committed
        self._behind = 0  # rows written since, about (for when to catch up)
        self._since = clock()

    def open(self, db: sqlite3.Connection) -> None:
        """Read how far the index goes (writer connection, at open). A damaged file opens all
        the same: its reads say what is wrong, as they are asked for."""
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'indexed'").fetchone()
            top = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        except sqlite3.DatabaseError:
            return
        self._indexed = int(row[0]) if row is not None else top  # (no row: indexed at every commit)
        self._behind = top - self._indexed

    @property
    def behind(self) -> int:
        """Rows written and not indexed yet, about."""
        return self._behind

    def written(self, db: sqlite3.Connection, rows: int) -> int | None:
        """In a commit's transaction, after its rows: catch up if it is time (``catch_up``)."""
        self._behind += rows
        if not self._behind or (self._behind < INDEX_ROWS and self._clock() - self._since < INDEX_SECONDS):
            return None
        return self.catch_up(db)

    def catch_up(self, db: sqlite3.Connection, most: int | None = None) -> int | None:
        """Index every row not indexed yet (``most``: the next ``most`` ids at most), in the open
        transaction; the id indexed up to, for ``advanced`` once that transaction is committed
        (None: there was nothing)."""
        top = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        if most is not None:
            top = min(top, self._indexed + most)
        if top <= self._indexed:
            return None
        db.execute(
            "INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE id > ? AND id <= ?",
            (self._indexed, top),
        )
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', ?)", (str(top),))
        return top

    def advanced(self, top: int | None) -> None:
        """The transaction of a ``catch_up`` that returned ``top`` is committed."""
        if top is not None:
            self._indexed, self._behind, self._since = top, 0, self._clock()

    def catch_up_now(self, db: sqlite3.Connection) -> None:
        """``catch_up`` in a transaction of its own (the writer's lock held, none open)."""
        db.execute("BEGIN")
        try:
            top = self.catch_up(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.advanced(top)

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        """Messages of ``room`` holding every word of ``words``, newest first."""
        terms = search_terms(words)[:MAX_TERMS]
        if not terms or self._closed():
            return []
        indexed = self._indexed  # (first: what is indexed meanwhile is in the index when it is read)
        query = " AND ".join(f'"{w}"' for w in terms)  # (words only: no FTS syntax, no quotes)
        key = self._room_key(room)
        numbered = self._readers.rows(NUMBERED, (key,))
        small = not numbered or numbered[0][0] <= SMALL_ROOM
        rows = self._readers.rows(ROOM_MATCHES if small else MATCHES, (query, key, limit), self._seconds)
        recent = self._readers.rows(NOT_INDEXED, (key, indexed), self._seconds)
        holds = word_matcher(" ".join(terms))
        assert holds is not None
        found = {row[1]: row for row in rows} | {row[1]: row for row in recent if holds(row[4])}
        return [row_message(found[seq]) for seq in sorted(found, reverse=True)[:limit]]
