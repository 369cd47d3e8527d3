"""A room of many on a cluster hears one line where one server's room would: a crossing of the
announce line (``rules/crowd.py``) once per room, not once per node, and a dead node's people
leaving a crowded room in one line, not one leave each (two real nodes, a real Redis)."""

from __future__ import annotations

from helpers import NativeClient, frames_until
from test_big_rooms_cluster import events, until_marker
from test_cluster_outage import RECOVERY


def test_a_room_crossing_the_announce_line_is_told_once_whichever_nodes_its_people_join(make_nodes):
    one, two = make_nodes(2, "--announce-limit", "2")
    a = NativeClient(one.port, "a")
    b = NativeClient(two.port, "b")
    c = NativeClient(one.port, "c")  # 3: over the limit, judged on node one
    d = NativeClient(two.port, "d")  # 4: node two had never seen the room crowded itself
    e = NativeClient(two.port, "e")
    c.say("1")
    over = "#lobby has over 2 people: joins and leaves are no longer announced"
    for who in (a, b):
        assert events(until_marker(who, "1"), "crowd") == [over], "once, by the node whose join crossed it"
    for who in (d, e):
        who.send_json({"type": "quit"})
        who.read_until_closed()
    c.send_json({"type": "quit"})
    c.read_until_closed()  # 2 left: not yet back (back at 1)
    b.send_json({"type": "join", "room": "#elsewhere"})
    b.expect(lambda f: f["type"] == "joined")
    b.send_json({"type": "part", "room": "#lobby"})  # 1 left: announced again
    b.expect(lambda f: f["type"] == "parted" or (f["type"] == "notice" and f.get("event") == "crowd"))
    f = NativeClient(two.port, "f")
    f.say("2")
    seen = until_marker(a, "2")
    assert events(seen, "crowd") == ["#lobby has 1 people or fewer again: joins and leaves are announced again"]
    assert events(seen, "join") == ["f joined #lobby"]


def test_a_dead_nodes_people_leave_a_crowded_room_in_one_line(make_nodes):
    """A crowded room hears no leaves one by one: nor those of a dead node's people, however many.
    (A room that is not crowded hears each by name, as any leave: test_cluster_failover.py.)"""
    one, two = make_nodes(2, "--announce-limit", "2")
    bob = NativeClient(two.port, "bob")
    gone = [NativeClient(one.port, nick) for nick in ("carol", "dave", "erin")]
    frames_until(bob, lambda f: f.get("event") == "crowd")
    one.kill()
    for client in gone:
        client.read_until_closed()
    heard = frames_until(bob, lambda f: f.get("event") == "leave", RECOVERY)
    assert heard[-1]["text"] == "3 people left (their server is gone): carol, dave, erin"
    assert heard[-1].get("nick") is None and heard[-1]["room"] == "#lobby"
    eve = NativeClient(two.port, "eve")
    eve.say("after")
    assert events(until_marker(bob, "after"), "leave") == [], "one line, not one more per person"
