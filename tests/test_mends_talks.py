"""The /privates list of an account's conversations: on SQLite, a private message costs no
transaction of its own under the writer's lock (noted for the next commit) and reads never take
that lock; on a Redis outage, noting it never fails a message that was kept."""

from __future__ import annotations

import sqlite3
import threading
from types import SimpleNamespace

from helpers import TIMEOUT

from chatserver.backends.records import Unavailable
from chatserver.backends.store import SqliteStore
from chatserver.rules import privates
from common import messages as m
from common.rooms import room_key


def _while_the_writer_is_held(store: SqliteStore, work) -> bool:
    """Run ``work`` on a thread while this one holds the writer's lock (as a long commit does);
    whether it finished without the lock."""
    finished = threading.Event()

    def run() -> None:
        work()
        finished.set()

    with store._database.lock:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        done = finished.wait(TIMEOUT)
    thread.join(TIMEOUT)
    return done


def test_a_conversation_is_noted_and_read_without_the_writers_lock(tmp_path):
    from chatserver.accounts import hashing
    from chatserver.backends.accounts import StoredAccount

    path = tmp_path / "talks.sqlite3"
    store = SqliteStore(path, room_key=room_key, clock=lambda: 0.0)
    seen: list = []
    try:
        for name in ("alice", "bob"):
            assert store.accounts.create(StoredAccount(name, hashing.hash_password("x" * 12, hashing.CHEAP), 1.0))

        def work() -> None:
            store.accounts.talked("alice", "bob", 10.0)
            seen.append(store.accounts.talks("alice"))
            seen.append(store.accounts.account("bob"))

        assert _while_the_writer_is_held(store, work), "noting and reading waited for the writer's lock"
        assert seen[0] == [("bob", 10.0)] and seen[1] is not None and seen[1].name == "bob"
        assert store.commit() == set(), "a commit with nothing staged writes the conversations noted"
        db = sqlite3.connect(path)
        try:
            rows = db.execute("SELECT account, name, ts FROM account_talks ORDER BY account").fetchall()
        finally:
            db.close()
        assert rows == [("alice", "bob", 10.0), ("bob", "alice", 10.0)]
        store.accounts.talked("bob", "alice", 20.0)  # (not committed: the close writes it)
    finally:
        store.close()
    again = SqliteStore(path, room_key=room_key, clock=lambda: 0.0)
    try:
        assert again.accounts.talks("alice") == [("bob", 20.0)] and again.accounts.talks("bob") == [("alice", 20.0)]
    finally:
        again.close()


class _RedisDown:
    def talked(self, one: str, other: str, ts: float) -> None:
        raise Unavailable("the cluster's Redis cannot be reached")


def test_a_private_message_is_kept_and_said_kept_when_the_list_cannot_be_noted(caplog):
    published: list[str] = []
    me = SimpleNamespace(
        account="alice",
        server=SimpleNamespace(accounts=SimpleNamespace(store=_RedisDown())),
        hub=SimpleNamespace(publish=lambda room, build: published.append(build(1, 5.0).text)),
    )
    said = m.Private(ts=5.0, nick="alice", to="bob", text="hello")
    assert privates.kept(me, said, "bob") is True
    assert published == ["hello"], "the message itself is kept"
    assert "cannot list the conversation" in caplog.text
