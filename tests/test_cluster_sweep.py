"""Rooms nobody uses are forgotten in Redis after a while (a real redis-server; the sweep's clock is the test's)."""

from __future__ import annotations

from chatserver.cluster import keys
from chatserver.cluster.link import Link
from chatserver.cluster.redislog import Entry, RedisBroker
from chatserver.cluster.sweep import RoomSweeper
from common import messages as m
from common.rooms import room_key

EMPTY, KEPT = 600.0, 90 * 86400.0


def _room_keys(conn, name: str) -> list[str]:
    k = room_key(name)
    return [key for key in (keys.room(k), keys.log(k), keys.readpos(k), keys.members(k)) if conn.exists(key)]


def test_rooms_nobody_is_in_or_follows_are_forgotten_after_a_while(redis_server):
    conn = redis_server.client()
    link = Link(redis_server.url)
    try:
        here, gone_node = RedisBroker(link, "here"), RedisBroker(link, "gone")
        conn.set(keys.alive("here"), "1")  # this node lives; "gone" has no lease
        for name in ("#empty", "#said", "#held", "#busy", "#followed-by-the-dead"):
            (gone_node if name == "#followed-by-the-dead" else here).ensure(name)
        said = m.ChatMessage(seq=0, ts=1.0, room="#said", nick="a", text="hi")
        assert here.append([Entry("#said", "m", m.encode(said).decode().strip())])[0]
        conn.hset(keys.members(room_key("#busy")), "bob", "here/1")
        for name in ("#empty", "#said", "#busy"):
            here.forget(name)  # this node let them go: only #held is followed by it
        sweeper = RoomSweeper(link, empty_idle=EMPTY, kept_idle=KEPT, per_step=1000)

        assert sweeper.step(1000.0) == 0, "the first look only marks them idle"
        assert sweeper.step(1000.0 + EMPTY - 1) == 0, "not idle long enough yet"
        conn.delete(keys.members(room_key("#busy")))  # bob left #busy just now: its wait starts again
        assert sweeper.step(1000.0 + EMPTY) == 2
        rooms = set(conn.smembers(keys.ROOMS))
        assert rooms == {room_key(n) for n in ("#said", "#held", "#busy")}
        assert _room_keys(conn, "#empty") == [] and _room_keys(conn, "#followed-by-the-dead") == []
        assert here.room("#busy") is not None and conn.hget(keys.room(room_key("#busy")), "idle")

        assert sweeper.step(1000.0 + KEPT - 1) == 1, "#busy, idle for long enough now"
        assert sweeper.step(1000.0 + KEPT) == 1, "#said, with a message: after the kept time"
        assert set(conn.smembers(keys.ROOMS)) == {room_key("#held")}, "followed by a live node: kept"
        assert _room_keys(conn, "#said") == []

        epoch = here.room("#held").epoch
        again, _ = here.ensure("#empty")
        assert again.seq == 0 and again.epoch and room_key("#empty") in conn.smembers(keys.ROOMS), "made anew"
        assert here.room("#held").epoch == epoch
    finally:
        link.close()
