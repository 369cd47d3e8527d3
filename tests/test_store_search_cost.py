"""A search of the SQLite store costs the same in a room of 500 messages and of 5,000 (a real file).

The cost is counted in SQLite's own steps: the store looks at its clock once
every 1,000 steps of a search (its time budget's progress handler), and the
clock here only counts the looks. A search walks the word index's matches
newest first and stops at its limit; it used to walk the room's messages and
run the match for each, so its cost grew with the room.
"""

from __future__ import annotations

import time

from chatserver.backends.roomlog import StoredRoom
from chatserver.backends.store import SqliteStore
from common import messages as m
from common.rooms import room_key

NOW = time.time()


class Looks:
    """A clock that stands still and counts how often it is read."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> float:
        self.count += 1
        return 0.0


def _add(path, room: str, first: int, count: int) -> None:  # noqa: ANN001
    """``count`` long messages numbered from ``first``, all holding the word "common"; the store closed
    (closing it indexes every word)."""
    store = SqliteStore(path, room_key=room_key)
    if first == 1:
        store.save_room(StoredRoom(room, "e1", 0, ""))
    for seq in range(first, first + count):
        text = f"common words of message {seq} " + "filler " * 40
        assert store.stage(m.ChatMessage(seq=seq, ts=NOW + seq, room=room, nick="filler", text=text))
        if seq % 500 == 0:
            assert store.commit() == set()
    assert store.commit() == set()
    store.close()


def _search(path, room: str, words: str) -> tuple[list[int], int]:  # noqa: ANN001
    """The seqs found, and the clock's looks the search took."""
    looks = Looks()
    store = SqliteStore(path, room_key=room_key, clock=looks)
    before = looks.count
    found = [x.seq for x in store.search(room, words, 10)]
    taken = looks.count - before
    store.close()
    return found, taken


def test_a_search_costs_the_same_in_a_room_of_500_and_of_5000(tmp_path):
    path = tmp_path / "cost.sqlite3"
    _add(path, "#a", 1, 500)
    small, small_looks = _search(path, "#a", "common words")
    _add(path, "#a", 501, 4500)
    big, big_looks = _search(path, "#a", "common words")
    assert small == list(range(500, 490, -1)) and big == list(range(5000, 4990, -1)), "the newest first"
    assert big_looks <= small_looks + 2, f"SQLite's steps (thousands): {small_looks} for 500, {big_looks} for 5,000"


def test_a_room_with_no_match_is_searched_through_the_index_not_through_its_messages(tmp_path):
    """The matches are elsewhere: every one is looked at (and none is in the room), once."""
    path = tmp_path / "elsewhere.sqlite3"
    _add(path, "#a", 1, 2000)
    store = SqliteStore(path, room_key=room_key)
    store.save_room(StoredRoom("#b", "e2", 0, ""))
    assert store.stage(m.ChatMessage(seq=1, ts=NOW, room="#b", nick="bob", text="nothing alike"))
    store.commit()
    store.close()
    assert _search(path, "#b", "common")[0] == []
    assert _search(path, "#b", "alike")[0] == [1]


def test_a_search_walks_the_word_index_newest_first_and_finds_the_rest_by_id(tmp_path):
    """SQLite's plan for the two reads a search makes, on a real file: the word index is the outer
    loop, walked in its own order (no sort of every match), each match's message found by its id;
    the messages not indexed yet are found by their ids, not by walking the room's index. (The
    match itself is FTS5's C code, which SQLite's step counter above does not see.)"""
    import sqlite3

    from chatserver.backends.sqlite.search import MATCHES, NOT_INDEXED

    path = tmp_path / "plan.sqlite3"
    _add(path, "#a", 1, 300)
    db = sqlite3.connect(path)
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + MATCHES, ('"common"', room_key("#a"), 10))]
    loops = [step for step in plan if step.startswith(("SCAN", "SEARCH")) and " s " not in step]
    assert [s.split(" USING")[0] for s in loops] == ["SEARCH r", "SCAN f VIRTUAL TABLE INDEX 192:M1", "SEARCH m"]
    assert loops[-1].endswith("USING INTEGER PRIMARY KEY (rowid=?)") and not any("TEMP B-TREE" in s for s in plan)
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + NOT_INDEXED, (room_key("#a"), 290))]
    assert plan[0] == "SEARCH m USING INTEGER PRIMARY KEY (rowid>?)"
    db.close()


def test_a_small_room_beside_a_busy_one_is_searched_through_its_own_messages(tmp_path):
    """A private conversation or a quiet room beside a room of many matches: the index's walk would look
    at every one of the busy room's matches (newer than the small room's); the small room's own walk
    looks at its few messages (review of the index walk: 100 thousand steps at 20,000 matches)."""
    path = tmp_path / "beside.sqlite3"
    _add(path, "#busy", 1, 5000)
    store = SqliteStore(path, room_key=room_key)
    store.save_room(StoredRoom("@ann @bob", "e2", 0, ""))
    for seq in range(1, 6):
        assert store.stage(
            m.ChatMessage(seq=seq, ts=NOW - 10 + seq, room="@ann @bob", nick="ann", text="common ground")
        )
    assert store.commit() == set()
    store.close()
    found, looks = _search(path, "@ann @bob", "common")
    busy, busy_looks = _search(path, "#busy", "common")
    assert found == [5, 4, 3, 2, 1] and busy == list(range(5000, 4990, -1))
    assert looks <= 2, f"SQLite's steps (thousands) for 5 messages beside 5,000 matches: {looks}"
