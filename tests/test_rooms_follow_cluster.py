"""A person's rooms follow it across devices on two nodes of a cluster: real nodes on a real Redis.

A device on one node joining or parting a room has the device on the other
node join or part it too (asked through that node's inbox), the room told
once; a room operator's kick on one node puts the device on the other out of
that room only.
"""

from __future__ import annotations

from helpers import NativeClient, frames_until
from test_accounts_devices import login, token_of


def joined(client: NativeClient, room: str) -> dict:
    return client.expect(lambda f: f["type"] == "joined" and f["room"] == room)


def test_a_room_joined_parted_and_kicked_out_of_on_one_node_follows_the_person_on_the_other(make_nodes):
    one, two = make_nodes(2, "--room-operators")
    phone, token = token_of(one.port, "nora")
    laptop = login(two.port, token)
    omar = NativeClient(one.port, "omar")
    omar.send_json({"type": "join", "room": "#dev"})  # (made by omar: its operator)
    joined(omar, "#dev")
    omar.send_json({"type": "say", "room": "#dev", "text": "before nora came"})
    omar.expect(lambda f: f["type"] == "accepted")

    phone.send_json({"type": "join", "room": "#dev"})
    joined(phone, "#dev")
    got = frames_until(laptop, lambda f: f["type"] == "message" and f.get("replay") == "history")
    assert got[-2]["type"] == "joined" and got[-2]["room"] == "#dev", "the device on the other node joined it"
    assert got[-1]["text"] == "before nora came"
    omar.send_json({"type": "say", "room": "#dev", "text": "hi"})
    for device in (phone, laptop):
        assert device.expect(lambda f: f["type"] == "message" and not f.get("replay"))["text"] == "hi"

    laptop.send_json({"type": "part", "room": "#dev"})
    laptop.expect(lambda f: f["type"] == "parted")
    assert phone.expect(lambda f: f["type"] == "parted")["room"] == "#dev", "and parted it with the other"
    left = omar.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
    assert left["nick"] == "nora" and left["room"] == "#dev"
    omar.send_json({"type": "who"})
    between = frames_until(omar, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "leave"], "the room was told once"
    assert between[-1]["nicks"] == ["omar"]

    laptop.send_json({"type": "join", "room": "#dev"})
    joined(laptop, "#dev")
    joined(phone, "#dev")
    omar.send_json({"type": "kick", "nick": "nora", "reason": "out", "room": "#dev"})
    for device in (phone, laptop):
        parted = device.expect(lambda f: f["type"] == "parted")
        assert (parted["room"], parted["by"], parted["reason"]) == ("#dev", "omar", "out"), "out of that room only"
    kicked = omar.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
    assert kicked["nick"] == "nora" and "kicked by omar: out" in kicked["text"]
    omar.send_json({"type": "who"})
    between = frames_until(omar, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "leave"], "the room was told once"
    for client in (phone, laptop, omar):
        client.close()


def test_a_device_logging_in_on_another_node_is_put_in_the_person_s_rooms(make_nodes):
    one, two = make_nodes(2)
    phone, token = token_of(one.port, "pam")
    for room in ("#one", "#two"):
        phone.send_json({"type": "join", "room": room})
        joined(phone, room)
    laptop = login(two.port, token)
    rooms = set()
    while rooms != {"#one", "#two"}:  # (asked of the phone's node: they come after the welcome)
        rooms.add(laptop.expect(lambda f: f["type"] == "joined")["room"])
    rex = NativeClient(two.port, "rex")
    rex.send_json({"type": "join", "room": "#two"})
    assert joined(rex, "#two")["users"].count("pam") == 1, "in it once, as one person"
    laptop.send_json({"type": "say", "room": "#two", "text": "from the laptop"})
    assert rex.messages(1)[0]["text"] == "from the laptop"
    for client in (phone, laptop, rex):
        client.close()
