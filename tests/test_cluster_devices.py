"""Several devices of one account on several nodes of a cluster (real nodes, a real Redis): a node
that dies takes only its own devices away, and a person renamed on one node is renamed on all."""

from __future__ import annotations

from helpers import NativeClient, frames_until
from test_accounts_devices import login, token_of
from test_big_rooms_cluster import events, until_marker
from test_cluster_outage import RECOVERY


def _join(client: NativeClient, room: str) -> dict:
    client.send_json({"type": "join", "room": room})
    return client.expect(lambda f: f["type"] == "joined" and f["room"] == room)


def test_a_dead_nodes_device_leaves_no_trace_in_the_persons_rooms(make_nodes):
    """A person's rooms follow the person (every device is in them), so a dead node's device leaves
    no room while a live device stays: nobody is told anything. And it lingers nowhere: once the
    live device quits too, the person leaves the room, once (before, the dead device's session
    stayed in the room's presence and the person never left it)."""
    one, two = make_nodes(2)
    phone, token = token_of(two.port, "nora")  # (the session named for nora lives)
    laptop = login(one.port, token)  # (a device on the node that dies)
    omar = NativeClient(two.port, "omar")
    _join(omar, "#side")
    _join(laptop, "#side")  # (the phone follows it in)
    pia = NativeClient(two.port, "pia")
    assert "nora" in _join(pia, "#side")["users"]

    one.kill()
    laptop.read_until_closed()
    phone.say("still here")
    seen = until_marker(omar, "still here")
    assert events(seen, "leave") == [], "nora is still in #side, through the phone: told nothing"
    phone.close()
    heard = frames_until(omar, lambda f: f.get("event") == "leave" and f.get("room") == "#side", RECOVERY)
    pia.say("after")
    heard += until_marker(omar, "after")
    left = [(f["nick"], f["room"]) for f in heard if f["type"] == "notice" and f.get("event") == "leave"]
    assert sorted(left) == [("nora", "#lobby"), ("nora", "#side")], "each of its rooms told once"
    quinn = NativeClient(two.port, "quinn")
    assert "nora" not in quinn.welcome["users"], "gone from #lobby"
    assert "nora" not in _join(quinn, "#side")["users"], "and from #side: the dead device lingers nowhere"
    for client in (omar, pia, quinn):
        client.close()


def test_a_person_renamed_on_one_node_is_renamed_on_the_others(make_nodes):
    """The device renamed on node one has no other device there: the person's devices on node two
    take the new name too (one person, one name), as on one server."""
    one, two = make_nodes(2)
    phone, token = token_of(one.port, "lena")
    laptop = login(two.port, token)
    omar = NativeClient(two.port, "omar")
    phone.send_json({"type": "nick", "nick": "lenka"})
    renamed = laptop.expect(lambda f: f["type"] == "notice" and f.get("event") == "nick")
    assert (renamed["previous"], renamed["nick"]) == ("lena", "lenka")
    laptop.say("said after the rename")
    got = omar.expect(lambda f: f["type"] == "message" and f["text"] == "said after the rename")
    assert got["nick"] == "lenka", "the device on the other node goes by the new name too"
    omar.send_json({"type": "who"})
    who = omar.expect(lambda f: f["type"] == "users")["nicks"]
    assert who.count("lenka") == 1 and "lena" not in who, who
    omar.send_json({"type": "privmsg", "to": "lenka", "text": "to both"})
    for device in (phone, laptop):
        assert device.expect(lambda f: f["type"] == "private")["text"] == "to both"
    tablet = login(two.port, token)
    assert tablet.welcome["nick"] == "lenka", "a device logging in later joins the person by its new name"
    for client in (phone, laptop, omar, tablet):
        client.close()


def test_a_device_logging_in_on_a_node_with_none_of_the_persons_devices_takes_its_new_name(make_nodes):
    """After a /nick, a device logging in joins the person under its new name, on any node (the node
    it logs in on asks presence, not only its own sessions)."""
    one, two = make_nodes(2)
    phone, token = token_of(one.port, "lena")
    phone.send_json({"type": "nick", "nick": "lenka"})
    phone.expect(lambda f: f["type"] == "notice" and f.get("event") == "nick")
    laptop = login(two.port, token)
    assert laptop.welcome["nick"] == "lenka", "one person: not a second one under the account's name"
    omar = NativeClient(two.port, "omar")
    omar.send_json({"type": "who"})
    who = omar.expect(lambda f: f["type"] == "users")["nicks"]
    assert who.count("lenka") == 1 and "lena" not in who, who
    for client in (phone, laptop, omar):
        client.close()
