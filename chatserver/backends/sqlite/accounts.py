"""Accounts, login tokens (hashes) and private messages kept for the away, in the store (an ``AccountStore``).

Its tables are made if missing when the store opens, as ``shared.py``'s are:
the schema's version is unchanged, a store written before accounts simply has
none, and an older server opening a newer file leaves them alone. Each write
is made at once on the writer connection, under its lock, but one: a
conversation's last message (``talked``, one per private message between
accounts) waits, in memory, for the store's next commit, which writes it in
its own transaction (``write_talks``), so a private message costs no
transaction of its own under the lock the commit needs; ``talks`` reads the
file and what waits. Reads go through the store's read connections
(``readers.py``), never taking the writer's lock.
"""

from __future__ import annotations

import sqlite3
import threading

import msgspec

from chatserver.backends.accounts import KEPT_MAX, TALKS_MAX, StoredAccount
from chatserver.backends.sqlite.database import Database
from chatserver.backends.sqlite.readers import Readers
from common import messages as m
from common.nicks import nick_key

TABLES = (
    "CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL,"
    " created REAL NOT NULL, op INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS account_tokens (hash TEXT PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE, created REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS account_tokens_by_account ON account_tokens (account)",
    "CREATE TABLE IF NOT EXISTS account_kept (id INTEGER PRIMARY KEY,"
    " account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE, message TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS account_kept_by_account ON account_kept (account, id)",
    # (a table of its own, not a column: made if missing as the others are, with no migration)
    "CREATE TABLE IF NOT EXISTS account_scram (account TEXT PRIMARY KEY"
    " REFERENCES accounts (key) ON DELETE CASCADE, credential TEXT NOT NULL)",
    # (an account's conversations, by the time of their last message: ``/privates``, bounded)
    "CREATE TABLE IF NOT EXISTS account_talks (account TEXT NOT NULL, other TEXT NOT NULL, name TEXT NOT NULL,"
    " ts REAL NOT NULL, PRIMARY KEY (account, other))",
    "CREATE INDEX IF NOT EXISTS account_talks_by_time ON account_talks (account, ts)",
)

_decode = msgspec.json.Decoder(m.Private).decode
_encode = msgspec.json.Encoder().encode


#: (account key, other's key) -> (the other's name, the time of their last message)
Talks = dict[tuple[str, str], tuple[str, float]]


def _noted(talks: Talks, key: tuple[str, str], name: str, ts: float) -> None:
    """A conversation's last message noted in ``talks``: the name given last, the latest time."""
    was = talks.get(key)
    talks[key] = (name, ts if was is None else max(ts, was[1]))


class SqliteAccounts:
    def __init__(self, database: Database, readers: Readers) -> None:
        self._database = database
        self._readers = readers
        self._talks_lock = threading.Lock()  # (never held across SQLite)
        self._talks_next: Talks = {}  # noted, for the next commit
        self._talks_writing: Talks = {}  # taken by the commit under way, still read here until it is over
        with database.lock:
            for statement in TABLES:
                database.connection.execute(statement)

    def _write(self, sql: str, args: tuple, what: str) -> int:
        """Rows changed (-1: the write failed, logged by the database)."""
        return self._database.run(lambda db: db.execute(sql, args).rowcount, f"{what}: ", -1)

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        """A read on a read connection (a read that fails is not a write that failed: it raises
        ``Unavailable``); every write is committed before the writer's lock is let go, so it sees them."""
        return [] if self._database.closed else self._readers.rows(sql, args)

    def _stored(self, joined: str, where: str, args: tuple) -> StoredAccount | None:
        """The account the one row ``where`` names, its SCRAM credential with it (``joined``: more tables)."""
        rows = self._rows(
            "SELECT a.name, a.hash, a.created, a.op, s.credential FROM " + joined
            + " LEFT JOIN account_scram s ON s.account = a.key WHERE " + where,
            args,
        )  # fmt: skip
        return StoredAccount(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3]), rows[0][4] or "") if rows else None

    def account(self, name: str) -> StoredAccount | None:
        return self._stored("accounts a", "a.key = ?", (nick_key(name),))

    def create(self, account: StoredAccount) -> bool:
        a = account
        sql = "INSERT OR IGNORE INTO accounts (key, name, hash, created, op) VALUES (?, ?, ?, ?, ?)"
        made = self._write(sql, (nick_key(a.name), a.name, a.hash, a.created, int(a.op)), "cannot keep an account") == 1
        if made and a.scram:
            self.set_scram(a.name, a.scram)
        return made

    def set_scram(self, name: str, credential: str) -> bool:
        sql = "INSERT OR REPLACE INTO account_scram (account, credential) SELECT key, ? FROM accounts WHERE key = ?"
        return self._write(sql, (credential, nick_key(name)), "cannot keep a SCRAM credential") == 1

    def set_hash(self, name: str, hash: str) -> bool:
        sql = "UPDATE accounts SET hash = ? WHERE key = ?"
        return self._write(sql, (hash, nick_key(name)), "cannot change a password") == 1

    def set_op(self, name: str, op: bool) -> bool:
        return (
            self._write("UPDATE accounts SET op = ? WHERE key = ?", (int(op), nick_key(name)), "cannot keep /op") == 1
        )

    def delete(self, name: str) -> bool:
        key = nick_key(name)

        def work(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM account_tokens WHERE account = ?", (key,))
            db.execute("DELETE FROM account_kept WHERE account = ?", (key,))
            db.execute("DELETE FROM account_scram WHERE account = ?", (key,))
            db.execute("DELETE FROM account_talks WHERE account = ?", (key,))
            return db.execute("DELETE FROM accounts WHERE key = ?", (key,)).rowcount == 1

        with self._talks_lock:  # (what waits to be written goes with it)
            self._talks_next = {k: v for k, v in self._talks_next.items() if k[0] != key}
        with self._database.lock:
            return self._database.run_held(work, "cannot delete an account: ", False, atomic=True)

    def operators(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT name FROM accounts WHERE op ORDER BY name")]

    def add_token(self, name: str, token_hash: str, created: float) -> None:
        sql = "INSERT OR REPLACE INTO account_tokens (hash, account, created) VALUES (?, ?, ?)"
        self._write(sql, (token_hash, nick_key(name), created), "cannot keep a login token")

    def token_account(self, token_hash: str) -> str | None:
        rows = self._rows(
            "SELECT a.name FROM account_tokens t JOIN accounts a ON a.key = t.account WHERE t.hash = ?", (token_hash,)
        )
        return rows[0][0] if rows else None

    def account_by_token(self, token_hash: str) -> StoredAccount | None:
        return self._stored("account_tokens t JOIN accounts a ON a.key = t.account", "t.hash = ?", (token_hash,))

    def drop_token(self, token_hash: str) -> bool:
        return self._write("DELETE FROM account_tokens WHERE hash = ?", (token_hash,), "cannot revoke a token") == 1

    def drop_tokens(self, name: str) -> int:
        sql = "DELETE FROM account_tokens WHERE account = ?"
        return max(0, self._write(sql, (nick_key(name),), "cannot revoke tokens"))

    def keep_private(self, name: str, msg: m.Private) -> None:
        key = nick_key(name)

        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO account_kept (account, message) VALUES (?, ?)", (key, _encode(msg).decode()))
            db.execute(
                "DELETE FROM account_kept WHERE account = ? AND id NOT IN"
                " (SELECT id FROM account_kept WHERE account = ? ORDER BY id DESC LIMIT ?)",
                (key, key, KEPT_MAX),
            )

        with self._database.lock:
            self._database.run_held(work, "cannot keep a private message: ", None, atomic=True)

    def take_privates(self, name: str) -> list[m.Private]:
        key = nick_key(name)

        def work(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT message FROM account_kept WHERE account = ? ORDER BY id", (key,)).fetchall()
            db.execute("DELETE FROM account_kept WHERE account = ?", (key,))
            return [row[0] for row in rows]

        with self._database.lock:
            texts = self._database.run_held(work, "cannot read the private messages kept: ", [], atomic=True)
        out = []
        for text in texts:
            try:
                out.append(_decode(text))
            except msgspec.DecodeError:
                continue  # (unreadable: skipped, the others delivered)
        return out

    def talked(self, one: str, other: str, ts: float) -> None:
        """Noted for the next commit (``write_talks``), in memory: no transaction of its own."""
        with self._talks_lock:
            for owner, with_ in ((one, other), (other, one)):
                _noted(self._talks_next, (nick_key(owner), nick_key(with_)), with_, ts)

    def talks_waiting(self) -> bool:
        """Conversations noted and not yet written (a commit with nothing else still writes them)."""
        with self._talks_lock:
            return bool(self._talks_next)

    def write_talks(self, db: sqlite3.Connection) -> None:
        """The conversations noted since the last commit, written in the commit's open transaction
        (the writer's lock held); ``talks_written`` once it is over."""
        with self._talks_lock:
            for key, (name, ts) in self._talks_next.items():
                _noted(self._talks_writing, key, name, ts)
            self._talks_next = {}
            taken = dict(self._talks_writing)
        for (key, other), (name, ts) in taken.items():
            db.execute(
                "INSERT INTO account_talks (account, other, name, ts) VALUES (?, ?, ?, ?) ON CONFLICT"
                " (account, other) DO UPDATE SET name = excluded.name, ts = max(ts, excluded.ts)",
                (key, other, name, ts),
            )
        for key in {key for key, _ in taken}:
            db.execute(
                "DELETE FROM account_talks WHERE account = ? AND ts < (SELECT ts FROM account_talks"
                " WHERE account = ? ORDER BY ts DESC LIMIT 1 OFFSET ?)",
                (key, key, TALKS_MAX - 1),
            )

    def talks_written(self, kept: bool) -> None:
        """The commit's transaction is over: what it took is in the file (``kept``), or waits for the next."""
        with self._talks_lock:
            if not kept:
                for key, (name, ts) in self._talks_writing.items():
                    _noted(self._talks_next, key, name, ts)
            self._talks_writing = {}

    def _talks_noted(self, key: str) -> Talks:
        with self._talks_lock:
            noted: Talks = {}
            for talks in (self._talks_writing, self._talks_next):
                for k, (name, ts) in talks.items():
                    if k[0] == key:
                        _noted(noted, k, name, ts)
            return noted

    def talks(self, name: str) -> list[tuple[str, float]]:
        key = nick_key(name)
        noted = self._talks_noted(key)  # (first: what is written meanwhile is in the file when it is read)
        sql = "SELECT other, name, ts FROM account_talks WHERE account = ? ORDER BY ts DESC"
        found: Talks = {(key, row[0]): (row[1], row[2]) for row in self._rows(sql, (key,))}
        for k, (other, ts) in noted.items():
            _noted(found, k, other, ts)
        return sorted(((n, ts) for n, ts in found.values()), key=lambda t: -t[1])[:TALKS_MAX]
