"""A person's rooms across its devices, in the rules and the hub without sockets (issue 23).

Two devices of one account ending at the same moment, a room joined or left
on one device reaching the others, a kick out of one room: the decisions
the hub and the rules make, with real threads where the race is the point.
"""

from __future__ import annotations

import threading

import pytest
from test_accounts_rules import chat_with_accounts, registered
from test_rules import Chat, Outlet, _At

from common import messages as m


@pytest.fixture
def chat():
    chat_ = chat_with_accounts()
    yield chat_
    chat_.hub.close()


def device(chat: Chat, token: str) -> tuple[_At, Outlet]:
    """Another device of the token's account, logged in at hello."""
    outlet = Outlet()
    p = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert p.register("whoever", login_token=token), outlet.got
    chat.flush()
    outlet.got.clear()
    return p, outlet


def leaves(outlet: Outlet, nick: str) -> list[m.Notice]:
    return [n for n in outlet.of(m.Notice) if n.event == "leave" and n.nick == nick]


def test_two_devices_ended_at_once_tell_the_room_once(chat):
    phone, done = registered(chat, "bob")
    laptop, _ = device(chat, done.token)
    carol = chat.person("carol")
    hub = chat.hub
    both_gone = threading.Barrier(2, timeout=5)
    real = hub.unregister

    def unregister_then_wait(sub):
        """Both devices gone from the hub before either asks who stays: the race of a kick of
        the person, whose two sessions end on their own threads at the same moment."""
        answer = real(sub)
        both_gone.wait()
        return answer

    hub.unregister = unregister_then_wait  # type: ignore[method-assign]
    ends = [threading.Thread(target=d.unregister, args=("connection lost",)) for d in (phone, laptop)]
    for t in ends:
        t.start()
    for t in ends:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in ends)
    told = leaves(chat.got("carol"), "bob")
    assert len(told) == 1, f"the last one out tells the room, once: {told}"
    assert carol.registered


def test_a_room_joined_on_one_device_is_joined_on_the_other_and_parted_likewise(chat):
    phone, done = registered(chat, "dana")
    laptop, on_laptop = device(chat, done.token)
    erin = chat.person("erin")
    chat.act(erin, m.Join("#side"))
    chat.got("erin").got.clear()
    chat.act(phone, m.Join("#side"))
    chat.flush()
    assert "#side" in laptop.rooms.values(), "the laptop is in the room the phone joined"
    (joined,) = on_laptop.of(m.Joined)
    assert joined.room == "#side"
    arrivals = [n for n in chat.got("erin").of(m.Notice) if n.event == "join"]
    assert [n.nick for n in arrivals] == ["dana"], "the room hears of the person once"
    on_laptop.got.clear()
    chat.act(laptop, m.Part("#side"))
    chat.flush()
    assert "#side" not in phone.rooms.values(), "the phone left it with the laptop"
    (parted,) = on_laptop.of(m.Parted)
    assert parted.room == "#side" and parted.by is None
    assert [n.room for n in leaves(chat.got("erin"), "dana")] == ["#side"], "and the room is told once"


def test_a_device_arriving_later_is_put_in_the_persons_rooms(chat):
    phone, done = registered(chat, "fay")
    chat.act(phone, m.Join("#one"))
    chat.act(phone, m.Join("#two"))
    tablet, on_tablet = device(chat, done.token)
    assert set(tablet.rooms.values()) == {"#lobby", "#one", "#two"}
    assert tablet.room == "#lobby", "its focus is the room it asked for"


def test_a_room_operator_kicks_a_person_out_of_that_room_only(chat):
    owner = chat.person("owner")
    chat.act(owner, m.Join("#chan"))  # (made by owner: without --room-operators, server operators only)
    phone, done = registered(chat, "gus")
    laptop, on_laptop = device(chat, done.token)
    chat.act(phone, m.Join("#chan"))
    member = chat.person("member")
    chat.act(member, m.Join("#chan"))
    chat.act(member, m.Kick("gus", "go", room="#chan"))
    assert chat.got("member").errors() == ["not_operator"], "a member without rights may not"
    assert "#chan" in laptop.rooms.values()
    owner.op = True  # (a server operator)
    chat.got("member").got.clear()
    on_laptop.got.clear()
    chat.act(owner, m.Kick("gus", "go", room="#chan"))
    chat.flush()
    for d in (phone, laptop):
        assert "#chan" not in d.rooms.values() and "#lobby" in d.rooms.values(), "out of that room only"
        assert d.registered
    (parted,) = on_laptop.of(m.Parted)
    assert parted.room == "#chan" and parted.by == "owner" and parted.reason == "go"
    assert [n.event for n in on_laptop.of(m.Notice)] == ["kicked"]
    told = leaves(chat.got("member"), "gus")
    assert len(told) == 1 and told[0].room == "#chan" and "kicked by owner: go" in told[0].text
    chat.act(member, m.Kick("nobody", room="#chan"))
    chat.act(member, m.Kick("gus", room="#chan"))
    assert chat.got("member").errors() == ["not_operator", "not_operator"]
    chat.act(owner, m.Kick("gus", room="#chan"))
    assert chat.got("owner").errors() == ["not_in_that_room"]


def test_kick_naming_a_room_parses_to_a_kick_out_of_it():
    from common.commands import CommandError, parse_input

    assert parse_input("/kick #dev bob too loud") == m.Kick(nick="bob", reason="too loud", room="#dev")
    assert parse_input("/kick #dev bob") == m.Kick(nick="bob", reason="", room="#dev")
    assert parse_input("/kick bob too loud") == m.Kick(nick="bob", reason="too loud")
    assert isinstance(parse_input("/kick #dev"), CommandError)


def test_a_kick_naming_the_lobby_is_the_kick_out_of_the_chat(chat):
    root = chat.person("root")
    root.op = True
    victim = chat.person("victim")
    chat.act(root, m.Kick("victim", "enough", room="#lobby"))
    assert chat.got("victim").kicked == ["kicked by root: enough"], "the lobby is everyone's: out of the chat"
    assert victim.removed


def test_a_device_logging_out_goes_on_as_a_guest_under_a_name_of_its_own(chat):
    phone, done = registered(chat, "ivy")
    laptop, on_laptop = device(chat, done.token)
    jo = chat.person("jo")
    chat.act(phone, m.Logout())
    on_phone = chat.got("ivy")
    assert phone.account is None and phone.nick == "ivy2", "a guest, under a free name derived from the account's"
    assert laptop.nick == "ivy" and laptop.account == "ivy", "the other device keeps the account's name"
    (renamed,) = [n for n in on_phone.of(m.Notice) if n.event == "nick"]
    assert (renamed.previous, renamed.nick) == ("ivy", "ivy2"), "the device is told its new name"
    assert any("guest" in n.text for n in on_phone.of(m.Notice) if n.event == "account")
    came = [n.nick for n in chat.got("jo").of(m.Notice) if n.event == "join"]
    assert came == ["ivy2"], "the room sees a guest come in; ivy is still there on the laptop"
    assert not leaves(chat.got("jo"), "ivy")
    assert [p.nick for p in chat.hub.members("#lobby")].count("ivy") == 1
    tablet = _At(chat.services, chat.hub, Outlet(), clock=chat.clock)
    assert tablet.register("ivy", account_password="hunter22"), tablet.outlet.got
    assert tablet.nick == "ivy", "the account's next device joins it under its name (no guest holds it)"
    laptop.unregister("gone")
    chat.act(tablet, m.Logout())
    assert tablet.nick == "ivy" and tablet.account is None, "the only device keeps the name as a guest, as before"
    tablet.unregister("gone")
    outlet = Outlet()
    again = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert again.register("ivy", account_password="hunter22"), outlet.got
    assert again.nick == "ivy" and again.account == "ivy", "the account logs in again under its name"
    assert jo.registered


class _Counted(dict):
    """A room's members that count how often they are asked whether a session is one of them."""

    asked = 0

    def __contains__(self, key: object) -> bool:
        type(self).asked += 1
        return super().__contains__(key)


def test_a_room_s_count_does_not_walk_every_person_with_several_devices():
    from chatserver.core.registry import Registry

    class Device:
        def __init__(self, nick: str) -> None:
            self.nick, self.account = "", nick

    registry = Registry()
    for i in range(500):  # (500 people with two devices each, on the server)
        for _ in range(2):
            registry.claim(Device(f"p{i}"), f"p{i}")
    a, b = Device("p1"), Device("p1")
    members = _Counted({a: 0, b: 0, Device("x"): 0})
    registry.claim(a, "p1")
    registry.claim(b, "p1")  # (p1's devices: 4 now, two of them in the room)
    _Counted.asked = 0
    assert registry.extra_in(members) == 1, "a person with two devices in the room counts once"
    assert _Counted.asked <= 2 * len(members), f"asked {_Counted.asked} times for a room of 3"


def test_a_hello_with_an_account_password_reads_the_account_once_before_logging_in():
    chat = chat_with_accounts(accounts="required")
    try:
        accounts = chat.services.accounts
        made = _At(chat.services, chat.hub, Outlet(), clock=chat.clock)
        assert made.register("kai", account_password="hunter22")
        made.unregister("gone")
        reads = []
        real = accounts.registered
        accounts.registered = lambda nick: reads.append(nick) or real(nick)  # type: ignore[method-assign]
        again = _At(chat.services, chat.hub, Outlet(), clock=chat.clock)
        assert again.register("kai", account_password="hunter22") and again.account == "kai"
        assert len(reads) == 1, f"the account was looked up {len(reads)} times"
    finally:
        chat.hub.close()


def test_a_guest_logging_in_mid_session_joins_the_persons_rooms_and_brings_its_own(chat):
    """``/login`` makes a guest one of the person's devices: it joins the person's rooms, and the
    person joins the room it was in as a guest (every device of a person in the same rooms)."""
    phone, _ = registered(chat, "dana")
    chat.act(phone, m.Join("#side"))
    guest = chat.person("zed")
    chat.act(guest, m.Join("#other"))
    chat.act(guest, m.Login(name="dana", password="hunter22"))
    chat.flush()
    assert guest.nick == "dana" and guest.account == "dana"
    assert set(guest.rooms.values()) == set(phone.rooms.values()) == {"#lobby", "#side", "#other"}


def test_a_device_arriving_with_rooms_of_its_own_shares_them(chat):
    """A device whose hello names rooms (a reconnecting client's) brings the person into them, and
    is put in the person's: the lobby it is put in by default is not pressed on the others."""
    phone, done = registered(chat, "dana")
    chat.act(phone, m.Join("#side"))
    chat.act(phone, m.Part("#lobby"))
    outlet = Outlet()
    laptop = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert laptop.register("whoever", login_token=done.token, room="#mine", others=[("#also", None, None)])
    chat.flush()
    assert {"#mine", "#also", "#side"} <= set(laptop.rooms.values())
    assert set(phone.rooms.values()) == {"#side", "#mine", "#also"}


def account_notices(outlet: Outlet) -> list[str]:
    return [n.text for n in outlet.of(m.Notice) if n.event == "account"]


def test_a_second_device_logging_in_or_one_logging_out_tells_the_others_nothing(chat):
    """The person's account does not change when a second device logs in to it, nor when one of
    two logs out (that one goes on as a guest under a name of its own): the room is told no
    "dana logged in" or "dana logged out", which would be false."""
    phone, _ = registered(chat, "dana")
    carol = chat.person("carol")
    carol.outlet.got.clear()
    guest = chat.person("zed")
    chat.act(guest, m.Login(name="dana", password="hunter22"))
    chat.flush()
    assert guest.account == "dana"
    chat.act(guest, m.Logout())
    chat.flush()
    assert guest.account is None and guest.nick != "dana" and phone.account == "dana"
    assert not [t for t in account_notices(carol.outlet) if t.startswith("dana ")], account_notices(carol.outlet)
    chat.act(phone, m.Logout())
    chat.flush()
    assert account_notices(carol.outlet)[-1] == "dana logged out", "its last device: the person logged out"
