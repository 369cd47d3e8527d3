"""The server's resume secret, kept in the store (a ``ports.SecretStore``): made once, so tokens outlive a restart."""

from __future__ import annotations

import secrets

from chatserver.backends.sqlite.database import Database


class SqliteSecret:
    def __init__(self, database: Database) -> None:
        self._database = database

    def secret(self) -> bytes:
        with self._database.lock:  # (read and made in one hold: one secret, whoever asks first)
            db = self._database.connection
            row = db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            if row is not None:
                return bytes.fromhex(row[0])
            value = secrets.token_bytes(32)
            db.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (value.hex(),))
            return value
