"""Rooms, topics, away and history, through real sockets."""

from __future__ import annotations

import socket
from unittest.mock import ANY

import pytest
from helpers import TIMEOUT, NativeClient, PlainClient, ServerProcess


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


# --- who may make a room, and how fast anyone joins (roomquota.py) ---------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_makes_so_many_rooms_an_hour_and_the_last_tenth_is_for_those_who_made_few():
    from chatserver.core.roomquota import RoomQuota

    clock = FakeClock()
    quota = RoomQuota(3, clock=clock)
    for _ in range(3):
        assert quota.refusal("10.0.0.5", mine=0, busy=0, cap=1000) == ""
        quota.made("10.0.0.5")
        clock.now += 60
    assert quota.refusal("10.0.0.5", mine=0, busy=0, cap=1000) == (
        "10.0.0.5 made 3 rooms in the last hour, the most one address may; a new one can be made in 57 min"
    )
    assert quota.refusal("10.0.0.6", mine=0, busy=0, cap=1000) == "", "another address has its own"
    clock.now += 57 * 60  # the first of the three is an hour old
    assert quota.refusal("10.0.0.5", mine=0, busy=0, cap=1000) == ""
    # The reserve: with 900 of 1000 rooms in use, only an address that made fewer than 3 of them.
    assert quota.refusal("10.0.0.6", mine=3, busy=900, cap=1000).startswith("the last 100 rooms are kept for")
    assert quota.refusal("10.0.0.6", mine=2, busy=900, cap=1000) == ""
    assert quota.refusal("10.0.0.6", mine=3, busy=899, cap=1000) == ""


def test_joins_from_an_address_are_rate_limited():
    from chatserver.core.roomquota import RoomQuota

    clock = FakeClock()
    quota = RoomQuota(join_rate=2, join_burst=5, clock=clock)
    assert [quota.join("10.0.0.5") for _ in range(5)] == [""] * 5
    assert quota.join("10.0.0.5").startswith("joining rooms too fast from 10.0.0.5 (at most 2 a second)")
    assert quota.join("10.0.0.6") == ""
    clock.now += 0.5  # one more
    assert quota.join("10.0.0.5") == "" and quota.join("10.0.0.5") != ""


def test_the_hub_keeps_rooms_in_reserve_for_addresses_that_made_few():
    from helpers import Member

    from chatserver.core.hub import LocalHub, TooManyRooms
    from chatserver.core.roomquota import RoomQuota

    hub = LocalHub(max_rooms=20)  # the last 2 in reserve
    hub.quota = RoomQuota(100)
    greedy = Member("greedy")
    greedy.address = "10.0.0.5"
    hub.enter(greedy, "greedy", "#lobby", lambda *g: None)
    made = 0
    with pytest.raises(TooManyRooms, match="the last 2 rooms are kept for"):
        while True:
            hub.join(f"#r{made}", greedy)
            made += 1
    assert made == 17, "the lobby and 17 rooms in use: 18 of 20"
    other = Member("other")
    other.address = "10.0.0.6"
    hub.enter(other, "other", "#mine", lambda *g: None)
    assert "#mine" in {r.name for r in hub.rooms()}
    with pytest.raises(TooManyRooms, match="the last 2 rooms are kept for"):
        hub.join("#more", greedy)


def connect_from(port: int, source: str) -> NativeClient:
    """A native client whose connection comes from ``source`` (another loopback address: another machine)."""
    client = NativeClient.__new__(NativeClient)
    client.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0))
    client.buf, client.lines, client.welcome = b"", [], None
    return client


def test_one_address_cannot_take_every_room_and_is_told_which_it_did_not_get(server):
    """50 rooms an hour from one address (the default): a hello's rooms beyond are named, with why,
    its own room is not the lobby in silence, and another machine still makes rooms."""
    greedy = connect_from(server.port, "127.0.0.2")
    rooms = [f"#r{i}" for i in range(1, 50)]
    greedy.send_json({"type": "hello", "version": 1, "nick": "greedy", "room": "#r0", "rooms": rooms})
    frames = frames_until(greedy, "joined")
    while len([f for f in frames if f["type"] == "joined"]) < 49:
        frames += frames_until(greedy, "joined")
    assert (frames[0]["type"], frames[0]["room"]) == ("welcome", "#r0")

    again = connect_from(server.port, "127.0.0.2")
    again.send_json({"type": "hello", "version": 1, "nick": "greedy2", "room": "#f", "rooms": ["#g"]})
    welcome = again.frame()
    assert (welcome["type"], welcome["room"]) == ("welcome", "#lobby")
    errors = [again.expect(lambda f: f["type"] == "error") for _ in range(2)]
    assert [e["code"] for e in errors] == ["too_many_rooms"] * 2
    head = "127.0.0.2 made 50 rooms in the last hour, the most one address may; a new one can be made in "
    assert errors[0]["message"].startswith(f"#f could not be joined: {head}"), errors
    assert errors[0]["message"].endswith("; you are in #lobby"), errors
    assert errors[1]["message"].startswith(f"#g could not be joined again: {head}"), errors
    again.send_json({"type": "join", "room": "#h"})
    refused = again.expect(lambda f: f["type"] in ("joined", "error"))
    assert refused["code"] == "too_many_rooms" and refused["message"].startswith(head)
    again.send_json({"type": "join", "room": "#r7"})  # a room that is there is joined
    assert again.expect(lambda f: f["type"] in ("joined", "error"))["type"] == "joined"

    plain = PlainClient.__new__(PlainClient)  # nc from that machine
    plain.sock = connect_from(server.port, "127.0.0.2").sock
    plain.buf, plain.lines = b"", []
    plain.send(b"nc\n")
    plain.expect_line(lambda line: line.startswith(b"* welcome"))
    plain.send(b"/join #i\r\n")
    line = plain.expect_line(lambda line: line.startswith(b"* error"))[-1]
    assert line.startswith(b"* error: " + head.encode()), line

    other = NativeClient(server.port, "other")  # another machine makes its rooms
    other.send_json({"type": "join", "room": "#f"})
    assert frames_until(other, "joined")[-1]["room"] == "#f"


def test_joining_too_fast_from_one_address_is_refused_with_why(server):
    hopper = NativeClient(server.port, "hopper")
    for _ in range(300):  # (100 at once, then 2 a second: refused well before 300)
        hopper.send_json({"type": "join", "room": "#hop"})
        got = hopper.expect(lambda f: f["type"] in ("joined", "error"))
        if got["type"] == "error":
            break
        hopper.send_json({"type": "part", "room": "#hop"})
        hopper.expect(lambda f: f["type"] == "parted")
    assert (got["type"], got.get("code")) == ("error", "too_many_joins"), got
    assert got["message"].startswith("joining rooms too fast from 127.0.0.1 (at most 2 a second)")
    hopper.say("still here")  # refused, not ended
    assert hopper.expect(lambda f: f["type"] == "accepted")["room"] == "#lobby"


def test_rooms_are_listed_a_page_at_a_time(server):
    """121 rooms with people in them: ``list`` gives 50, in order of name, and how many more;
    ``after`` the last listed gives the next page, until none are left. Plain text says how to ask."""
    from common.commands import parse_input
    from common.messages import ListRooms

    assert parse_input("/rooms") == ListRooms() and parse_input("/rooms #r049") == ListRooms("#r049")
    made = [f"#r{i:03d}" for i in range(120)]
    members = []  # each from its own address: 40 rooms each, within what one address may make
    for i in range(3):
        member = connect_from(server.port, f"127.0.0.{2 + i}")
        member.send_json({"type": "hello", "version": 1, "nick": f"member{i}"})
        assert member.expect(lambda f: f["type"] in ("welcome", "error"))["type"] == "welcome"
        members.append(member)
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
