"""Big rooms in a cluster: a room is crowded by its size across every node (presence's count,
``ClusterHub.size``), so a node whose own share of the room is small still announces nothing."""

from __future__ import annotations

from helpers import NativeClient


def until_marker(client: NativeClient, marker: str) -> list[dict]:
    got = []
    while True:
        f = client.frame()
        if f["type"] == "message" and f["text"] == marker:
            return got
        got.append(f)


def events(frames: list[dict], event: str) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "notice" and f.get("event") == event]


def test_a_room_crowded_across_nodes_is_crowded_on_each(make_nodes):
    one, two = make_nodes(2, "--announce-limit", "2")
    a = NativeClient(one.port, "a")
    b = NativeClient(two.port, "b")  # 2 in the room, one on each node: announced
    c = NativeClient(one.port, "c")  # 3: over the limit, on node one
    b.say("1")
    seen = until_marker(a, "1")
    assert events(seen, "join") == ["b joined #lobby"]
    assert events(seen, "crowd") == ["#lobby has over 2 people: joins and leaves are no longer announced"]
    # Node two holds one of the four: it still counts the room as the cluster does, and says no join.
    d = NativeClient(two.port, "d")
    assert len(d.welcome["users"]) + d.welcome.get("more", 0) == 4
    c.say("2")
    assert events(until_marker(a, "2"), "join") == []
    assert events(until_marker(b, "2"), "join") == []
