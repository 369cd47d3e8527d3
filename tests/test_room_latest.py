"""A room's memory of its last delivered messages (``core/rooms.py``'s ``Latest``) is bounded in count and in text."""

from __future__ import annotations

from chatserver.core import rooms
from common import messages as m


def message(seq: int, text: str) -> m.ChatMessage:
    return m.ChatMessage(seq=seq, ts=0.0, room="#r", nick="alice", text=text)


def test_latest_keeps_at_most_latest_messages_oldest_first():
    latest = rooms.Latest()
    for seq in range(1, rooms.LATEST + 11):
        latest.append((seq, message(seq, "hi")))
    seqs = [seq for seq, _ in latest]
    assert len(latest) == rooms.LATEST
    assert seqs == list(range(11, rooms.LATEST + 11))


def test_latest_holds_at_most_latest_chars_of_text_but_always_the_newest():
    latest = rooms.Latest()
    long = "x" * 8000
    for seq in range(1, 101):
        latest.append((seq, message(seq, long)))
    assert sum(len(msg.text) for _, msg in latest) <= rooms.LATEST_CHARS
    assert [seq for seq, _ in latest][-1] == 100
    assert len(latest) == rooms.LATEST_CHARS // 8000
    huge = "y" * (rooms.LATEST_CHARS + 1)
    latest.append((101, message(101, huge)))
    assert [seq for seq, _ in latest] == [101]


def test_a_room_that_forgot_says_so_rather_than_greet_with_a_gap():
    room = rooms.Room.__new__(rooms.Room)
    room.latest = rooms.Latest()
    room.seq = 0
    for seq in range(1, 21):
        room.latest.append((seq, message(seq, "z" * 8000)))
        room.seq = seq
    assert room.delivered_after(19) == [msg for seq, msg in room.latest if seq == 20]
    assert room.delivered_after(20) == []
    assert room.delivered_after(5) is None  # (15 messages back: more text than the room keeps)
