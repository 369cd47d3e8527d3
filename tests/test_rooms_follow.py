"""A person's rooms follow the person across its devices, through real sockets on a real server process (issue 23).

A room joined on one device is joined on every device of the person, each
told in its own dialect (native ``joined`` with the room's history; IRC
``JOIN``, the topic and ``NAMES``); a part likewise; a device that logs in
later is put in the person's rooms. A room operator's kick puts every device
out of that room only (IRC ``KICK``, issue 21). The room hears of the person
once. On a cluster: ``test_rooms_follow_cluster.py``.
"""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess, ask_who, frames_until
from irc_helpers import RawIrc
from test_accounts_devices import login, token_of
from test_irc_accounts import PASSWORD, SaslClient


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0", "--room-operators")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def irc_event(client: SaslClient, kind: str, target: str):
    """The next ``kind`` event about ``target`` (others' joins to the lobby skipped)."""
    while True:
        event = client.wait(kind)
        if event.target == target:
            return event


def joined(client: NativeClient, room: str) -> dict:
    return client.expect(lambda f: f["type"] == "joined" and f["room"] == room)


def test_two_native_devices_join_with_the_room_s_history(srv):
    phone, token = token_of(srv.port, "dana")
    laptop = login(srv.port, token)
    erin = NativeClient(srv.port, "erin")
    erin.send_json({"type": "join", "room": "#side"})
    joined(erin, "#side")
    erin.send_json({"type": "say", "room": "#side", "text": "before dana came"})
    erin.expect(lambda f: f["type"] == "accepted")
    phone.send_json({"type": "join", "room": "#side"})
    joined(phone, "#side")
    got = frames_until(laptop, lambda f: f["type"] == "message" and f.get("replay") == "history")
    assert got[-2]["type"] == "joined" and got[-2]["room"] == "#side", "joined, as a join on it would say"
    assert got[-1]["text"] == "before dana came", "with the room's history"
    arrivals = frames_until(erin, lambda f: f["type"] == "notice" and f.get("event") == "join")
    assert arrivals[-1]["nick"] == "dana"
    erin.send_json({"type": "who"})
    between = frames_until(erin, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "join"], "the room was told once"
    assert sorted(between[-1]["nicks"]) == ["dana", "erin"]
    laptop.send_json({"type": "say", "room": "#side", "text": "from the laptop, in #side"})
    assert erin.messages(1)[0]["text"] == "from the laptop, in #side", "the laptop speaks in it"
    for client in (phone, laptop, erin):
        client.close()


def test_a_native_and_an_irc_device_join_and_part_together(srv):
    phone, _ = token_of(srv.port, "bob")
    laptop = SaslClient(srv.irc_port, "bob", "bob", PASSWORD)
    assert laptop.wait("welcome", "nicknameinuse").type == "welcome"
    laptop.wait("endofnames")
    carol = NativeClient(srv.port, "carol")
    carol.send_json({"type": "join", "room": "#dev"})
    joined(carol, "#dev")
    carol.send_json({"type": "topic", "text": "all about dev", "room": "#dev"})
    carol.expect(lambda f: f["type"] == "notice" and f.get("event") == "topic")

    phone.send_json({"type": "join", "room": "#dev"})
    joined(phone, "#dev")
    join = irc_event(laptop, "join", "#dev")
    assert join.source.nick == "bob", "the IRC device is told JOIN"
    assert laptop.wait("currenttopic").arguments[-1] == "all about dev"
    names = laptop.wait("namreply")
    assert names.arguments[1] == "#dev" and {"bob", "@carol"} <= set(names.arguments[2].split())
    laptop.wait("endofnames")

    laptop.conn.join("#ops")
    laptop.wait("endofnames")
    assert joined(phone, "#ops")["room"] == "#ops", "what the IRC device joins, the phone joins"

    laptop.conn.part("#dev", "finished")
    assert irc_event(laptop, "part", "#dev").source.nick == "bob"
    parted = phone.expect(lambda f: f["type"] == "parted")
    assert parted["room"] == "#dev" and parted["reason"] == "finished"
    left = carol.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
    assert left["nick"] == "bob" and left["reason"] == "finished"
    carol.send_json({"type": "who"})
    between = frames_until(carol, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "leave"], "the room was told once"
    assert between[-1]["nicks"] == ["carol"]

    phone.send_json({"type": "part", "room": "#ops"})
    assert irc_event(laptop, "part", "#ops").source.nick == "bob", "what the phone parts, the IRC device parts"
    laptop.close()
    for client in (phone, carol):
        client.close()


def test_a_device_logging_in_later_gets_the_person_s_rooms(srv):
    phone, token = token_of(srv.port, "fay")
    for room in ("#one", "#two"):
        phone.send_json({"type": "join", "room": room})
        joined(phone, room)
    tablet = login(srv.port, token)
    rooms = [f["room"] for f in frames_until(tablet, lambda f: f["type"] == "joined" and f["room"] == "#two")]
    assert [r for r in rooms if r] == ["#one", "#two"], "each told as a join"
    laptop = SaslClient(srv.irc_port, "fay", "fay", PASSWORD)
    assert laptop.wait("welcome", "nicknameinuse").type == "welcome"
    told = {laptop.wait("join").target for _ in range(3)}
    assert told == {"#lobby", "#one", "#two"}, "an IRC device too: JOIN for each"
    gil = NativeClient(srv.port, "gil")
    gil.send_json({"type": "join", "room": "#two"})
    assert joined(gil, "#two")["users"].count("fay") == 1
    assert ask_who(gil)["nicks"].count("fay") == 1
    laptop.close()
    for client in (phone, tablet, gil):
        client.close()


def test_a_room_operator_kicks_every_device_out_of_that_room_only(srv):
    owner = RawIrc(srv.irc_port, "owner")
    owner.line("JOIN #chan")  # (made by owner: its operator, with --room-operators)
    owner.numeric("366")
    phone, _ = token_of(srv.port, "hal")
    laptop = SaslClient(srv.irc_port, "hal", "hal", PASSWORD)
    assert laptop.wait("welcome", "nicknameinuse").type == "welcome"
    laptop.wait("endofnames")
    phone.send_json({"type": "join", "room": "#chan"})
    joined(phone, "#chan")
    laptop.wait("endofnames")
    member = RawIrc(srv.irc_port, "member")
    member.line("JOIN #chan")
    member.numeric("366")
    member.line("KICK #chan hal :no right")
    assert member.numeric("482")[3] == "#chan", "a member without +o: 482"

    owner.line("KICK #chan hal :out you go")
    kick = laptop.wait("kick")
    assert kick.source.nick == "owner" and kick.arguments == ["hal", "out you go"], "the IRC device sees KICK"
    got = frames_until(phone, lambda f: f["type"] == "parted")
    parted = got[-1]
    assert parted["room"] == "#chan" and parted["by"] == "owner" and parted["reason"] == "out you go"
    (told,) = [f for f in got if f.get("event") == "kicked"]
    assert "#chan" in told["text"] and "owner" in told["text"], "the native device is told who and why"
    seen = member.until(lambda w: w[1:2] == ["KICK"])
    assert seen[-1].split()[2:4] == ["#chan", "hal"]
    member.line("NAMES #chan")
    names = member.numeric("353")[-1].split()
    assert "hal" not in names and "@owner" in names
    assert ask_who(phone)["room"] == "#lobby", "out of that room only: still connected, in the lobby"
    assert laptop.conn.is_connected()
    owner.line("KICK #chan member")
    assert member.until(lambda w: w[1:2] == ["KICK"])[-1].split()[2:4] == ["#chan", "member"]
    for client in (owner, member, laptop, phone):
        client.close()


def test_a_device_logging_out_becomes_a_guest_while_the_other_keeps_the_name(srv):
    phone, token = token_of(srv.port, "ivy")
    laptop = login(srv.port, token)
    jo = NativeClient(srv.port, "jo")
    phone.send_json({"type": "logout"})
    got = frames_until(phone, lambda f: f["type"] == "notice" and "guest now" in f["text"])
    renamed = [f for f in got if f.get("event") == "nick"]
    assert [(f["previous"], f["nick"]) for f in renamed] == [("ivy", "ivy2")], "told its new name"
    came = jo.expect(lambda f: f["type"] == "notice" and f.get("event") == "join")
    assert came["nick"] == "ivy2", "the room sees a guest come in"
    nicks = ask_who(jo)["nicks"]
    assert nicks.count("ivy") == 1 and "ivy2" in nicks, "ivy is still here, on the laptop"
    jo.send_json({"type": "privmsg", "to": "ivy", "text": "for the account"})
    assert laptop.expect(lambda f: f["type"] == "private")["text"] == "for the account"
    phone.send_json({"type": "say", "text": "as a guest"})
    said = jo.messages(1)[0]
    assert (said["nick"], said["text"]) == ("ivy2", "as a guest")
    for client in (phone, laptop, jo):
        client.close()


def test_a_server_wide_kick_of_a_person_on_two_devices_tells_the_room_once(tmp_path):
    from test_accounts_server import arrive

    ops = tmp_path / "ops.txt"
    ops.write_text("operators only\n")
    ops.chmod(0o600)
    server = ServerProcess("--rate-limit", "0", "--op", "admin", "--op-password-file", str(ops))
    try:
        phone, token = token_of(server.port, "kim")
        laptop = login(server.port, token)
        admin, welcome = arrive(server.port, nick="admin", password="operators only")
        assert welcome["type"] == "welcome"
        admin.send_json({"type": "kick", "nick": "kim", "reason": "enough"})
        for device in (phone, laptop):
            device.read_until_closed()  # (both sessions ended: each went on its own thread)
        left = admin.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
        assert left["nick"] == "kim" and "kicked by admin" in left["text"]
        admin.send_json({"type": "who"})
        between = frames_until(admin, lambda f: f["type"] == "users")
        assert not [f for f in between if f.get("event") == "leave"], "the room was told once"
        assert "kim" not in between[-1]["nicks"]
        admin.close()
    finally:
        code, err = server.stop()
    assert code == 0 and "Traceback" not in err, err
