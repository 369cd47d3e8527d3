"""The store's tables, the mark that a file is ours, and the migrations from each schema version to the next.

The file says it is ours (``application_id``) and which schema it holds
(``user_version``); a file that is not ours, or of a newer schema, is
refused untouched (``probe`` reads it read-only, before anything is
written beside it).
"""

from __future__ import annotations

import sqlite3

APPLICATION_ID = 0x6C616E63  # "lanc"
SCHEMA_VERSION = 3

#: The first release's schema (version 1). A new file gets it and then every
#: migration, exactly as an old file does: there is one way to each version.
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE rooms (key TEXT PRIMARY KEY, name TEXT NOT NULL, epoch TEXT NOT NULL,"
    " seq INTEGER NOT NULL, topic TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, seq INTEGER NOT NULL,"
    " ts REAL NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL DEFAULT 0)",
    "CREATE UNIQUE INDEX messages_by_room ON messages (room, seq)",
    "CREATE INDEX messages_by_time ON messages (ts)",
    "CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content='messages', content_rowid='id')",
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
)
#: Migrations from each schema version to the next: ``_MIGRATIONS[n]`` takes n to n+1.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: moderation (bans, mutes, /op grants) is kept across restarts.
    1: (
        "CREATE TABLE sanctions (kind TEXT NOT NULL, key TEXT NOT NULL, nick TEXT NOT NULL,"
        " address TEXT NOT NULL, by_nick TEXT NOT NULL, reason TEXT NOT NULL, since REAL NOT NULL,"
        " until REAL NOT NULL, PRIMARY KEY (kind, key))",
        "CREATE TABLE grants (key TEXT PRIMARY KEY, nick TEXT NOT NULL, by_nick TEXT NOT NULL,"
        " since REAL NOT NULL, proof TEXT NOT NULL)",
    ),
    # 3: a batch's words are indexed in one statement at commit, not row by row by a trigger.
    2: ("DROP TRIGGER messages_ai",),
}


class StoreError(Exception):
    """The store cannot be used (not ours, newer, unreadable): one line naming the file."""


def probe(where: str) -> None:
    """Refuse (``StoreError``) an existing file that is not ours or of a newer schema,
    reading it read-only: a file that is not ours must be left exactly as it was."""
    db = sqlite3.connect(f"file:{where}?mode=ro", uri=True)
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        db.close()
    if app_id != APPLICATION_ID and (tables or app_id):
        raise StoreError(f"{where} is not a lanchat store (another program's database?); not touching it")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} holds schema version {version}, newer than this server's {SCHEMA_VERSION}: "
            "upgrade chatserver, or start with another --store"
        )


def migrate(db: sqlite3.Connection) -> None:
    """Bring the file to ``SCHEMA_VERSION`` in one transaction (a new file goes the same way)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if version == 0:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            version = 1
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
