"""Searching the store: words, a time budget, and never holding up delivery (real files, a real server)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from helpers import NativeClient, ServerProcess, frames_until, wait_for

from chatserver.backends.roomlog import SearchTooLong, StoredRoom
from chatserver.backends.sqlite.search import SMALL_ROOM
from chatserver.backends.store import SqliteStore
from common import messages as m
from common.rooms import room_key

NOW = time.time()  # (recent: a server's default retention keeps them)


def _msg(room: str, seq: int, text: str) -> m.ChatMessage:
    return m.ChatMessage(seq=seq, ts=NOW + seq, room=room, nick="filler", text=text)


def _fill(store: SqliteStore, room: str, texts: list[str]) -> None:
    store.save_room(StoredRoom(room, "e1", 0, ""))
    for seq, text in enumerate(texts, 1):
        assert store.stage(_msg(room, seq, text))
        if seq % 500 == 0:
            assert store.commit() == set()
    assert store.commit() == set()


def test_a_word_with_punctuation_is_several_words_and_no_input_breaks_the_query(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3", room_key=room_key)
    _fill(store, "#a", ["run deploy.sh again", "deploy later", "sh is a shell"])
    assert [x.seq for x in store.search("#a", "deploy.sh", 10)] == [1]
    assert [x.seq for x in store.search("#a", "sh.deploy", 10)] == [1], "each part is a word, in any order"
    assert [x.seq for x in store.search("#a", "deploy", 10)] == [2, 1]
    for hostile in ("\u0000", '"', "'", "*", "NEAR(", "-", "^", "\u0000deploy\u0000"):
        found = [x.seq for x in store.search("#a", hostile, 10)]
        assert found == ([2, 1] if "deploy" in hostile else []), hostile
    store.close()


def test_a_search_past_its_time_budget_is_stopped(tmp_path):
    now = [0.0]

    def clock() -> float:  # every look at the clock finds a second gone
        now[0] += 1.0
        return now[0]

    texts = [f"word{i % 7} common filler text number {i}" for i in range(2000)]
    path = tmp_path / "b.sqlite3"
    store = SqliteStore(path, room_key=room_key, clock=clock, search_seconds=5.0)
    _fill(store, "#a", texts)
    # #b is searched through the index (past SMALL_ROOM messages): every match of the index, all in #a, is looked at
    _fill(store, "#b", ["nothing alike"] * (SMALL_ROOM + 1))
    with pytest.raises(SearchTooLong, match="took too long; narrow it"):
        store.search("#b", "common filler", 10)
    store.close()
    roomy = SqliteStore(path, room_key=room_key, clock=clock, search_seconds=1e12)
    assert len(roomy.search("#a", "common filler", 10)) == 10, "the same clock with room to spare: found"
    assert [x.seq for x in roomy.recent("#a", 2)] == [1999, 2000], "history reads have no budget to run out"
    roomy.close()


def _searching(client: NativeClient, answers: list[int], lock: threading.Lock, stop: threading.Event) -> None:
    """Read ``client``'s frames, counting search answers (a heading, or too long) into ``answers[0]``."""
    while not stop.is_set():
        try:
            f = client.frame(timeout=0.5)
        except (TimeoutError, EOFError, OSError):
            continue
        heading = f["type"] == "notice" and f.get("event") == "search" and f["text"].startswith("search results")
        if heading or (f["type"] == "error" and f["code"] == "search_too_long"):
            with lock:
                answers[0] += 1


def test_messages_between_others_are_delivered_while_searches_run(tmp_path):
    """Two sessions search in a loop, with a search that matches nothing in their room and
    every one of the store's many long messages elsewhere (each is looked at: the index
    walks its matches newest first, and none is in the room). Meanwhile bob sends carol five
    messages one after another, each after the last arrived. Delivery must not wait
    for a search: while those five arrive, each searcher finishes at most the search
    it was running (before, every delivery waited for a search to end)."""
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    path = tmp_path / "big.sqlite3"
    store = SqliteStore(path, room_key=room_key)
    _fill(store, "#big", [" ".join(rng.choice(words) for _ in range(1200)) for _ in range(4000)])
    _fill(store, "#quiet", ["nothing alike"] * (SMALL_ROOM + 1))  # (searched through the index: see SMALL_ROOM)
    store.close()
    srv = ServerProcess("--store", str(path), "--rate-limit", "0", "--history", "0")
    stop = threading.Event()
    lock = threading.Lock()
    searchers, readers = [], []
    try:
        query = " ".join(words[:15])
        answers = [0]
        for nick in ("finder1", "finder2"):
            finder = NativeClient(srv.port, nick)
            finder.send_json({"type": "join", "room": "#quiet"})
            frames_until(finder, lambda f: f["type"] == "joined")
            for _ in range(30):  # pipelined: the next is waiting while one runs
                finder.send_json({"type": "search", "words": query})
            searchers.append(finder)
            reader = threading.Thread(target=_searching, args=(finder, answers, lock, stop), daemon=True)
            reader.start()
            readers.append(reader)
        bob, carol = NativeClient(srv.port, "bob"), NativeClient(srv.port, "carol")
        assert wait_for(lambda: answers[0] >= 2, timeout=60), "the searches answer"
        with lock:
            before = answers[0]
        during = []
        for i in range(5):
            bob.say(f"hello {i}")
            got = carol.messages(1, timeout=60)[0]
            assert got["text"] == f"hello {i}"
            with lock:
                during.append(answers[0] - before)
        assert during[-1] <= len(searchers), f"searches finished while 5 messages were delivered: {during}"
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=5)
        srv.stop()
