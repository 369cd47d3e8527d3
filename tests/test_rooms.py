"""Rooms, topics, away and history, through real sockets."""

from __future__ import annotations

from unittest.mock import ANY

from helpers import NativeClient, PlainClient, ServerProcess


def frames_until(client: NativeClient, kind: str) -> list[dict]:
    out = [client.frame()]
    while out[-1]["type"] != kind:
        out.append(client.frame())
    return out


def test_join_part_rooms_topic_and_per_room_delivery(server):
    alice, bob, carol = (NativeClient(server.port, n) for n in ("alice", "bob", "carol"))
    alice.send_json({"type": "join", "room": "#dev"})
    joined = frames_until(alice, "joined")[-1]
    assert joined == {
        "type": "joined",
        "room": "#dev",
        "topic": "",
        "users": ["alice"],
        "replay": 0,
        "epoch": ANY,
        "seq": 0,
        "more": 0,
    }
    bob.send_json({"type": "join", "room": "DEV"})  # '#' optional, case-insensitive
    assert frames_until(bob, "joined")[-1]["users"] == ["alice", "bob"]
    assert alice.expect(lambda f: f.get("event") == "join" and f["nick"] == "bob")["text"] == "bob joined #dev"
    alice.send_json({"type": "topic", "text": "release   friday"})
    topic = bob.expect(lambda f: f.get("event") == "topic")
    assert topic["topic"] == "release friday" and topic["text"] == "alice set the topic of #dev: release friday"
    # Messages go to the rooms of the sender's choice; joining #dev kept the lobby.
    carol.say("in lobby")
    carol.send_json({"type": "privmsg", "to": "alice", "text": "psst"})
    carol.say("lobby done")
    carol.expect(lambda f: f["type"] == "accepted" and f["seq"] == 2)  # (then bob's comes after it)
    bob.say("in dev")  # to bob's focused room
    seen_by_alice = []
    while not seen_by_alice or seen_by_alice[-1].get("text") != "in dev":
        f = alice.frame()
        if f["type"] in ("message", "private"):
            seen_by_alice.append(f)
    assert [(f.get("room"), f["text"]) for f in seen_by_alice] == [
        ("#lobby", "in lobby"),
        (None, "psst"),
        ("#lobby", "lobby done"),
        ("#dev", "in dev"),
    ]
    carol.send_json({"type": "list"})
    rooms = carol.expect(lambda f: f["type"] == "rooms")
    assert dict(zip(rooms["names"], rooms["counts"], strict=True)) == {"#dev": 2, "#lobby": 3}
    assert rooms["topics"][rooms["names"].index("#dev")] == "release friday"
    assert dict(zip(rooms["names"], rooms["mine"], strict=True)) == {"#dev": False, "#lobby": True}
    bob.send_json({"type": "part"})
    assert bob.expect(lambda f: f["type"] == "parted") == {"type": "parted", "room": "#dev", "focus": "#lobby"}
    assert alice.expect(lambda f: f.get("event") == "leave")["text"] == "bob left #dev"
    bob.send_json({"type": "part"})
    assert bob.expect(lambda f: f["type"] == "error")["message"].startswith("you are in #lobby only")


def test_joining_a_room_shows_its_recent_messages_as_history():
    srv = ServerProcess("--rate-limit", "0", "--history", "3")
    try:
        talker = NativeClient(srv.port, "talker")
        for i in range(5):
            talker.say(f"old {i}")
        talker.expect(lambda f: f["type"] == "accepted" and f["seq"] == 5)
        late = NativeClient(srv.port)
        late.send_json({"type": "hello", "version": 1, "nick": "late"})
        welcome = late.frame()
        assert welcome["type"] == "welcome" and welcome["replay"] == 3
        history = [late.frame() for _ in range(3)]
        assert [(f["text"], f["replay"]) for f in history] == [
            ("old 2", "history"),
            ("old 3", "history"),
            ("old 4", "history"),
        ]
        talker.say("new")
        live = late.messages(1)[0]
        assert live["text"] == "new" and "replay" not in live
    finally:
        srv.stop()


def test_plain_clients_use_rooms_too(server):
    nc = PlainClient(server.port, "nc")
    native = NativeClient(server.port, "native")
    nc.send(b"/join #ops\r\n")
    nc.expect_line(lambda line: line.startswith(b"* you are in #ops (1 here: nc)"))
    native.send_json({"type": "join", "room": "#ops"})
    # In two rooms now (#lobby kept): every room line says which room.
    nc.expect_line(lambda line: line == b"[#ops] * native joined #ops")
    nc.send(b"/topic on call\r\n/rooms\r\n")
    assert nc.expect_line(lambda line: line.startswith(b"* rooms:"))[-1] == (
        b"* rooms: #lobby (2, joined); #ops (2, joined) on call"
    )
    native.say("line one\nline two")  # (native is focused on #ops)
    assert nc.expect_line(lambda line: b"native:" in line)[-1] == b"[#ops] native: line one"
    assert nc.read_line() == b"    line two"


def test_away_is_shown_to_others(server):
    alice, bob = NativeClient(server.port, "alice"), NativeClient(server.port, "bob")
    bob.send_json({"type": "away", "reason": "lunch"})
    assert alice.expect(lambda f: f.get("event") == "away")["text"] == "bob is away: lunch"
    alice.send_json({"type": "who"})
    assert alice.expect(lambda f: f["type"] == "users")["away"] == ["bob"]
    alice.send_json({"type": "privmsg", "to": "bob", "text": "lunch?"})
    assert alice.expect(lambda f: f.get("event") == "away")["text"] == "bob is away: lunch"
    bob.send_json({"type": "away"})
    assert alice.expect(lambda f: f.get("event") == "away")["text"] == "bob is back"


def test_bad_room_names_are_refused(server):
    c = NativeClient(server.port, "c")
    for bad in ("#", "#" + "x" * 40, "#with space", "#\x1b[2J"):
        c.send_json({"type": "join", "room": bad})
        assert c.expect(lambda f: f["type"] == "error")["code"] == "invalid_room", bad


def test_reconnect_resumes_in_the_same_room(server):
    first = NativeClient(server.port, "roamer")
    token = first.welcome["token"]
    first.send_json({"type": "join", "room": "#dev"})
    epoch = frames_until(first, "joined")[-1]["epoch"]
    talker = NativeClient(server.port, "talker")
    talker.send_json({"type": "join", "room": "#dev"})
    frames_until(talker, "joined")
    talker.say("seen")
    seen = first.messages(1)[0]
    first.sock.close()  # the server may not notice yet: a half-open session
    talker.say("missed")
    talker.expect(lambda f: f["type"] == "accepted" and f["seq"] == seen["seq"] + 1)  # published, before we return
    again = NativeClient(server.port)
    again.send_json(
        {"type": "hello", "version": 1, "nick": "roamer", "resume": token, "last_seq": seen["seq"], "room": "#dev"}
        | {"epoch": epoch}
    )
    welcome = again.frame()
    assert (welcome["type"], welcome["room"], welcome["replay"]) == ("welcome", "#dev", 1)
    replay = again.frame()
    assert (replay["text"], replay["replay"]) == ("missed", "missed")


def test_rooms_are_listed_a_page_at_a_time(server):
    """121 rooms with people in them: ``list`` gives 50, in order of name, and how many more;
    ``after`` the last listed gives the next page, until none are left. Plain text says how to ask."""
    from common.commands import parse_input
    from common.messages import ListRooms

    assert parse_input("/rooms") == ListRooms() and parse_input("/rooms #r049") == ListRooms("#r049")
    made = [f"#r{i:03d}" for i in range(120)]
    members = [NativeClient(server.port, f"member{first}") for first in range(0, 120, 40)]
    for first, member in zip(range(0, 120, 40), members, strict=True):
        for room in made[first : first + 40]:
            member.send_json({"type": "join", "room": room})
            assert frames_until(member, "joined")[-1]["room"] == room
    asker = NativeClient(server.port, "asker")
    pages, listed, after = [], [], None
    while True:
        asker.send_json({"type": "list", **({"after": after} if after else {})})
        page = frames_until(asker, "rooms")[-1]
        pages.append((len(page["names"]), page["more"]))
        listed.extend(page["names"])
        if not page["more"]:
            break
        after = page["names"][-1]
    assert pages == [(50, 71), (50, 21), (21, 0)]
    assert sorted(listed) == sorted(["#lobby", *made]), "every room once, none twice"
    first, second = listed[49], listed[50]
    nc = PlainClient(server.port, "nc")
    nc.send(b"/rooms\r\n")
    line = nc.expect_line(lambda line: line.startswith(b"* rooms:"))[-1].decode()
    assert line.endswith(f"; {first} (1); and 71 more (/rooms {first})"), line[-80:]
    nc.send(f"/rooms {first}\r\n".encode())
    line = nc.expect_line(lambda line: line.startswith(b"* rooms:"))[-1].decode()
    assert line.startswith(f"* rooms: {second} (1); ") and line.endswith(f"and 21 more (/rooms {listed[99]})"), line
