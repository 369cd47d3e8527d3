"""The caps on server frames: lists of people bounded where the frame is built, never measured
name by name; the message types' caps are the ones the protocol states. In-process, no sockets."""

from __future__ import annotations

import types

import msgspec
import pytest
from helpers import Member

from chatserver.config import ServerConfig
from chatserver.core.hub import LocalHub
from chatserver.rules.participant import Participant
from common import limits
from common import messages as m
from common.errors import InvalidFrame
from common.framing import DEFAULT_MAX_FRAME, LineFramer

ROOM = "#crowd"


def worst_name(i: int) -> str:
    """A distinct name as long as a nickname may be, of the character that takes the most bytes in JSON."""
    return f"{i:x}" + "\x00" * (limits.MAX_NAME - len(f"{i:x}"))


def participant_in(count: int) -> tuple[Participant, list[Member]]:
    """A participant of a server in this process whose focused room holds ``count`` people, every third away."""
    hub = LocalHub()
    crowd = [Member(worst_name(i)) for i in range(count)]
    for i, member in enumerate(crowd):
        member.away = "lunch" if i % 3 == 0 else ""
        hub.enter(member, member.nick, ROOM, lambda *greeting: None)
    # (with accounts, so the welcome carries its "accounts": "optional", the longer of its two values)
    accounts = types.SimpleNamespace(required=False)
    server = types.SimpleNamespace(config=ServerConfig(name="\x00" * limits.MAX_FIELD), accounts=accounts)
    me = Participant(server, hub, types.SimpleNamespace(wire="native", full=False))
    me.nick, me.room, me.token, me.epoch = crowd[0].nick, ROOM, "t" * 200, "e" * 40
    return me, crowd


def received(frame: bytes) -> m.Message:
    """``frame`` as a client reads it (the framer at its default limit, then decoding)."""
    framer = LineFramer()
    framer.receive_data(frame)
    return m.decode(framer.next_line())


@pytest.mark.parametrize("count", [5, 5000])
def test_a_welcome_fits_names_the_first_and_counts_the_rest_without_measuring(count):
    me, crowd = participant_in(count)
    before = limits.measured
    welcome = me.welcome()
    frame = m.encode(welcome)
    assert limits.measured == before, "no name was encoded to measure the frame"
    assert len(frame) <= DEFAULT_MAX_FRAME
    assert received(frame) == welcome
    names = [c.nick for c in crowd]
    assert welcome.users == names[: len(welcome.users)], "the first people, in order"
    assert len(welcome.users) + welcome.more == count, "everyone listed or counted"
    bound = len(limits.first(m.Welcome, names)[0])
    assert len(welcome.users) == min(count, bound), "as many as the caps allow whoever they are"
    if count > 1000:
        assert welcome.more > 0 and len(welcome.users) >= 100, "a useful first page, not everyone"


@pytest.mark.parametrize("count", [5, 5000])
def test_a_users_reply_fits_and_keeps_the_away_marks_of_those_it_names(count):
    me, crowd = participant_in(count)
    before = limits.measured
    users = me.users_reply()
    frame = m.encode(users)
    # /who is asked for, not paid on every join: it names everyone who fits, each measured once.
    assert limits.measured - before <= 3 * (len(users.nicks) + 2), "a few measures per name named, not per name here"
    assert len(frame) <= DEFAULT_MAX_FRAME and received(frame) == users
    if count > limits.bound(m.Users):
        assert len(users.nicks) > limits.bound(m.Users), "as many as fit, not only the welcome's bound"
    assert len(users.nicks) + users.more == count
    assert users.away == [n for i, n in enumerate(users.nicks) if i % 3 == 0]


def test_joining_lists_as_many_in_a_room_of_5000_as_in_one_just_past_the_bound():
    """The cost of a welcome does not grow with the room: past the bound, the same names."""
    bound = len(limits.first(m.Welcome, range(10**6))[0])
    small, _ = participant_in(bound + 1)
    large, _ = participant_in(5000)
    assert small.welcome().users == large.welcome().users
    assert large.welcome().more == 5000 - bound


def test_a_welcome_builds_no_record_of_the_people_it_names(monkeypatch):
    """The hub hands over the first names and the head count: a join in a room of 5,000
    builds no record of anyone (it used to build one per name shown, 216 on every join)."""
    import chatserver.core.rooms as hub_module

    built = []
    real = hub_module.person
    monkeypatch.setattr(hub_module, "person", lambda sub: built.append(sub) or real(sub))
    me, crowd = participant_in(5000)
    built.clear()
    welcome = me.welcome()
    assert built == []
    assert welcome.users == [c.nick for c in crowd[: limits.bound(m.Welcome)]]
    assert welcome.more == 5000 - len(welcome.users) > 0


@pytest.mark.parametrize("count", [5, 5000])
def test_a_plain_peer_entering_is_told_the_first_people_and_the_count_of_the_rest(monkeypatch, count):
    """What a plain peer is shown on entering costs the same in a room of 5,000 as past the
    bound: the first ``bound(Users)`` people with their away marks, the rest counted, and no
    record built of anyone (``first_present``: names alone; it built one per name shown)."""
    import chatserver.core.rooms as hub_module

    built = []
    real = hub_module.person
    monkeypatch.setattr(hub_module, "person", lambda sub: built.append(sub) or real(sub))
    me, crowd = participant_in(count)
    built.clear()
    before = limits.measured
    users = me.users_on_entry()
    assert limits.measured == before, "no name was encoded to measure the frame"
    shown = min(count, limits.bound(m.Users))
    assert built == []
    assert users.nicks == [c.nick for c in crowd[:shown]]
    assert users.away == [n for i, n in enumerate(users.nicks) if i % 3 == 0]
    assert users.more == count - shown
    frame = m.encode(users)
    assert len(frame) <= DEFAULT_MAX_FRAME and received(frame) == users


def test_a_list_of_longer_entries_is_cut_to_what_fits_by_measuring_each_once():
    names = ["\x00" * limits.MAX_FIELD] * 3000
    before = limits.measured
    users = limits.fit(m.Users(ROOM, names))
    frame = m.encode(users)
    assert len(frame) <= DEFAULT_MAX_FRAME < len(frame) + 2 * (6 * limits.MAX_FIELD + 3), "as many as fit"
    assert len(users.nicks) + users.more == 3000
    measured = limits.measured - before
    assert measured <= 2 * (len(users.nicks) + 2), "each entry kept (and the next) measured once per fit"


def test_the_types_declare_the_caps_the_protocol_states():
    for cls in m.SERVER_TYPES | m.CLIENT_TYPES:
        for field in msgspec.structs.fields(cls):
            info = msgspec.inspect.type_info(field.type)
            kinds = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
            for kind in kinds:
                if isinstance(kind, msgspec.inspect.ListType):
                    assert kind.max_length == limits.MAX_LIST, f"{cls.TYPE}.{field.name}"
                    kind = kind.item_type
                if isinstance(kind, msgspec.inspect.StrType):
                    assert kind.max_length == limits.field_limit(field.name), f"{cls.TYPE}.{field.name}"


def test_frames_leave_out_the_fields_that_are_none_and_keep_the_rest():
    frame = m.encode(m.ChatMessage(seq=1, ts=2.0, room="#a", nick="b", text="hi"))
    assert frame == b'{"type":"message","seq":1,"ts":2.0,"room":"#a","nick":"b","text":"hi","action":false}\n'
    assert m.encode(m.Users("#a", ["b"])) == b'{"type":"users","room":"#a","nicks":["b"],"away":[],"more":0}\n'


def test_a_message_decoded_is_checked_by_its_type():
    with pytest.raises(InvalidFrame, match="field 'users' is longer than 256"):
        m.decode(b'{"type":"joined","room":"#a","topic":"","users":["' + b"x" * 257 + b'"]}')
    with pytest.raises(InvalidFrame, match="field 'users' must be a list"):
        m.decode(b'{"type":"joined","room":"#a","topic":"","users":"x"}')
    with pytest.raises(InvalidFrame, match="field 'mine' must be a boolean"):
        m.decode(b'{"type":"rooms","names":[],"counts":[],"topics":[],"mine":[1]}')
    assert m.decode(b'{"type":"message","seq":1,"ts":1e300,"room":"#a","nick":"b","text":"t"}').ts == 1e300


def test_code_written_for_dataclass_messages_still_works():
    """``dataclasses.replace``/``fields`` on a message, as the server's modules use them."""
    import dataclasses

    assert dataclasses.replace(m.Say("x"), room="#a") == m.Say("x", room="#a")
    assert [f.name for f in dataclasses.fields(m.Users)] == ["room", "nicks", "away", "more"]
    welcome = dataclasses.replace(m.Welcome(1, "s", "n", "#a", ["n"]), replay=3)
    assert (welcome.replay, welcome.exit_words, welcome.mode) == (3, ["bye"], "chat")
