"""Several devices of one account at once (issue 23), through real sockets on a real server process.

A native client and an IRC client logged in with SASL (the ``irc`` library's)
are one person: both get the room's messages and the private ones, what one
sends is echoed to the other, others see the person once, and the person
leaves when the last device does. Guests keep one session per name; an
account has ``MAX_DEVICES`` at most.
"""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess, ask_who, frames_until, hello
from test_irc_accounts import PASSWORD, SaslClient

from chatserver.backends.records import MAX_DEVICES


def login(port: int, token: str) -> NativeClient:
    """A native device logged in with the account's token (its welcome read)."""
    client = hello(port, nick="whoever", login_token=token)
    welcome = client.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome", welcome
    client.welcome = welcome
    return client


def token_of(port: int, nick: str) -> tuple[NativeClient, str]:
    """``nick`` registered from a native client that stays: the client and its login token."""
    client = NativeClient(port, nick)
    client.send_json({"type": "register", "password": PASSWORD})
    made = client.expect(lambda f: f["type"] in ("loggedin", "error"))
    assert made["type"] == "loggedin", made
    return client, made["token"]


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0")
    yield server
    code, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def test_a_terminal_and_an_irc_client_of_one_account_are_one_person(srv):
    phone, _ = token_of(srv.port, "bob")
    carol = NativeClient(srv.port, "carol")
    laptop = SaslClient(srv.irc_port, "bob", "bob", PASSWORD)
    assert laptop.wait("saslsuccess", "saslfail").type == "saslsuccess"
    welcome = laptop.wait("welcome", "nicknameinuse")
    assert welcome.type == "welcome" and welcome.target == "bob", "the second device takes the same name"
    laptop.wait("endofnames")

    carol.say("for the room")
    assert phone.messages(1)[0]["text"] == "for the room"
    said = laptop.wait("pubmsg")
    assert said.source.nick == "carol" and said.arguments == ["for the room"]

    carol.send_json({"type": "privmsg", "to": "bob", "text": "for bob alone"})
    got = phone.expect(lambda f: f["type"] == "private")
    assert got["nick"] == "carol" and got["text"] == "for bob alone"
    said = laptop.wait("privmsg")
    assert said.source.nick == "carol" and said.arguments == ["for bob alone"]

    laptop.conn.privmsg("carol", "sent from the laptop")
    assert carol.expect(lambda f: f["type"] == "private" and f["nick"] == "bob")["text"] == "sent from the laptop"
    echoed = phone.expect(lambda f: f["type"] == "private")
    assert echoed["nick"] == "bob" and echoed["to"] == "carol", "the phone sees what the laptop sent"
    assert echoed["text"] == "sent from the laptop"
    laptop.conn.privmsg("#lobby", "said on the laptop")
    seen = phone.messages(1)[0]
    assert seen["nick"] == "bob" and seen["text"] == "said on the laptop", "the phone sees what the laptop said"

    who = ask_who(carol)
    assert who["nicks"].count("bob") == 1, who

    phone.send_json({"type": "quit"})
    phone.read_until_closed()  # (the server let it go before it closed: a leave notice is queued by now)
    carol.send_json({"type": "who"})
    between = frames_until(carol, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "leave"], "bob is still here on the laptop"
    assert between[-1]["nicks"].count("bob") == 1
    laptop.close()
    left = carol.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
    assert left["nick"] == "bob", "the last device gone: bob left"
    carol.close()


def test_two_native_devices_hear_the_room_and_join_and_part_it_together(srv):
    # (Before rooms followed the person, the phone stayed in #side when the laptop parted it and
    # the room was not told; now every device of the person joins and parts together, and the
    # room hears of the person once: tests/test_rooms_follow.py has the rest.)
    phone, token = token_of(srv.port, "dana")
    laptop = login(srv.port, token)
    assert laptop.welcome["nick"] == "dana"
    erin = NativeClient(srv.port, "erin")
    assert ask_who(erin)["nicks"].count("dana") == 1
    assert laptop.welcome["users"] == ["dana"] and laptop.welcome["more"] == 0, "the room's list: the person once"
    phone.say("from the phone")
    assert laptop.messages(1)[0]["text"] == "from the phone", "the other device sees it as the room does"
    assert erin.messages(1)[0]["text"] == "from the phone"
    laptop.send_json({"type": "join", "room": "#side"})
    laptop.expect(lambda f: f["type"] == "joined" and f["room"] == "#side")
    phone.expect(lambda f: f["type"] == "joined" and f["room"] == "#side")  # (the laptop's join: the person's)
    erin.send_json({"type": "join", "room": "#side"})
    erin.expect(lambda f: f["type"] == "joined" and f["room"] == "#side")
    laptop.send_json({"type": "part", "room": "#side"})
    laptop.expect(lambda f: f["type"] == "parted")
    assert phone.expect(lambda f: f["type"] == "parted")["room"] == "#side", "the phone left it too"
    left = erin.expect(lambda f: f["type"] == "notice" and f.get("event") == "leave")
    assert left["nick"] == "dana" and left["room"] == "#side"
    erin.send_json({"type": "who"})  # (of its focused room: #side)
    between = frames_until(erin, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") == "leave"], "the room was told once"
    assert between[-1]["nicks"] == ["erin"]
    for client in (phone, laptop, erin):
        client.close()


def test_an_account_has_a_bounded_number_of_devices_and_a_guest_one(srv):
    first, token = token_of(srv.port, "fred")
    devices = [first] + [login(srv.port, token) for _ in range(MAX_DEVICES - 1)]
    one_more = hello(srv.port, nick="fred", login_token=token)
    refused = one_more.expect(lambda f: f["type"] in ("welcome", "error"))
    assert refused["type"] == "error" and refused["code"] == "too_many_devices", refused
    assert str(MAX_DEVICES) in refused["message"]
    one_more.close()
    gone = devices.pop()
    gone.send_json({"type": "quit"})
    gone.read_until_closed()  # (the server lets the session go before it closes the connection)
    again = login(srv.port, token)  # (one gone: room for another)
    assert again.welcome["nick"] == "fred"
    gina = NativeClient(srv.port, "gina")
    twin = hello(srv.port, nick="gina")
    refused = twin.expect(lambda f: f["type"] in ("welcome", "error"))
    assert refused["type"] == "error" and refused["code"] == "nick_taken", "a guest has one session"
    guest = hello(srv.port, nick="fred")
    refused = guest.expect(lambda f: f["type"] in ("welcome", "error"))
    assert refused["type"] == "error" and refused["code"] == "name_registered", "a guest is no account's device"
    for client in [*devices, again, gina, twin, guest]:
        client.close()


def marker(client: NativeClient) -> dict:
    return client.expect(lambda f: f["type"] in ("markread", "error"))


def test_a_read_marker_reaches_the_other_device_and_outlives_a_restart(tmp_path):
    path = tmp_path / "chat.sqlite3"
    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        phone, token = token_of(srv.port, "ivy")
        laptop = login(srv.port, token)
        jack = NativeClient(srv.port, "jack")
        jack.say("read me")
        seen = phone.messages(1)[0]
        phone.send_json({"type": "markread", "target": "#LOBBY", "ts": seen["ts"]})
        told = marker(laptop)
        assert told == {"type": "markread", "target": "#lobby", "ts": seen["ts"]}, "as the server spells the room"
        phone.send_json({"type": "markread", "target": "#lobby", "ts": seen["ts"] - 60})
        assert marker(laptop)["ts"] == seen["ts"], "a marker does not move back"
        phone.send_json({"type": "markread", "target": "#elsewhere", "ts": 1.0})
        assert marker(phone)["code"] == "not_in_room"
        jack.send_json({"type": "markread", "target": "#lobby", "ts": 1.0})  # (a guest's own: told to nobody)
        jack.send_json({"type": "markread", "target": "#elsewhere", "ts": 1.0})
        assert marker(jack)["code"] == "not_in_room", "a guest's first taken, for its session alone"
        for client in (phone, laptop, jack):
            client.close()
    finally:
        code, err = srv.stop()
    assert code == 0, err

    srv = ServerProcess("--rate-limit", "0", "--store", str(path))
    try:
        again = login(srv.port, token)
        after = frames_until(again, lambda f: f["type"] == "markread")
        assert after[-1] == {"type": "markread", "target": "#lobby", "ts": seen["ts"]}, "kept in the store"
        assert [f["type"] for f in after][-2:] == ["loggedin", "markread"], "told with the login"
        again.close()
    finally:
        code, err = srv.stop()
    assert code == 0, err


def test_a_rename_renames_the_person_on_every_device(srv):
    phone, token = token_of(srv.port, "lena")
    laptop = login(srv.port, token)
    mo = NativeClient(srv.port, "mo")
    phone.send_json({"type": "nick", "nick": "lenka"})
    renamed = laptop.expect(lambda f: f["type"] == "notice" and f.get("event") == "nick")
    assert (renamed["previous"], renamed["nick"]) == ("lena", "lenka")
    laptop.say("said after the rename")
    got = mo.messages(1)[0]
    assert got["nick"] == "lenka", "the other device goes by the new name too"
    assert ask_who(mo)["nicks"].count("lenka") == 1 and "lena" not in ask_who(mo)["nicks"]
    mo.send_json({"type": "privmsg", "to": "lenka", "text": "to the new name"})
    for device in (phone, laptop):
        assert device.expect(lambda f: f["type"] == "private")["text"] == "to the new name"
    tablet = login(srv.port, token)
    assert tablet.welcome["nick"] == "lenka", "a device logging in later joins the person by its new name"
    assert ask_who(mo)["nicks"].count("lenka") == 1 and "lena" not in ask_who(mo)["nicks"]
    for client in (phone, laptop, mo, tablet):
        client.close()


@pytest.mark.parametrize("which", ["first", "second"])
def test_a_device_back_on_a_new_connection_takes_its_own_session_over(srv, which):
    first, token = token_of(srv.port, "pia")
    second = login(srv.port, token)
    gone, phone = (first, second) if which == "first" else (second, first)
    resume = gone.welcome["token"]  # (its session's resume token)
    quinn = NativeClient(srv.port, "quinn")
    back = hello(srv.port, nick="pia", login_token=token, resume=resume, room="#lobby")
    welcome = back.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome" and welcome["nick"] == "pia", welcome
    gone.read_until_closed()  # (the server ended the session it replaced, and not the other device's)
    quinn.send_json({"type": "who"})
    between = frames_until(quinn, lambda f: f["type"] == "users")
    assert not [f for f in between if f.get("event") in ("join", "leave")], "nobody came or went"
    assert between[-1]["nicks"].count("pia") == 1
    quinn.send_json({"type": "privmsg", "to": "pia", "text": "both of you"})
    for device in (phone, back):
        assert device.expect(lambda f: f["type"] == "private")["text"] == "both of you"
    for client in (phone, back, quinn):
        client.close()
