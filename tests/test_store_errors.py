"""Hostile requests and a damaged store file: each is answered with an error frame, the session goes on,
and the log says it in a line (no traceback per request). A real server on a real SQLite file."""

from __future__ import annotations

import sqlite3
import time

import pytest
from helpers import NativeClient, ServerProcess, ask_who, hello, wait_for

from chatserver.backends.roomlog import StoredRoom
from chatserver.backends.store import SqliteStore
from common import messages as m
from common.errors import InvalidFrame
from common.rooms import room_key


@pytest.mark.parametrize("value", [m.INT_MIN, -1, 0, m.INT_MAX])
def test_integers_of_64_bits_are_taken(value):
    assert m.decode(f'{{"type":"history","count":5,"before":{value}}}'.encode()) == m.History(5, value)


@pytest.mark.parametrize("value", [m.INT_MAX + 1, m.INT_MIN - 1, 2**64, 10**30])
def test_integers_past_64_bits_are_refused(value):
    with pytest.raises(InvalidFrame, match="64 bits"):
        m.decode(f'{{"type":"history","count":5,"before":{value}}}'.encode())
    with pytest.raises(InvalidFrame, match="finite number"):  # a number field given an integer
        m.decode(f'{{"type":"message","seq":1,"ts":{value},"room":"#a","nick":"a","text":"t"}}'.encode())


def _store_with_messages(path) -> None:
    store = SqliteStore(path, room_key=room_key)
    for name in ("#lobby", "#dev"):
        store.save_room(StoredRoom(name, "e1", 0, ""))
    now = time.time()  # (recent: the default retention keeps them)
    for seq in range(1, 201):
        store.stage(m.ChatMessage(seq=seq, ts=now + seq, room="#lobby", nick="old", text=f"kept line {seq} " * 20))
    assert store.commit() == set()
    store.close()


def test_hostile_search_words_and_history_positions_are_answered(tmp_path):
    path = tmp_path / "chat.sqlite3"
    _store_with_messages(path)
    srv = ServerProcess("--store", str(path), "--rate-limit", "0")
    try:
        alice = NativeClient(srv.port, "alice")
        for words in ("\u0000", "\u0000kept\u0000", '"', "NEAR(", "kept.line.7"):
            alice.send_json({"type": "search", "words": words})
            got = alice.expect(lambda f: f["type"] == "error" or f.get("text", "").startswith("search results"))
            assert got["type"] == "notice", (words, got)
        answer = lambda f: f["type"] == "error" or "earlier message(s)" in f.get("text", "")  # noqa: E731
        alice.send_json({"type": "history", "count": 5, "before": 2**63})
        got = alice.expect(answer)
        assert (got["type"], got["code"]) == ("error", "invalid_frame"), got
        assert "64 bits" in got["message"]
        alice.send_json({"type": "history", "count": 5, "before": 2**63 - 1})
        got = alice.expect(answer)
        assert got["type"] == "notice" and "5 earlier message(s)" in got["text"], got
        assert ask_who(alice)["nicks"] == ["alice"], "still served"
    finally:
        code, log = srv.stop()
    assert code == 0 and "Traceback" not in log, log[-3000:]


def _damage(path, *tables: str) -> None:
    """Write garbage over the pages of ``tables`` (and their indexes); the file's header stays."""
    db = sqlite3.connect(path)
    pages = db.execute("PRAGMA page_size").fetchone()[0]
    marks = ",".join("?" * len(tables))
    roots = [
        r
        for (r,) in db.execute(
            f"SELECT rootpage FROM sqlite_master WHERE rootpage > 0 AND (tbl_name IN ({marks}))", tables
        )
    ]
    db.close()
    assert roots
    with open(path, "r+b") as f:
        for root in roots:
            f.seek((root - 1) * pages)
            f.write(b"\xa5" * pages)


def test_a_damaged_history_is_answered_and_joins_go_on(tmp_path):
    path = tmp_path / "chat.sqlite3"
    _store_with_messages(path)
    _damage(path, "messages")
    srv = ServerProcess("--store", str(path), "--rate-limit", "0")
    try:
        clients = [NativeClient(srv.port, f"user{i}") for i in range(3)]  # joined, without history
        alice = clients[0]
        for request in ({"type": "history", "count": 5}, {"type": "search", "words": "kept"}) * 2:
            alice.send_json(request)
            got = alice.expect(lambda f: f["type"] == "error" or f.get("event") in ("history", "search"))
            assert (got["type"], got.get("code")) == ("error", "unavailable"), got
            assert "cannot read its store" in got["message"]
        alice.say("still talking")
        assert clients[1].messages(1)[0]["text"] == "still talking"
        assert ask_who(alice)["nicks"] == ["user0", "user1", "user2"]
    finally:
        code, log = srv.stop()
    assert code == 0 and "Traceback" not in log, log[-3000:]
    assert log.count("cannot read the store") == 1, "said once, not once per request"


def test_a_damaged_room_table_refuses_a_join_with_a_reason(tmp_path):
    path = tmp_path / "chat.sqlite3"
    _store_with_messages(path)
    _damage(path, "rooms")
    srv = ServerProcess("--store", str(path), "--rate-limit", "0")
    try:
        for _ in range(3):
            client = hello(srv.port, nick="alice")
            got = client.expect(lambda f: f["type"] in ("welcome", "error"))
            assert got["type"] == "error" and "cannot read its store" in got["message"], got
            assert client.expect(lambda f: f["type"] == "bye")
            client.close()
        assert wait_for(lambda: srv.proc.poll() is None)
    finally:
        code, log = srv.stop()
    assert code == 0 and "Traceback" not in log, log[-3000:]
    assert log.count("cannot read the store") == 1, "said once, not once per request"
