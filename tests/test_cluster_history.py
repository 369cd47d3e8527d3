"""A history read from a room's Redis stream reads about as many entries as it shows (a real redis-server).

Every joiner of a node is greeted with the room's last messages, read from
the room's stream and parsed on the node, by a thread that shares the
node's CPU with delivery: fifty joiners reading 500 entries each to show 50
cost the node ten times the parsing they need. The messages come back the
same, notices among them skipped, whatever the pages they are read in.
"""

from __future__ import annotations

import msgspec
import pytest

from chatserver.cluster.link import Link
from chatserver.cluster.redislog import NOTICES_AMONG, PAGE, Entry, RedisBroker
from common import messages as m


@pytest.fixture
def stream(redis_server):
    """A room of 600 messages with a notice after every third; and what each read of it took."""
    link = Link(redis_server.url)
    broker = RedisBroker(link, "n1")
    broker.ensure("#dev")
    entries = []
    for i in range(1, 601):
        msg = m.ChatMessage(seq=0, ts=1.0, room="#dev", nick="alice", text=f"line {i}")
        entries.append(Entry("#dev", "m", m.encode(msgspec.structs.replace(msg, seq=0)).strip()))
        if i % 3 == 0:
            notice = m.Notice(text=f"bob{i} joined #dev", ts=1.0, event="join", nick=f"bob{i}", room="#dev")
            entries.append(Entry("#dev", "n", m.encode(notice).strip()))
    assert all(broker.append(entries))
    read: list[int] = []
    real = link.redis.xrevrange

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        page = real(*args, **kwargs)
        read.append(len(page))
        return page

    link.redis.xrevrange = counted  # type: ignore[method-assign]
    yield broker, read
    link.close()


def test_a_joiners_history_reads_about_as_many_entries_as_it_shows(stream):
    broker, read = stream
    shown = broker.recent("#dev", 50, before=601)
    assert [x.seq for x in shown] == list(range(551, 601)), "the last 50 messages, oldest first"
    assert [x.text for x in shown][:2] == ["line 551", "line 552"]
    assert sum(read) <= 3 * (50 + NOTICES_AMONG) < PAGE, f"entries read for 50 messages: {read}"


def test_a_resume_reads_no_further_back_than_what_it_missed(stream):
    broker, read = stream
    missed = broker.recent("#dev", 1000, before=601, after=590)
    assert [x.seq for x in missed] == list(range(591, 601))
    assert sum(read) <= 20, f"entries read for 10 missed messages: {read}"


def test_a_long_history_is_read_whole_across_pages(stream):
    broker, read = stream
    assert [x.seq for x in broker.recent("#dev", 450)] == list(range(151, 601))
    assert [x.seq for x in broker.recent("#dev", 1000)] == list(range(1, 601)), "back to the first"
    assert max(read) <= PAGE
