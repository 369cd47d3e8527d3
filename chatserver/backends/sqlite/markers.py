"""Read markers in the store's file (a ``MarkerStore``: ``backends/markers.py``), kept across restarts.

One table, made if missing when the store opens (as the accounts' are): a
row per account and target, its time only ever raised. Each write is made
at once on the writer connection, under its lock.
"""

from __future__ import annotations

from chatserver.backends.markers import MAX_MARKERS
from chatserver.backends.sqlite.database import Database
from common.nicks import nick_key

TABLE = (
    "CREATE TABLE IF NOT EXISTS read_markers (account TEXT NOT NULL, target TEXT NOT NULL, ts REAL NOT NULL,"
    " PRIMARY KEY (account, target))"
)
_RAISE = (
    "INSERT INTO read_markers (account, target, ts) VALUES (?, ?, ?)"
    " ON CONFLICT (account, target) DO UPDATE SET ts = max(ts, excluded.ts)"
)
_TRIM = (
    "DELETE FROM read_markers WHERE account = ? AND target NOT IN"
    " (SELECT target FROM read_markers WHERE account = ? ORDER BY ts DESC LIMIT ?)"
)


class SqliteMarkers:
    def __init__(self, database: Database, cap: int = MAX_MARKERS) -> None:
        self._database = database
        self._cap = cap
        with database.lock:
            database.connection.execute(TABLE)

    def mark(self, account: str, target: str, ts: float) -> float:
        key = nick_key(account)

        def write(db) -> float:  # noqa: ANN001
            db.execute(_RAISE, (key, target, ts))
            db.execute(_TRIM, (key, key, self._cap))
            row = db.execute("SELECT ts FROM read_markers WHERE account = ? AND target = ?", (key, target)).fetchone()
            return row[0] if row else ts

        return self._database.run(write, "cannot keep a read marker: ", ts)

    def markers(self, account: str) -> dict[str, float]:
        with self._database.lock:
            if self._database.closed:
                return {}
            sql = "SELECT target, ts FROM read_markers WHERE account = ?"
            return dict(self._database.connection.execute(sql, (nick_key(account),)).fetchall())

    def forget(self, account: str) -> None:
        sql = "DELETE FROM read_markers WHERE account = ?"
        self._database.run(lambda db: db.execute(sql, (nick_key(account),)), "cannot forget read markers: ", None)
