"""Bans, mutes and ``/op`` grants kept in the store (a ``ports.ModerationStore``).

Each is written at once on the writer connection (or, inside the open
transaction of a commit under way, with it: the dispatcher commits before
the sanction's announcement goes out).
"""

from __future__ import annotations

from chatserver.backends.records import StoredGrant, StoredSanction
from chatserver.backends.sqlite.database import Database
from common.nicks import nick_key


class SqliteModeration:
    def __init__(self, database: Database) -> None:
        self._database = database

    def _write(self, sql: str, args: tuple, what: str) -> None:
        self._database.run(lambda db: db.execute(sql, args), f"{what}: ", None)

    def _rows(self, sql: str) -> list[tuple]:
        with self._database.lock:  # (a read that fails is not a write that failed: it raises)
            return [] if self._database.closed else self._database.connection.execute(sql).fetchall()

    def sanctions(self) -> list[StoredSanction]:
        rows = self._rows("SELECT kind, nick, address, by_nick, reason, since, until FROM sanctions")
        return [StoredSanction(*row) for row in rows]

    def save_sanction(self, sanction: StoredSanction) -> None:
        s = sanction
        self._write(
            "INSERT OR REPLACE INTO sanctions (kind, key, nick, address, by_nick, reason, since, until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (s.kind, nick_key(s.nick), s.nick, s.address, s.by, s.reason, s.since, s.until),
            f"cannot keep the {s.kind} on {s.nick}",
        )

    def drop_sanction(self, kind: str, nick: str) -> None:
        self._write("DELETE FROM sanctions WHERE kind = ? AND key = ?", (kind, nick_key(nick)), f"cannot lift {kind}")

    def grants(self) -> list[StoredGrant]:
        return [StoredGrant(*row) for row in self._rows("SELECT nick, by_nick, since, proof FROM grants")]

    def save_grant(self, grant: StoredGrant) -> None:
        g = grant
        self._write(
            "INSERT OR REPLACE INTO grants (key, nick, by_nick, since, proof) VALUES (?, ?, ?, ?, ?)",
            (nick_key(g.nick), g.nick, g.by, g.since, g.proof),
            f"cannot keep the operator grant of {g.nick}",
        )

    def drop_grant(self, nick: str) -> None:
        self._write("DELETE FROM grants WHERE key = ?", (nick_key(nick),), "cannot drop an operator grant")
