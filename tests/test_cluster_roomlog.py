"""The room log's append script on a real redis-server: numbering, notices, refusals and trimming, batch by batch."""

from __future__ import annotations

import pytest

from chatserver.cluster import keys, redislog
from chatserver.cluster.link import Link
from chatserver.cluster.redislog import Entry, RedisBroker
from common import messages as m
from common.rooms import room_key


@pytest.fixture
def broker(redis_server):
    link = Link(redis_server.url)
    yield RedisBroker(link, "n1")
    link.close()


def entry(room: str, kind: str, text: str, ref: int = 0, exclude: str = "") -> Entry:
    msg = m.ChatMessage(seq=0, ts=1.5, room=room, nick="ann", text=text) if kind == "m" else m.Notice(text=text, ts=1.5)
    return Entry(room, kind, m.encode(msg).decode(), ref, exclude)


def test_a_batch_is_numbered_per_room_and_notices_take_their_place_between(broker, redis_server):
    ids = broker.append(
        [entry("#a", "m", "one"), entry("#b", "m", "uno"), entry("#a", "n", "x joined"), entry("#a", "n", "y joined")]
        + [entry("#a", "m", "two"), entry("#b", "n", "z left")]
    )
    assert ids == ["1-0", "1-0", "1-1", "1-2", "2-0", "1-1"]
    ids = broker.append([entry("#a", "n", "w joined"), entry("#a", "m", "three"), entry("#b", "m", "dos")])
    assert ids == ["2-1", "3-0", "2-0"]  # the numbering goes on from the batch before, notices after their message
    conn = redis_server.client()
    a = conn.hgetall(keys.room(room_key("#a")))
    assert (a["name"], a["seq"], a["sub"]) == ("#a", "3", "0")
    assert conn.hget(keys.room(room_key("#b")), "seq") == "2"
    assert a["epoch"] and a["epoch"] == conn.hget(keys.room(room_key("#b")), "epoch")  # both made by the first batch
    assert conn.smembers(keys.ROOMS) == {room_key("#a"), room_key("#b")}
    assert [i for i, _ in conn.xrange(keys.log(room_key("#a")))] == ["1-0", "1-1", "1-2", "2-0", "2-1", "3-0"]


def test_an_entry_keeps_its_fields_and_its_payload_as_given(broker, redis_server):
    payload = entry("#a", "m", "héllo\nthere ✓", ref=12345678901, exclude="bob").payload
    assert broker.append([Entry("#a", "m", payload, 12345678901, "bob")]) == ["1-0"]
    [(entry_id, fields)] = redis_server.client().xrange(keys.log(room_key("#a")))
    assert fields == {"k": "m", "p": payload, "n": "n1", "r": "12345678901", "x": "bob"}
    got = redislog.decode(entry_id, fields)
    assert isinstance(got, m.ChatMessage) and (got.seq, got.text) == (1, "héllo\nthere ✓")


def test_an_entry_redis_refuses_is_not_taken_and_the_others_are(broker, redis_server):
    conn = redis_server.client()
    broker.append([entry("#a", "m", "one"), entry("#b", "m", "uno")])
    conn.xadd(keys.log(room_key("#b")), {"k": "m"}, id="9-0")  # the stream is ahead of its room's number: XADD fails
    ids = broker.append([entry("#a", "m", "two"), entry("#b", "m", "lost"), entry("#a", "m", "three")])
    assert ids == ["2-0", "", "3-0"]
    assert conn.hget(keys.room(room_key("#b")), "seq") == "2"  # its number is used up, as before
    assert broker.append([entry("#a", "n", "after")]) == ["3-1"]


def test_a_room_is_trimmed_but_never_past_what_a_live_node_has_not_read(broker, redis_server, monkeypatch):
    monkeypatch.setattr(redislog, "KEPT", 5)
    conn = redis_server.client()
    log = keys.log(room_key("#a"))
    for _ in range(6):
        broker.append([entry("#a", "m", "x")] * 50)
    assert conn.xlen(log) < 300  # trimmed (to whole nodes of the stream: "~")
    first = int(conn.xrange(log, count=1)[0][0].partition("-")[0])
    assert first > 6
    conn.set(keys.alive("n2"), "1")
    conn.hset(keys.readpos(room_key("#a")), "n2", "301-0")  # n2 has read up to 301
    conn.hset(keys.readpos(room_key("#a")), "gone", "1-0")  # a node without a lease holds nothing back
    for _ in range(6):
        broker.append([entry("#a", "m", "y")] * 50)
    assert int(conn.xrange(log, count=1)[0][0].partition("-")[0]) <= 301  # what n2 has not read is all there
    assert conn.hkeys(keys.readpos(room_key("#a"))) == ["n2"]


def test_the_reader_gets_a_batch_decoded_and_numbered_and_records_its_position(broker, redis_server):
    broker.append(
        [entry("#a", "m", "one", ref=7, exclude="bob"), entry("#a", "n", "x joined"), entry("#a", "m", "two")]
    )
    log = keys.log(room_key("#a"))
    [(stream, entries)] = broker.read({log: "0-0"}, {"#a": "1-1"}, 100, 1)
    assert stream == log
    read = redislog.decode_entries(entries)
    assert [(e.id, e.kind, e.seq, e.node, e.ref, e.exclude) for e in read] == [
        ("1-0", "m", 1, "n1", "7", "bob"),
        ("1-1", "n", 0, "n1", "0", ""),
        ("2-0", "m", 2, "n1", "0", ""),
    ]
    assert [(type(e.msg), e.msg.text) for e in read] == [
        (m.ChatMessage, "one"),
        (m.Notice, "x joined"),
        (m.ChatMessage, "two"),
    ]
    assert (read[0].msg.seq, read[2].msg.seq) == (1, 2)  # numbered by their ids, not by the payload's 0
    assert redis_server.client().hget(keys.readpos(room_key("#a")), "n1") == "1-1"  # sent with the read
    assert broker.read({log: "2-0"}, {}, 100, 1) in ([], None)  # nothing after it: the block ends empty


def test_an_entry_that_will_not_decode_is_skipped_alone_and_fields_are_read_by_name(broker, redis_server):
    log = keys.log(room_key("#a"))
    conn = redis_server.client()
    good = entry("#a", "m", "fine").payload
    conn.xadd(log, {"k": "m", "p": good, "n": "n2", "r": "3", "x": ""}, id="1-0")
    conn.xadd(log, {"k": "m", "p": '{"type":"message","seq":"nope"}', "n": "n2", "r": "4", "x": ""}, id="2-0")
    conn.xadd(log, {"x": "ann", "r": "5", "n": "n2", "p": good, "k": "m"}, id="3-0")  # another order
    [(_, entries)] = broker.read({log: "0-0"}, {}, 100, 1)
    read = redislog.decode_entries(entries)
    assert [(e.seq, e.ref, e.exclude, e.msg.text if e.msg else None) for e in read] == [
        (1, "3", "", "fine"),
        (2, "4", "", None),
        (3, "5", "ann", "fine"),
    ]


def test_messages_are_encoded_with_their_batch_and_one_that_will_not_encode_is_refused_alone(broker, redis_server):
    said = [m.ChatMessage(seq=0, ts=2.5, room="#a", nick="ann", text=text) for text in ("one", "lone \ud800", "two")]
    ids = broker.append(
        [Entry("#a", "m", said[0], 1), Entry("#a", "m", said[1], 2), Entry("#a", "n", m.Notice(text="hi", ts=3.0))]
    )
    assert ids == ["1-0", "", "1-1"]
    assert broker.append([Entry("#a", "m", msg) for msg in (said[0], said[2])]) == ["2-0", "3-0"]
    log = keys.log(room_key("#a"))
    [(_, entries)] = broker.read({log: "0-0"}, {}, 100, 1)
    assert [(e.seq, e.msg) for e in redislog.decode_entries(entries)] == [
        (1, m.ChatMessage(seq=1, ts=2.5, room="#a", nick="ann", text="one")),
        (0, m.Notice(text="hi", ts=3.0)),
        (2, m.ChatMessage(seq=2, ts=2.5, room="#a", nick="ann", text="one")),
        (3, m.ChatMessage(seq=3, ts=2.5, room="#a", nick="ann", text="two")),
    ]
