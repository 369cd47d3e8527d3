"""The SQLite room log on real files: what is kept, what is refused, what is pruned."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from chatserver.backends.roomlog import StoredRoom
from chatserver.backends.store import SCHEMA_VERSION, SqliteStore, StoreError
from common import messages as m
from common.rooms import room_key


def _store(path) -> SqliteStore:
    return SqliteStore(path, room_key=room_key)


def _msg(room: str, seq: int, text: str, ts: float = 1000.0) -> m.ChatMessage:
    return m.ChatMessage(seq=seq, ts=ts + seq, room=room, nick="alice", text=text)


def _keep(store: SqliteStore, messages: list[m.ChatMessage]) -> None:
    assert all(store.stage(x) for x in messages)
    assert store.commit() == set()


def _all(store: SqliteStore, room: str) -> list[int]:
    return [x.seq for x in store.recent(room, 10**6)]


def test_rooms_messages_and_secret_survive_reopening(tmp_path):
    path = tmp_path / "chat.sqlite3"
    store = _store(path)
    assert path.stat().st_mode & 0o077 == 0, "chat logs are private to the server's user"
    secret = store.secret()
    store.save_room(StoredRoom("#Dev", "e1", 0, "release friday"))
    _keep(store, [_msg("#Dev", i, f"line {i}") for i in range(1, 6)])
    assert store.stage(_msg("#Dev", 6, "staged, never committed"))
    assert [x.seq for x in store.recent("#dev", 1)] == [6], "what is staged is seen before the commit"
    store.close()  # as a kill: the open transaction is lost
    again = _store(path)
    assert again.secret() == secret
    assert again.room("#dev") == StoredRoom("#Dev", "e1", 5, "release friday")
    assert again.room("#nope") is None
    assert [x.seq for x in again.recent("#dev", 2)] == [4, 5]
    assert [x.seq for x in again.recent("#dev", 2, before=4)] == [2, 3]
    assert again.recent("#dev", 5)[0] == _msg("#Dev", 1, "line 1")


def test_search_finds_words_in_one_room_newest_first(tmp_path):
    store = _store(tmp_path / "s.sqlite3")
    for room in ("#a", "#b"):
        store.save_room(StoredRoom(room, "e", 0, ""))
    _keep(store, [_msg("#a", 1, "the build is red"), _msg("#a", 2, "build green again"), _msg("#b", 1, "build")])
    assert [x.seq for x in store.search("#a", "build", 10)] == [2, 1]
    assert [x.seq for x in store.search("#a", "red build", 10)] == [1]
    assert store.search("#a", 'NEAR( "x" OR', 10) == [], "FTS syntax in the words is taken as plain words"


@pytest.mark.parametrize(
    "content",
    [b"\x00random bytes that are not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["random", "torn-header"],
)
def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path, content):
    path = tmp_path / "x.sqlite3"
    path.write_bytes(content)
    path.chmod(0o600)  # private, as a store must be: refused for what it holds
    with pytest.raises(StoreError, match=str(path)):
        _store(path)
    assert path.read_bytes() == content


def test_another_programs_database_and_a_newer_schema_are_refused_untouched(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    other.chmod(0o600)  # private, as a store must be: refused for what it holds
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not a lanchat store"):
        _store(other)
    assert other.read_bytes() == before
    newer = tmp_path / "newer.sqlite3"
    _store(newer).close()
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = newer.read_bytes()
    with pytest.raises(StoreError, match="newer"):
        _store(newer)
    assert newer.read_bytes() == before


def test_prune_by_age_and_by_count_in_batches(tmp_path):
    store = _store(tmp_path / "p.sqlite3")
    store.save_room(StoredRoom("#a", "e", 0, ""))
    _keep(store, [_msg("#a", i, f"{i}", ts=0) for i in range(1, 101)])  # ts = seq
    assert store.prune(older_than=51, keep_per_room=None, batch=20) == 20
    while store.prune(older_than=51, keep_per_room=None, batch=20):
        pass
    assert _all(store, "#a") == list(range(51, 101))
    while store.prune(older_than=None, keep_per_room=10, batch=7):
        pass
    assert _all(store, "#a") == list(range(91, 101))
    assert [x.seq for x in store.search("#a", "55", 10)] == [], "pruned messages leave the search index too"


def test_a_full_store_says_what_was_not_kept_and_keeps_again_when_it_can(tmp_path, caplog):
    """SQLite's own page limit stands in for a full disk: the same error (SQLITE_FULL)."""
    now = [0.0]
    store = SqliteStore(tmp_path / "full.sqlite3", room_key=room_key, clock=lambda: now[0])
    store.save_room(StoredRoom("#a", "e", 0, ""))
    pages = store._database.connection.execute("PRAGMA page_count").fetchone()[0]
    store._database.connection.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = "x" * 4000
    lost, seq = set(), 0
    while not lost and seq < 100:
        seq += 1
        assert store.stage(_msg("#a", seq, big))
        lost = store.commit()
    assert lost == {("#a", seq)}, "the store filled up, and says which message it could not keep"
    assert [x.seq for x in store.recent("#a", 1000)] == list(range(1, seq)), "what was kept before stays"
    for _ in range(3):  # still failing, but said once a minute at most
        store.stage(_msg("#a", seq + 1, big))
        store.commit()
    assert sum("cannot write the store" in r.message for r in caplog.records) == 1
    now[0] += 61
    store.stage(_msg("#a", seq + 1, big))
    store.commit()
    assert sum("cannot write the store" in r.message for r in caplog.records) == 2
    store._database.connection.execute("PRAGMA max_page_count = 1000000")  # room again
    assert store.stage(_msg("#a", seq + 2, "kept again")) and store.commit() == set()
    assert store.recent("#a", 1)[0].text == "kept again"
    assert any("kept again" in r.message for r in caplog.records)


def test_a_room_is_read_while_a_commit_holds_the_writer(tmp_path):
    """The hub asks for a room it does not hold (a /join, a first message) under its own lock:
    that read must not wait for a commit under way, or every room waits with it."""
    import threading

    from helpers import TIMEOUT

    class Gated(SqliteStore):
        def _commit_locked(self, staged):  # noqa: ANN001, ANN202 - (the writer's lock is held here)
            self.committing.set()
            assert self.gate.wait(TIMEOUT), "the test never opened the gate"
            return super()._commit_locked(staged)

    store = Gated(tmp_path / "chat.sqlite3", room_key=room_key)
    store.gate, store.committing = threading.Event(), threading.Event()
    try:
        store.save_room(StoredRoom("#other", "e2", 0, "elsewhere"))
        store.save_room(StoredRoom("#dev", "e1", 0, ""))
        store.stage(m.ChatMessage(seq=1, ts=1.0, room="#dev", nick="alice", text="hello"))
        committing = threading.Thread(target=store.commit, daemon=True)
        committing.start()
        assert store.committing.wait(TIMEOUT)
        found, read = [], threading.Event()
        reading = threading.Thread(target=lambda: (found.append(store.room("#other")), read.set()), daemon=True)
        reading.start()
        assert read.wait(TIMEOUT), "the room was read while the commit still held the writer"
        assert committing.is_alive(), "(the commit was still held)"
        assert found == [StoredRoom("#other", "e2", 0, "elsewhere")]
        assert store.room("#dev").seq == 1, "what is being committed counts in the room's position"
        store.gate.set()
        committing.join(TIMEOUT)
        assert store.room("#dev").seq == 1
    finally:
        store.gate.set()
        store.close()


def test_a_room_is_saved_while_a_commit_holds_the_writer(tmp_path):
    """The hub saves a room under its own lock (a room made, a topic set): that save must not
    wait for a commit under way (up to a whole fsync), or every room waits with it. It is
    readable at once, and written with the next commit."""
    import threading

    from helpers import TIMEOUT

    class Gated(SqliteStore):
        def _commit_locked(self, staged):  # noqa: ANN001, ANN202 - (the writer's lock is held here)
            self.committing.set()
            assert self.gate.wait(TIMEOUT), "the test never opened the gate"
            return super()._commit_locked(staged)

    path = tmp_path / "chat.sqlite3"
    store = Gated(path, room_key=room_key)
    store.gate, store.committing = threading.Event(), threading.Event()
    try:
        store.save_room(StoredRoom("#dev", "e1", 0, ""))
        store.stage(m.ChatMessage(seq=1, ts=1.0, room="#dev", nick="alice", text="hello"))
        committing = threading.Thread(target=store.commit, daemon=True)
        committing.start()
        assert store.committing.wait(TIMEOUT)
        saved = threading.Event()
        saving = threading.Thread(
            target=lambda: (
                store.save_room(StoredRoom("#new", "e2", 0, "fresh")),
                store.save_room(StoredRoom("#dev", "other", 0, "release friday")),
                saved.set(),
            ),
            daemon=True,
        )
        saving.start()
        assert saved.wait(TIMEOUT), "the rooms were saved while the commit still held the writer"
        assert committing.is_alive(), "(the commit was still held)"
        assert store.room("#new") == StoredRoom("#new", "e2", 0, "fresh"), "a staged room is read at once"
        assert store.room("#dev") == StoredRoom("#dev", "e1", 1, "release friday"), "its epoch and number stay"
        store.gate.set()
        committing.join(TIMEOUT)
        assert store.commit() == set()
    finally:
        store.gate.set()
        store.close()
    again = _store(path)
    try:
        assert again.room("#new") == StoredRoom("#new", "e2", 0, "fresh")
        assert again.room("#dev") == StoredRoom("#dev", "e1", 1, "release friday")
    finally:
        again.close()


def test_words_not_yet_indexed_are_found_and_pruning_them_keeps_the_index_whole(tmp_path):
    """The word index is filled a batch of commits at a time: a search finds what was just
    committed all the same, once, and retention may delete rows the index does not hold yet."""
    from chatserver.backends.sqlite.search import INDEX_ROWS

    path = tmp_path / "words.sqlite3"
    store = SqliteStore(path, room_key=room_key, clock=lambda: 0.0)  # (the clock stands still)
    store.save_room(StoredRoom("#a", "e", 0, ""))
    _keep(store, [_msg("#a", 1, "deploy the build"), _msg("#a", 2, "build again")])
    assert [x.seq for x in store.search("#a", "build", 10)] == [2, 1], "found before the index holds them"
    _keep(store, [_msg("#a", seq, f"filler {seq}") for seq in range(3, INDEX_ROWS + 3)])
    assert [x.seq for x in store.search("#a", "build", 10)] == [2, 1], "and once after"
    _keep(store, [_msg("#a", seq, f"late build {seq}") for seq in range(INDEX_ROWS + 3, INDEX_ROWS + 6)])
    while store.prune(older_than=None, keep_per_room=2, batch=50):
        pass
    assert [x.seq for x in store.search("#a", "build", 10)] == [INDEX_ROWS + 5, INDEX_ROWS + 4]
    db = sqlite3.connect(path)
    db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")  # (raises if not whole)
    db.close()
    _keep(store, [_msg("#a", INDEX_ROWS + 6, "closing build")])
    store.close()
    again = _store(path)
    try:
        assert [x.seq for x in again.search("#a", "build", 10)] == [INDEX_ROWS + 6, INDEX_ROWS + 5, INDEX_ROWS + 4]
    finally:
        again.close()


def test_the_words_are_indexed_behind_the_commits_not_in_them(tmp_path):
    """A commit that leaves EARLY_ROWS rows unindexed wakes the indexer's thread instead of
    indexing them before its batch is delivered: the clock stands still and the rows are fewer
    than INDEX_ROWS, so no commit indexes, and yet the index holds them, each found once."""
    from helpers import TIMEOUT

    from chatserver.backends.sqlite.indexing import EARLY_ROWS
    from chatserver.backends.sqlite.search import INDEX_ROWS

    assert EARLY_ROWS < INDEX_ROWS
    path = tmp_path / "behind.sqlite3"
    store = SqliteStore(path, room_key=room_key, clock=lambda: 0.0)
    store.save_room(StoredRoom("#a", "e", 0, ""))
    db = sqlite3.connect(path)
    try:
        _keep(store, [_msg("#a", seq, f"early word{seq}") for seq in range(1, EARLY_ROWS)])
        assert store.wait_indexed(TIMEOUT)
        assert db.execute("SELECT value FROM meta WHERE key = 'indexed'").fetchone() is None, "not yet woken"
        _keep(store, [_msg("#a", EARLY_ROWS, "the last early word")])
        assert store.wait_indexed(TIMEOUT), "the indexer answered"
        assert db.execute("SELECT value FROM meta WHERE key = 'indexed'").fetchone() == (str(EARLY_ROWS),)
        assert db.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'early'").fetchone() == (
            EARLY_ROWS,
        )
        assert [x.seq for x in store.search("#a", "early", 1000)] == list(range(EARLY_ROWS, 0, -1))
        _keep(store, [_msg("#a", EARLY_ROWS + 1, "one more early word")])
        assert [x.seq for x in store.search("#a", "early", 2)] == [EARLY_ROWS + 1, EARLY_ROWS], "and past it"
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")  # (raises if not whole)
    finally:
        db.close()
        store.close()


def test_a_slow_commit_is_said_at_debug_with_what_it_held_up(tmp_path, caplog):
    """Where a latency tail comes from, on a real machine (``--log-level DEBUG``): a commit that took
    longer than SLOW_COMMIT by the store's clock is logged with its messages; a quick one is not."""
    from chatserver.backends.store import SLOW_COMMIT

    now, step = [0.0], [0.0]

    def clock() -> float:  # (each reading moves it on by ``step``)
        now[0] += step[0]
        return now[0]

    store = SqliteStore(tmp_path / "slow.sqlite3", room_key=room_key, clock=clock)
    store.save_room(StoredRoom("#a", "e", 0, ""))
    caplog.set_level(logging.DEBUG, logger="chatserver.backends.store")
    try:
        _keep(store, [_msg("#a", 1, "quick")])
        assert not [r for r in caplog.records if "slow commit" in r.getMessage()]
        store.stage(_msg("#a", 2, "slow"))
        store.stage(_msg("#a", 3, "slow too"))
        step[0] = SLOW_COMMIT
        assert store.commit() == set()
        said = [r.getMessage() for r in caplog.records if "slow commit" in r.getMessage()]
        assert len(said) == 1 and "2 messages" in said[0], said
    finally:
        store.close()


def test_the_words_are_indexed_a_second_after_the_last_filling_however_few(tmp_path):
    from chatserver.backends.sqlite.search import INDEX_SECONDS

    path = tmp_path / "soon.sqlite3"
    now = [0.0]
    store = SqliteStore(path, room_key=room_key, clock=lambda: now[0])
    store.save_room(StoredRoom("#a", "e", 0, ""))

    def indexed() -> int:
        db = sqlite3.connect(path)
        row = db.execute("SELECT value FROM meta WHERE key = 'indexed'").fetchone()
        db.close()
        return int(row[0]) if row else 0

    try:
        _keep(store, [_msg("#a", 1, "one"), _msg("#a", 2, "two")])
        for seq in (3, 4):  # (commits keep coming: the second runs from the last filling, not the last commit)
            now[0] += INDEX_SECONDS * 0.4
            _keep(store, [_msg("#a", seq, f"line {seq}")])
        assert indexed() == 0, "a few rows, within a second: not yet"
        now[0] += INDEX_SECONDS * 0.4
        _keep(store, [_msg("#a", 5, "five")])
        assert indexed() == 5, "a second since the last filling: all of them"
        _keep(store, [_msg("#a", 6, "six")])
        assert indexed() == 5, "and the second starts again"
        assert [x.seq for x in store.search("#a", "six", 10)] == [6]
    finally:
        store.close()
    assert indexed() == 6, "what is left is indexed at close"
