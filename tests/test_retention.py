"""The store within its limits: a size budget (the oldest go first), a default age, rooms left empty forgotten.
Real SQLite files; one real server for the defaults."""

from __future__ import annotations

import logging
import sqlite3
import time

from helpers import ServerProcess, wait_for

from chatserver.app.cli import retention_of
from chatserver.app.options import build_parser
from chatserver.backends.retention import DEFAULT_DAYS, DEFAULT_MAX_MB, MB, Retention
from chatserver.backends.roomlog import StoredRoom
from chatserver.backends.store import SqliteStore
from common import messages as m
from common.rooms import room_key


def _store(path) -> SqliteStore:
    return SqliteStore(path, room_key=room_key)


def _fill(store: SqliteStore, count: int, ts=lambda i: 1000.0 + i) -> None:
    for room in ("#a", "#b"):
        store.save_room(StoredRoom(room, "e", 0, ""))
    for i in range(1, count + 1):  # the rooms take turns: #a gets the odd ones, #b the even
        room = "#a" if i % 2 else "#b"
        text = f"message {i} " + " ".join(f"w{(i * 7 + k) % 3001}" for k in range(200))
        assert store.stage(m.ChatMessage(seq=(i + 1) // 2, ts=ts(i), room=room, nick="filler", text=text))
        if i % 200 == 0:
            assert store.commit() == set()
    assert store.commit() == set()


def _numbers(store: SqliteStore) -> list[int]:
    """The kept messages' numbers in the order they were said (``message N``)."""
    kept = store.recent("#a", 10**6) + store.recent("#b", 10**6)
    return sorted(int(x.text.split()[1]) for x in kept)


def test_over_its_size_budget_the_store_deletes_its_oldest_messages_and_says_so_once(tmp_path, caplog):
    store = _store(tmp_path / "s.sqlite3")
    _fill(store, 3000)
    budget = store.kept_bytes() // 3
    retention = Retention(store, days=None, messages=None, max_bytes=budget)
    with caplog.at_level(logging.INFO, logger="chatserver.backends.retention"):
        deleted = retention.keep_within_budget()
        assert deleted > 0
        assert store.kept_bytes() <= budget, "within the budget"
        assert _numbers(store) == list(range(deleted + 1, 3001)), "the oldest went first, whatever their room"
        assert retention.keep_within_budget() == 0, "within it: nothing more goes"
    lines = [r.getMessage() for r in caplog.records if "size budget" in r.getMessage()]
    assert len(lines) == 1 and f"its {deleted} oldest message(s) deleted" in lines[0], lines
    store.close()


def test_rooms_with_nobody_and_no_messages_at_two_rounds_are_forgotten(tmp_path):
    path = tmp_path / "r.sqlite3"
    before = _store(path)
    before.save_room(StoredRoom("#old-empty", "e0", 0, "a topic nobody reads"))
    before.close()
    store = _store(path)  # a restart: #old-empty is in the file, not held by the hub
    for name in ("#talk", "#held", "#left", "#back"):
        store.save_room(StoredRoom(name, "e", 0, ""))
    assert store.stage(m.ChatMessage(seq=1, ts=time.time(), room="#talk", nick="a", text="hi"))
    assert store.commit() == set()
    assert store.forget("#left") is False  # the hub let it go from memory: kept in the file for now
    assert store.forget("#talk") is False
    assert store.forget("#back") is False
    retention = Retention(store, days=None, messages=None)
    retention.prune_once()
    assert store.room("#left") is not None and store.room("#old-empty") is not None, "found empty once: kept"
    store.forget("#left")  # (looking at it above made it held again)
    store.forget("#old-empty")
    store.save_room(StoredRoom("#back", "e", 0, ""))  # taken in again since
    retention.prune_once()
    assert store.room("#talk") is not None, "it keeps a message"
    assert store.room("#back") is not None, "the hub holds it again"
    assert store.room("#held") is not None, "the hub holds it"
    assert store.room("#left") is None and store.room("#old-empty") is None
    store.close()


def test_defaults_and_zero_for_no_limit():
    parse = build_parser().parse_args
    store = object()
    default = retention_of(parse([]), store)
    assert (default._days, default._messages, default._max_bytes) == (DEFAULT_DAYS, None, DEFAULT_MAX_MB * MB)
    unlimited = retention_of(parse(["--retain-days", "0", "--store-max-mb", "0", "--retain-messages", "5"]), store)
    assert (unlimited._days, unlimited._messages, unlimited._max_bytes) == (None, 5, None)


def test_a_server_deletes_messages_older_than_the_default_at_start(tmp_path):
    path = tmp_path / "chat.sqlite3"
    store = _store(path)
    now = time.time()
    old = now - (DEFAULT_DAYS + 10) * 86400
    _fill(store, 400, ts=lambda i: old if i <= 100 else now)
    store.close()
    srv = ServerProcess("--store", str(path))

    def kept() -> int:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            db.close()

    try:
        assert wait_for(lambda: kept() == 300), kept()
    finally:
        code, log = srv.stop()
    assert "retention: 100 old message(s) deleted" in log
