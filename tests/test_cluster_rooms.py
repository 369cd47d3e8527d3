"""Several rooms across nodes: a failover resumes every room of a session; /search and plain clients span nodes."""

from __future__ import annotations

from helpers import NativeClient, PlainClient, hello


def accepted(client: NativeClient, text: str, room: str | None = None) -> int:
    client.send_json({"type": "say", "text": text, **({"room": room} if room else {})})
    answer = client.expect(lambda f: f["type"] in ("accepted", "error"))
    assert answer["type"] == "accepted", answer
    return answer["seq"]


def test_a_failover_resumes_every_room_with_exactly_what_was_missed_in_each(make_nodes):
    a, b = make_nodes(2, heartbeat=2)
    alice = NativeClient(a.port, "alice")
    alice.send_json({"type": "join", "room": "#dev"})
    dev = alice.expect(lambda f: f["type"] == "joined")
    alice.send_json({"type": "join", "room": "#ops"})
    ops = alice.expect(lambda f: f["type"] == "joined")  # the focus: #ops
    bob = NativeClient(b.port, "bob")
    for room in ("#dev", "#ops"):
        bob.send_json({"type": "join", "room": room})
        bob.expect(lambda f, room=room: f["type"] == "joined" and f["room"] == room)
    seen = {room: accepted(bob, f"seen in {room}", room) for room in ("#lobby", "#dev", "#ops")}
    assert len(alice.messages(3)) == 3

    a.kill()
    alice.read_until_closed()
    missed = {
        "#lobby": [accepted(bob, "lobby while away", "#lobby")],
        "#dev": [accepted(bob, f"dev while away {i}", "#dev") for i in range(2)],
        "#ops": [],
    }

    back = hello(
        b.port,
        nick="alice",
        resume=alice.welcome["token"],
        room="#ops",
        epoch=ops["epoch"],
        last_seq=seen["#ops"],
        rooms=["#lobby", "#dev"],
        epochs=[alice.welcome["epoch"], dev["epoch"]],
        last_seqs=[seen["#lobby"], seen["#dev"]],
    )
    welcome = back.expect(lambda f: f["type"] in ("welcome", "error"))
    assert (welcome["type"], welcome["room"], welcome["replay"]) == ("welcome", "#ops", 0), welcome
    replayed: dict[str, list[int]] = {"#ops": []}
    for _ in range(2):
        joined = back.expect(lambda f: f["type"] == "joined")
        frames = [back.frame() for _ in range(joined["replay"])]
        assert all(f["replay"] == "missed" and f["room"] == joined["room"] for f in frames), frames
        replayed[joined["room"]] = [f["seq"] for f in frames]
    assert replayed == missed, "each room: exactly the missed messages, none twice"
    back.send_json({"type": "who"})
    users = back.expect(lambda f: f["type"] == "users")
    assert users["room"] == "#ops", "the focus stays on the room the client named"
    assert accepted(back, "typed while away") == seen["#ops"] + 1, "posted to its focused room, next in line"
    assert bob.expect(lambda f: f["type"] == "message")["room"] == "#ops"


def test_search_finds_messages_said_on_another_node(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    for text in ("the build is red", "lunch at noon", "the build is green again"):
        accepted(alice, text)
    bob = NativeClient(b.port, "bob")
    bob.send_json({"type": "search", "words": "build"})
    head = bob.expect(lambda f: f["type"] == "notice" and f.get("event") == "search")
    assert "2 message(s)" in head["text"], head
    found = [bob.frame() for _ in range(2)]
    assert [(f["text"], f["replay"], f["nick"]) for f in found] == [
        ("the build is red", "search", "alice"),
        ("the build is green again", "search", "alice"),
    ]


def test_a_plain_client_on_one_node_talks_with_a_native_one_on_another(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    alice.say("hi from A")
    alice.expect(lambda f: f["type"] == "accepted")
    carol = PlainClient(b.port, "carol")
    assert carol.welcome.startswith(b"* welcome")
    carol.expect_line(lambda line: line == b"(history) alice: hi from A")
    assert alice.expect(lambda f: f["type"] == "notice" and f.get("event") == "join")["nick"] == "carol"
    carol.send(b"hello from B\n")
    got = alice.messages(1)[0]
    assert (got["nick"], got["text"]) == ("carol", "hello from B")
    alice.say("and back")
    carol.expect_line(lambda line: line == b"alice: and back")
    carol.send(b"/msg alice psst\n")
    assert alice.expect(lambda f: f["type"] == "private")["text"] == "psst"


def test_a_room_made_on_another_node_is_joined_not_made_and_a_hello_room_refused_is_named(make_nodes):
    """Rooms one address makes are counted on each node; a room Redis has already is joined, not made."""
    a, b = make_nodes(2, "--rooms-per-hour", "1")
    alice = NativeClient(a.port, "alice")
    alice.send_json({"type": "join", "room": "#dev"})  # alice's address made its one room of the hour, on A
    alice.expect(lambda f: f["type"] == "joined")
    bob = NativeClient(b.port, "bob")
    bob.send_json({"type": "join", "room": "#dev"})  # there already (made on A): joined on B
    assert bob.expect(lambda f: f["type"] in ("joined", "error"))["type"] == "joined"
    bob.send_json({"type": "join", "room": "#ops"})  # B's one for the hour
    assert bob.expect(lambda f: f["type"] in ("joined", "error"))["type"] == "joined"
    carol = hello(b.port, nick="carol", room="#new")
    welcome = carol.frame()
    assert (welcome["type"], welcome["room"]) == ("welcome", "#lobby")
    told = carol.expect(lambda f: f["type"] == "error")
    assert told["code"] == "too_many_rooms" and told["message"].startswith(
        "#new could not be joined: 127.0.0.1 made 1 room in the last hour, the most one address may"
    ), told
