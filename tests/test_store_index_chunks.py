"""The indexer's thread fills the word index in bounded chunks, letting the writer's lock go
between two, so a commit (which delivery waits for) waits for one chunk at most."""

from __future__ import annotations

from helpers import TIMEOUT

from chatserver.backends.roomlog import StoredRoom
from chatserver.backends.sqlite.indexing import EARLY_ROWS
from chatserver.backends.sqlite.search import INDEX_ROWS
from chatserver.backends.store import SqliteStore
from common import messages as m
from common.rooms import room_key


def test_the_indexer_indexes_at_most_a_chunk_per_transaction(tmp_path):
    rows = INDEX_ROWS - 1  # (more than EARLY_ROWS: the thread is woken; fewer than INDEX_ROWS: no commit indexes)
    assert rows > 128 >= EARLY_ROWS
    store = SqliteStore(tmp_path / "chunks.sqlite3", room_key=room_key, clock=lambda: 0.0)
    index = store._index
    fillings: list[tuple[int, int, bool]] = []  # (indexed before, after, the writer's lock held)
    catch_up = index.catch_up

    def counted(db, *args):
        before = index._indexed
        top = catch_up(db, *args)
        fillings.append((before, top if top is not None else before, store._database.lock.locked()))
        return top

    index.catch_up = counted
    try:
        store.save_room(StoredRoom("#a", "e", 0, ""))
        msgs = [
            m.ChatMessage(seq=s, ts=1000.0 + s, room="#a", nick="alice", text=f"word{s}") for s in range(1, rows + 1)
        ]
        assert all(store.stage(x) for x in msgs)
        assert store.commit() == set()
        assert store.wait_indexed(TIMEOUT)
        sizes = [after - before for before, after, _ in fillings if after > before]
        assert sum(sizes) == rows, fillings
        assert max(sizes) <= 128, f"rows per transaction: {sizes}"
        assert all(held for _, _, held in fillings)
        assert [x.seq for x in store.search("#a", f"word{rows}", 5)] == [rows]
    finally:
        store.close()


def test_a_store_closes_while_its_indexer_is_behind(tmp_path):
    """close() stops the indexer (waiting for its chunk, never giving up) then indexes what is left."""
    store = SqliteStore(tmp_path / "close.sqlite3", room_key=room_key, clock=lambda: 0.0)
    store.save_room(StoredRoom("#a", "e", 0, ""))
    msgs = [m.ChatMessage(seq=s, ts=1000.0 + s, room="#a", nick="bob", text=f"late{s}") for s in range(1, 200)]
    assert all(store.stage(x) for x in msgs)
    assert store.commit() == set()
    store.close()
    assert not store._indexer._thread.is_alive()
    again = SqliteStore(tmp_path / "close.sqlite3", room_key=room_key, clock=lambda: 0.0)
    try:
        assert again._index.behind == 0, "every row indexed by the close"
    finally:
        again.close()
