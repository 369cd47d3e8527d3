"""Several devices of one account on a cluster: real nodes on a real Redis; a device on each node is
one person, as on one server (both hear the room and the private messages, others see it once, it
leaves with its last device), and the read markers are Redis's."""

from __future__ import annotations

from helpers import NativeClient, ask_who, frames_until
from test_accounts_devices import login, marker, token_of


def test_devices_of_one_account_on_two_nodes_are_one_person(make_nodes):
    one, two = make_nodes(2)
    phone, token = token_of(one.port, "nora")
    laptop = login(two.port, token)
    assert laptop.welcome["nick"] == "nora", "the second device, on another node, shares the name"
    assert laptop.welcome["users"].count("nora") == 1
    omar = NativeClient(one.port, "omar")
    assert ask_who(omar)["nicks"].count("nora") == 1

    omar.say("to the room")
    for device in (phone, laptop):
        assert device.messages(1)[0]["text"] == "to the room"
    omar.send_json({"type": "privmsg", "to": "nora", "text": "to nora"})
    for device in (phone, laptop):
        assert device.expect(lambda f: f["type"] == "private")["text"] == "to nora"
    laptop.send_json({"type": "privmsg", "to": "omar", "text": "from the laptop"})
    echoed = phone.expect(lambda f: f["type"] == "private")
    assert (echoed["nick"], echoed["to"], echoed["text"]) == ("nora", "omar", "from the laptop")

    phone.send_json({"type": "markread", "target": "#lobby", "ts": 1000.5})
    assert marker(laptop) == {"type": "markread", "target": "#lobby", "ts": 1000.5}, "told across nodes"

    phone.send_json({"type": "quit"})
    phone.read_until_closed()
    omar.send_json({"type": "who"})
    between = frames_until(omar, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "leave"], "nora is still here, on the other node"
    assert between[-1]["nicks"].count("nora") == 1
    omar.send_json({"type": "privmsg", "to": "nora", "text": "still there?"})
    assert laptop.expect(lambda f: f["type"] == "private")["text"] == "still there?"
    laptop.send_json({"type": "quit"})
    laptop.read_until_closed()
    left = omar.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
    assert left["nick"] == "nora"
    again = login(one.port, token)
    after = frames_until(again, lambda f: f["type"] == "markread")
    assert after[-1]["ts"] == 1000.5, "kept in Redis"
    again.close()
    omar.close()
