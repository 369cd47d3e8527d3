"""The chat rules in-process, without a socket: people as ``Participant``s on the real
``LocalHub`` (memory broker), each with an outlet that records what it is given.

What the rules need from a server is a small fake ``Services``; what reaches a
person is decoded from the bytes the hub's dispatcher hands its outlet, after
``hub.flush()`` (the dispatcher's own synchronisation: no sleeps).
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import pathlib

import pytest

from chatserver.backends.memory import MemoryModeration
from chatserver.backends.records import SearchTooLong, Unavailable
from chatserver.backends.roomlog import MemoryBroker
from chatserver.config import ServerConfig
from chatserver.core import following
from chatserver.core.fanout import Frame
from chatserver.core.hub import LOBBY, LocalHub
from chatserver.rules import chat, effects, membership
from chatserver.rules.effects import SAID_EXIT_WORD, Publish, SessionEnd
from chatserver.rules.moderation import Sanctions
from chatserver.rules.modes import Mode
from chatserver.rules.participant import Participant
from common import messages as m
from common.nicks import nick_key


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Outlet:
    """Records what it is given, decoded: the messages this person received, in order."""

    wire = "native"
    full = False

    def __init__(self) -> None:
        self.got: list[m.Message] = []
        self.kicked: list[str] = []

    def deliver(self, frame: Frame) -> None:
        self.got.append(frame.msg)

    def deliver_bytes(self, data: bytes) -> None:
        self.got += [m.decode(line) for line in data.splitlines()]

    def wait_room(self, timeout: float) -> None:
        pass

    def kick(self, reason: str) -> None:
        self.kicked.append(reason)

    def of(self, kind: type[m.Message]) -> list:
        return [msg for msg in self.got if isinstance(msg, kind)]

    def errors(self) -> list[str]:
        return [e.code for e in self.of(m.Error)]

    def notices(self, event: str | None = None) -> list[str]:
        return [n.text for n in self.of(m.Notice) if event is None or n.event == event]


class Services:
    """The server-wide things, as the rules see them (``rules.services.Services``)."""

    accounts = None  # (no accounts: tests/test_accounts_rules.py gives some)
    markers = None  # (no read markers: the accounts' are tested in tests/test_accounts_devices*.py)

    def __init__(self, config: ServerConfig, clock: Clock, host: str = "") -> None:
        self.config = config
        self.sanctions = Sanctions(MemoryModeration(), clock=clock)
        self.stopping = False
        self.paused: list[float] = []
        self.failures: dict[str, int] = {}
        self.joined: list[str] = []
        self.left: list[tuple[str, str]] = []
        self._host = host
        self._seq = itertools.count(1)
        self._tokens = itertools.count(1)

    def pause(self, seconds: float) -> None:
        self.paused.append(seconds)

    def auth_failed(self, ip: str) -> float:
        self.failures[ip] = self.failures.get(ip, 0) + 1
        return 0.25 * self.failures[ip]

    def auth_succeeded(self, ip: str) -> None:
        self.failures.pop(ip, None)

    def issue_token(self, nick: str) -> str:
        return f"{next(self._tokens)}.{nick_key(nick)}"

    def token_is_ours(self, token: str | None, nick: str) -> bool:
        return bool(token) and token.partition(".")[2] == nick_key(nick)

    def next_seq(self) -> int:
        return next(self._seq)

    def reserved_for_host(self, nick: str, who) -> bool:
        return bool(self._host) and not who.is_host and nick_key(nick) == nick_key(self._host)

    def participant_joined(self, who) -> None:
        self.joined.append(who.nick)

    def participant_left(self, who, reason: str) -> None:
        self.left.append((who.nick, reason))


class SlowSearchLog(MemoryBroker):
    """The memory broker, but a search for "slow" takes too long, and the history of #gone cannot be read."""

    def search(self, room: str, words: str, limit: int) -> list[m.ChatMessage]:
        if "slow" in words:
            raise SearchTooLong("that search took too long: try fewer or longer words")
        return super().search(room, words, limit)

    def recent(self, room: str, count: int, before: int | None = None, after: int | None = None) -> list[m.ChatMessage]:
        if room == "#gone" and before == 13:
            raise Unavailable("the store is away")
        return super().recent(room, count, before, after)


class Chat:
    """A hub, the services, and the people on it."""

    def __init__(self, mode: Mode = Mode.CHAT, **config) -> None:
        self.clock = Clock()
        self.services = Services(ServerConfig(mode=mode, rate_limit=0, **config), self.clock, host="Server")
        self.hub = LocalHub(broker=SlowSearchLog())
        self.outlets: dict[str, Outlet] = {}

    def person(self, nick: str, *, address: str = "10.0.0.1", host: bool = False, **kw) -> Participant:
        outlet = Outlet()
        p = _At(self.services, self.hub, outlet, clock=self.clock)
        p.at = address
        if host:
            p.seat_host()
        assert p.register(nick, **kw), outlet.got
        self.outlets[nick_key(nick)] = outlet
        self.flush()
        outlet.got.clear()
        return p

    def flush(self) -> None:
        assert self.hub.flush(timeout=5.0)

    def got(self, nick: str) -> Outlet:
        self.flush()
        return self.outlets[nick_key(nick)]

    def act(self, p: Participant, msg: m.Message) -> None:
        p.handle(msg)
        self.flush()


class _At(Participant):
    """A participant that says where it comes from (a connection's address)."""

    at = "10.0.0.1"

    @property
    def address(self) -> str:
        return self.at


@pytest.fixture
def room():
    chat_ = Chat()
    yield chat_
    chat_.hub.close()


def texts(outlet: Outlet) -> list[str]:
    return [msg.text for msg in outlet.of(m.ChatMessage)]


# -- the table: a command in, effects out --------------------------------------


def test_a_handler_returns_effects_and_sends_nothing(room):
    alice = room.person("alice")
    out = chat.COMMANDS[m.Say](alice, m.Say("hello"))
    assert [type(e) for e in out] == [Publish] and out[0].room == LOBBY
    assert out[0].build(7, 1.0) == m.ChatMessage(seq=7, ts=1.0, room=LOBBY, nick="alice", text="hello")
    assert room.got("alice").got == []  # nothing happened until the effects are carried out
    alice.execute(out)
    assert [a.seq for a in room.got("alice").of(m.Accepted)] == [1]


def test_every_command_has_a_handler_in_every_mode():
    from chatserver.rules.participant import TABLES

    commands = {m.Say, m.Action, m.PrivateSay, m.SetNick, m.Who, m.Join, m.Part, m.ListRooms, m.SetTopic}
    commands |= {m.Away, m.Kick, m.History, m.Search, m.Quit, m.Ping, m.Error, m.Op, m.Deop, m.ListOps}
    commands |= {m.Ban, m.Unban, m.ListBans, m.Mute, m.Unmute}
    for mode, (table, _) in TABLES.items():
        assert commands <= set(table), (mode, commands - set(table))


# -- say, /me ------------------------------------------------------------------


def test_say_reaches_the_others_and_the_sender_gets_its_receipt(room):
    alice, _ = room.person("alice"), room.person("bob")
    room.act(alice, m.Say("hello"))
    assert [(c.nick, c.text, c.room) for c in room.got("bob").of(m.ChatMessage)] == [("alice", "hello", LOBBY)]
    receipts = room.got("alice").of(m.Accepted)
    assert len(receipts) == 1 and receipts[0].text is None  # a plain say's receipt does not repeat it
    assert room.got("alice").of(m.ChatMessage) == []


def test_me_is_an_action_and_its_receipt_says_what_it_said(room):
    alice, _ = room.person("alice"), room.person("bob")
    alice.typed("/me waves")
    room.flush()
    [said] = room.got("bob").of(m.ChatMessage)
    assert said.action and said.text == "waves"
    [receipt] = room.got("alice").of(m.Accepted)
    assert receipt.text == "waves" and receipt.action


def test_lines_read_together_are_published_in_one_go_in_order(room):
    alice, _ = room.person("alice"), room.person("bob")
    room.act(alice, m.Join("#dev"))
    alice.say_many([m.Say("one"), m.Action("two"), m.Say("three", room=LOBBY)])
    room.flush()
    assert [(c.text, c.room, c.action) for c in room.got("bob").of(m.ChatMessage)] == [("three", LOBBY, False)]
    assert [a.room for a in room.got("alice").of(m.Accepted)] == ["#dev", "#dev", LOBBY]
    with pytest.raises(SessionEnd):  # an exit word among them: said, then the end
        alice.say_many([m.Say("four", room=LOBBY), m.Say("bye", room=LOBBY)])
    assert texts(room.got("bob"))[-2:] == ["four", "bye"]


def test_an_empty_message_is_refused(room):
    alice = room.person("alice")
    room.act(alice, m.Say("   "))
    assert room.got("alice").errors() == ["empty_message"]


def test_the_exit_word_is_said_then_ends_the_session(room):
    alice, _ = room.person("alice"), room.person("bob")
    with pytest.raises(SessionEnd, match=SAID_EXIT_WORD):
        alice.handle(m.Say("bye"))
    assert texts(room.got("bob")) == ["bye"]
    assert room.got("alice").of(m.Bye)[0].reason == "goodbye"


def test_quit_ends_without_a_word_to_the_room(room):
    alice, _ = room.person("alice"), room.person("bob")
    with pytest.raises(SessionEnd, match="quit"):
        alice.handle(m.Quit())
    alice.unregister("quit")
    assert room.got("bob").notices("leave") == ["alice left"]
    assert room.services.left == [("alice", "quit")]


# -- rooms ---------------------------------------------------------------------


def test_join_greets_the_joiner_and_tells_the_room(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(bob, m.Join("#dev"))
    room.act(alice, m.Join("#dev"))
    [joined] = room.got("alice").of(m.Joined)
    assert joined.room == "#dev" and sorted(joined.users) == ["alice", "bob"]
    assert alice.room == "#dev" and set(alice.rooms.values()) == {LOBBY, "#dev"}
    assert "alice joined #dev" in room.got("bob").notices("join")


def test_join_of_a_room_we_are_in_focuses_it(room):
    alice = room.person("alice")
    room.act(alice, m.Join("#dev"))
    room.act(alice, m.Join(LOBBY))
    assert room.got("alice").of(m.Focused) == [m.Focused(room=LOBBY)] and alice.room == LOBBY


def test_join_refusals(room, monkeypatch):
    alice = room.person("alice")
    room.act(alice, m.Join("no spaces allowed"))
    assert room.got("alice").errors() == ["invalid_room"]
    monkeypatch.setattr(membership, "MAX_MEMBERSHIPS", 2)
    room.act(alice, m.Join("#a"))
    room.act(alice, m.Join("#b"))
    assert room.got("alice").errors()[-1] == "too_many_rooms" and "#b" not in alice.rooms.values()


def test_say_to_a_room_we_are_not_in_is_refused(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(bob, m.Join("#dev"))
    room.act(alice, m.Say("psst", room="#dev"))
    assert room.got("alice").errors() == ["not_in_room"] and texts(room.got("bob")) == []


def test_part_leaves_and_tells_the_room(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(alice, m.Join("#dev"))
    room.act(bob, m.Join("#dev"))
    room.act(alice, m.Part())
    assert room.got("alice").of(m.Parted) == [m.Parted(room="#dev", focus=LOBBY)]
    assert "alice left #dev" in room.got("bob").notices("leave")
    room.act(bob, m.Say("still here?", room="#dev"))
    assert "still here?" not in texts(room.got("alice"))


def test_part_of_the_lobby_alone_is_refused_and_the_last_room_goes_back_to_it(room):
    alice = room.person("alice")
    room.act(alice, m.Part())
    assert room.got("alice").errors() == ["bad_command"]
    room.act(alice, m.Join("#dev"))
    room.act(alice, m.Part(LOBBY))
    room.act(alice, m.Part())  # the last room: back to the lobby, greeted there
    assert room.got("alice").of(m.Parted)[-1] == m.Parted(room="#dev", focus=LOBBY)
    assert room.got("alice").of(m.Joined)[-1].room == LOBBY and list(alice.rooms.values()) == [LOBBY]


def test_rooms_lists_ours(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(bob, m.Join("#dev"))
    room.act(alice, m.ListRooms())
    [listed] = room.got("alice").of(m.RoomList)
    assert dict(zip(listed.names, listed.mine, strict=True)) == {"#dev": False, LOBBY: True}


# -- names -----------------------------------------------------------------------


def test_rename_is_announced_with_a_new_token(room):
    alice, _ = room.person("alice"), room.person("bob")
    old_token = alice.token
    room.act(alice, m.SetNick("alicia"))
    assert "alice is now known as alicia" in room.got("bob").notices("nick")
    [token] = room.got("alice").of(m.Token)
    assert token.token == alice.token != old_token and room.hub.find("alicia") is not None


@pytest.mark.parametrize(
    ("wanted", "code"),
    [("bob", "nick_taken"), ("no way", "invalid_nick"), ("root", "nick_reserved"), ("server", "nick_taken")],
)
def test_rename_refusals(wanted, code):
    chat_ = Chat(ops=frozenset({"root"}))
    try:
        alice, _ = chat_.person("alice"), chat_.person("bob")
        chat_.act(alice, m.SetNick(wanted))
        assert chat_.got("alice").errors() == [code] and alice.nick == "alice"
        assert chat_.got("bob").notices("nick") == []
    finally:
        chat_.hub.close()


def test_rename_suggests_a_free_name(room):
    alice, _ = room.person("alice"), room.person("bob")
    room.act(alice, m.SetNick("BOB"))
    assert room.got("alice").of(m.Error)[0].suggestion == "BOB2"


def test_a_banned_name_cannot_be_taken_by_a_rename(room):
    alice = room.person("alice")
    room.services.sanctions.ban("mallory", "", by="op", reason="", duration=60)
    room.act(alice, m.SetNick("mallory"))
    assert room.got("alice").errors() == ["nick_banned"]


# -- topic, away, private messages ------------------------------------------------


def test_topic_set_announced_and_asked(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(alice, m.SetTopic("release day"))
    assert room.got("bob").notices("topic") == [f"alice set the topic of {LOBBY}: release day"]
    room.act(bob, m.SetTopic(""))
    assert room.got("bob").notices("topic")[-1] == f"the topic of {LOBBY}: release day"


def test_away_is_announced_and_told_to_whoever_writes(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(bob, m.Away("lunch"))
    assert room.got("alice").notices("away") == ["bob is away: lunch"] and room.hub.find("bob").away == "lunch"
    room.act(alice, m.PrivateSay("bob", "ping?"))
    assert room.got("alice").notices("away") == ["bob is away: lunch", "bob is away: lunch"]
    room.act(bob, m.Away(""))
    assert room.got("alice").notices("away")[-1] == "bob is back"


def test_private_message_and_its_copy(room):
    alice, _, _ = room.person("alice"), room.person("bob"), room.person("carol")
    room.act(alice, m.PrivateSay("BOB", "secret"))
    [got] = room.got("bob").of(m.Private)
    assert (got.nick, got.to, got.text) == ("alice", "bob", "secret")
    assert [p.text for p in room.got("alice").of(m.Private)] == ["secret"]
    assert room.got("carol").of(m.Private) == []
    room.act(alice, m.PrivateSay("nobody", "hello?"))
    assert room.got("alice").errors() == ["no_such_nick"]


# -- operators ---------------------------------------------------------------------


def test_kick_needs_an_operator(room):
    alice, _ = room.person("alice"), room.person("bob")
    room.act(alice, m.Kick("bob", ""))
    assert room.got("alice").errors() == ["not_operator"] and room.got("bob").kicked == []


def test_an_operator_kicks(room):
    alice, _ = room.person("alice"), room.person("bob")
    alice.op = True
    room.act(alice, m.Kick("bob", "spam"))
    assert room.got("bob").kicked == ["kicked by alice: spam"]
    assert room.got("bob").notices("kick") == ["you were kicked by alice: spam"]
    room.act(alice, m.Kick("alice", ""))
    assert room.got("alice").errors() == ["no_such_nick"]


def test_nobody_kicks_the_host(room):
    server, alice = room.person("Server", host=True), room.person("alice")
    alice.op = True
    room.act(alice, m.Kick("Server", ""))
    assert room.got("alice").errors() == ["not_kickable"] and room.got("server").kicked == []
    assert server.op


def test_op_and_deop(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(bob, m.Op("alice"))
    assert room.got("bob").errors() == ["not_operator"]
    alice.op = True
    room.act(alice, m.Op("bob"))
    assert bob.op and room.hub.find("bob").op and room.services.sanctions.granted("bob") is not None
    assert room.got("bob").notices("op") == ["bob was made an operator by alice"]
    room.act(alice, m.Ban("bob", reason=""))
    assert room.got("alice").errors() == ["protected"]  # an operator is deopped first
    room.act(alice, m.Deop("bob"))
    assert not bob.op and room.services.sanctions.granted("bob") is None
    room.act(alice, m.Deop("bob"))
    assert room.got("alice").errors()[-1] == "not_an_operator"


def test_ban_ends_the_session_and_refuses_the_name_and_address(room):
    alice, _ = room.person("alice"), room.person("bob", address="10.0.0.9")
    alice.op = True
    room.act(alice, m.Ban("bob", reason="spam", duration=600))
    assert room.got("bob").kicked[0].startswith("banned by alice") and room.got("bob").kicked[0].endswith(": spam")
    assert "bob was banned by alice for 10 min: spam" in room.got("alice").notices("ban")
    again = _At(room.services, room.hub, Outlet())
    again.at = "10.0.0.9"
    with pytest.raises(SessionEnd, match="banned"):
        again.register("robert")  # another name, the banned address
    assert [e.code for e in again.outlet.of(m.Error)] == ["banned"] and again.outlet.of(m.Bye)
    room.act(alice, m.Unban("bob"))
    assert room.services.sanctions.banned("bob", "10.0.0.9") is None


def test_mute_silences_the_room_but_not_private_messages(room):
    alice, bob = room.person("alice"), room.person("bob")
    alice.op = True
    room.act(alice, m.Mute("bob", reason="calm down", duration=60))
    assert room.got("bob").notices("mute")[0].startswith("you were muted by alice for 1 min: calm down")
    for said in (m.Say("hello"), m.SetTopic("mine"), m.Away("gone"), m.SetNick("robert")):
        room.act(bob, said)
    assert room.got("bob").errors() == ["muted"] * 4 and texts(room.got("alice")) == []
    room.act(bob, m.PrivateSay("alice", "sorry"))
    assert [p.text for p in room.got("alice").of(m.Private)] == ["sorry"]
    room.clock.now += 61  # the mute runs out
    room.act(bob, m.Say("back"))
    assert texts(room.got("alice")) == ["back"]


def test_bans_and_ops_are_listed_to_operators_only(room):
    alice, bob = room.person("alice"), room.person("bob")
    room.act(bob, m.ListBans())
    assert room.got("bob").errors() == ["not_operator"]
    alice.op = True
    room.services.sanctions.mute("carol", "", by="alice", reason="", duration=0)
    room.act(alice, m.ListBans())
    head, entry = room.got("alice").notices("bans")
    assert head == "0 ban(s), 1 mute(s):" and entry.startswith("  mute carol by alice")
    room.act(alice, m.ListOps())
    assert room.got("alice").notices("ops") == ["1 operator(s):", "  alice (named by --op)"]


# -- history and search ----------------------------------------------------------


def test_history_and_search(room):
    alice = room.person("alice")
    for text in ("one fish", "two fish", "red herring"):
        room.act(alice, m.Say(text))
    room.act(alice, m.History(count=2))
    assert [x.text for x in room.got("alice").of(m.ChatMessage)] == ["two fish", "red herring"]
    room.got("alice").got.clear()
    room.act(alice, m.Search("fish"))
    assert [x.text for x in room.got("alice").of(m.ChatMessage)] == ["one fish", "two fish"]
    assert room.got("alice").notices("search")[0] == f"search results for 'fish' in {LOBBY}: 2 message(s)"


def test_search_refusals(room):
    alice = room.person("alice")
    room.act(alice, m.Search("   "))
    room.act(alice, m.Search("slow words"))
    assert room.got("alice").errors() == ["bad_command", "search_too_long"]
    room.act(alice, m.Search("nothing"))
    assert room.got("alice").notices("search") == [f"search results for 'nothing' in {LOBBY}: none found"]


def test_a_store_away_is_said_not_a_crash(room):
    alice = room.person("alice")
    room.act(alice, m.Join("#gone"))
    room.act(alice, m.History(count=5, before=13))
    [error] = room.got("alice").of(m.Error)
    assert error.code == "unavailable" and error.message.startswith("/history not done: the store is away")


# -- registration, the rate limit ---------------------------------------------------


def test_the_hosts_name_is_refused_to_others(room):
    p = _At(room.services, room.hub, Outlet())
    assert p.register("SERVER") is False and p.outlet.errors() == ["nick_taken"] and not p.registered


def test_a_resume_takes_back_an_op_grant_and_the_name(room):
    alice, bob = room.person("alice"), room.person("bob")
    alice.op = True
    room.act(alice, m.Op("bob"))
    old = room.got("bob")
    room.got("alice").got.clear()
    again = room.person("bob", resume=bob.token)  # its client back on a new connection
    assert again.op and bob.replaced and old.kicked == ["replaced by a new connection"]
    assert room.got("alice").notices("join") == []  # nobody left, nobody joined


def test_a_wrong_password_is_slowed_and_ends_the_session():
    chat_ = Chat()
    chat_.services.config = dataclasses.replace(chat_.services.config, password="sesame")
    try:
        p = _At(chat_.services, chat_.hub, Outlet())
        assert p.register("alice") is False and p.outlet.errors() == ["password_required"]
        with pytest.raises(SessionEnd, match="wrong password"):
            p.register("alice", password="open")
        assert chat_.services.paused == [0.25] and p.outlet.errors()[-1] == "bad_password"
        assert chat_.hub.find("alice") is None
    finally:
        chat_.hub.close()


def test_a_flood_is_slowed_then_ended():
    chat_ = Chat()
    chat_.services.config = dataclasses.replace(chat_.services.config, rate_limit=1.0, rate_burst=2)
    try:
        alice = chat_.person("alice")
        alice.handle(m.Say("1"))
        alice.handle(m.Say("2"))
        assert chat_.services.paused == []  # the burst
        alice.handle(m.Say("3"))
        assert chat_.services.paused == [1.0] and chat_.got("alice").notices()[0].startswith("slow down")
        with pytest.raises(SessionEnd, match="flooding"):
            for n in range(10):
                alice.handle(m.Say(str(n)))
        assert chat_.got("alice").errors()[-1] == "flooding"
    finally:
        chat_.hub.close()


# -- reverse and ack modes: their own tables ----------------------------------------


def test_reverse_mode_answers_the_sender_alone():
    chat_ = Chat(Mode.REVERSE)
    try:
        alice, bob = chat_.person("alice"), chat_.person("bob")
        chat_.act(alice, m.Say("héllo 👍🏽"))
        assert [r.text for r in chat_.got("alice").of(m.Reply)] == ["👍🏽 olléh"]
        chat_.act(alice, m.Join("#dev"))
        chat_.act(alice, m.History(count=5))
        chat_.act(alice, m.Ban("bob", reason=""))
        assert chat_.got("alice").errors() == ["bad_command"] * 3
        with pytest.raises(SessionEnd, match=SAID_EXIT_WORD):
            bob.handle(m.Say("end"))  # reverse mode's second exit word
    finally:
        chat_.hub.close()


def test_ack_mode_numbers_its_answers():
    chat_ = Chat(Mode.ACK)
    try:
        alice = chat_.person("alice")
        chat_.act(alice, m.Say('say "hi"'))
        chat_.act(alice, m.Action("waves"))
        assert [r.text for r in chat_.got("alice").of(m.Reply)] == ['ACK 1: "say \\"hi\\""', 'ACK 2: /me "waves"']
        chat_.act(alice, m.SetNick("alicia"))
        assert alice.nick == "alicia" and chat_.got("alice").notices("nick") == ["alice is now known as alicia"]
        chat_.act(alice, m.Say("end"))  # an exit word only in reverse mode
        assert chat_.got("alice").of(m.Reply)[-1].text == 'ACK 3: "end"'
    finally:
        chat_.hub.close()


# -- the layers ---------------------------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _imports(path: pathlib.Path) -> set[str]:
    """Every module ``path`` names in an import, TYPE_CHECKING blocks included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_the_rules_import_no_transport_and_no_command_line():
    for path in (ROOT / "chatserver" / "rules").glob("*.py"):
        above = {name for name in _imports(path) if name.startswith(("chatserver.net", "chatserver.app"))}
        assert not above, (path.name, above)


def test_no_import_circle_runs_through_the_rules():
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (ROOT / "chatserver").rglob("*.py")
    }
    graph = {name: {d for d in _imports(p) if d in modules and d != name} for name, p in modules.items()}
    for start in (name for name in modules if name.startswith("chatserver.rules.")):
        seen, todo = set(), list(graph[start])
        while todo:  # everything start reaches: never itself
            name = todo.pop()
            assert name != start, f"{start} imports itself through others"
            if name not in seen:
                seen.add(name)
                todo += graph[name]


def test_importing_the_rules_loads_no_transport():
    import subprocess
    import sys

    code = (
        "import sys, chatserver.rules.participant; "
        "print(sorted(n for n in sys.modules if n.startswith(('chatserver.net', 'chatserver.app'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_effects_are_values():
    assert effects.Answer(m.Pong("x")) == effects.Answer(m.Pong("x"))
    assert effects.leave("r", "b", code="c", text="t") == [effects.Answer(m.Error("c", "t")), effects.End("r", "b")]


def test_away_changes_are_bounded_per_minute_with_a_clear_refusal(room):
    from chatserver.rules import away

    alice, bob = room.person("alice"), room.person("bob")
    for i in range(away.CHANGES):
        room.act(bob, m.Away(f"out {i}" if i % 2 == 0 else ""))
    heard = len(room.got("alice").notices("away"))
    assert heard == away.CHANGES and room.got("bob").errors() == []
    room.clock.now += away.WINDOW - 1
    room.act(bob, m.Away("once more"))
    (refusal,) = room.got("bob").of(m.Error)
    assert refusal.code == "away_refused" and "try again in 1 s" in refusal.message
    assert len(room.got("alice").notices("away")) == heard, "a refused change is not announced"
    assert room.hub.find("bob").away == "out 4", "nor kept"
    room.clock.now += 1
    room.act(bob, m.Away("once more"))
    assert room.got("alice").notices("away")[-1] == "bob is away: once more"
    assert len(room.got("bob").of(m.Error)) == 1
    room.act(alice, m.Away("lunch"))  # (counted per person: alice has her own)
    assert room.got("alice").errors() == []


def test_an_away_reason_too_long_is_refused_not_cut(room):
    from chatserver.rules import away

    bob = room.person("bob")
    room.act(bob, m.Away("x" * (away.REASON + 1)))
    (refusal,) = room.got("bob").of(m.Error)
    assert refusal.code == "away_refused" and f"at most {away.REASON} characters" in refusal.message
    assert room.hub.find("bob").away == ""
    room.act(bob, m.Away("  spaced   " + "y" * (away.REASON - 7)))  # (counted once on one line)
    assert room.hub.find("bob").away == "spaced " + "y" * (away.REASON - 7)


@pytest.mark.parametrize("mode", [Mode.REVERSE, Mode.ACK])
def test_away_is_bounded_alone_too(mode):
    from chatserver.rules import away

    chat_ = Chat(mode)
    try:
        bob = chat_.person("bob")
        chat_.act(bob, m.Away("z" * (away.REASON + 1)))
        assert chat_.got("bob").errors() == ["away_refused"] and bob.away == ""
    finally:
        chat_.hub.close()


def test_a_publish_with_no_room_to_be_had_is_answered_as_a_join_is(room, monkeypatch):
    """``TooManyRooms`` from a publication (its room could not be taken up: here every try lost it)
    reached nobody: the person got no answer, and lines read together were lost without a word."""
    alice = room.person("alice")
    room.person("bob")
    room.act(alice, m.Join("#a"))
    room.act(alice, m.Join(LOBBY))  # (focused again; in #a too)
    room.got("alice").got.clear()
    monkeypatch.setattr(following, "PUBLISH_TRIES", 0)
    room.act(alice, m.Say("hello"))
    alice.say_many([m.Say("one"), m.Action("two"), m.Say("three", room="#a")])  # (two runs: one a room)
    refused = room.got("alice").of(m.Error)
    assert [e.code for e in refused] == ["too_many_rooms"] * 4, refused
    assert [e.message.partition(":")[0] for e in refused] == ["not sent"] * 4, refused
    assert all("rooms are being made too fast" in e.message for e in refused), refused
    assert texts(room.got("bob")) == []


def test_a_run_looks_at_its_room_once_and_at_each_line_for_an_exit_word():
    """A run's room (member of it, its modes) is looked at for its first line, each line's text
    for an exit word: one that only starts like one is said as any line; a moderated room's
    run is refused line by line, each told why."""
    room = Chat(room_operators=True)
    try:
        _run_looked_at(room)
    finally:
        room.hub.close()


def _run_looked_at(room: Chat) -> None:
    alice, _ = room.person("alice"), room.person("bob")
    room.act(alice, m.Join("#hushed"))  # (made by alice: its operator)
    room.act(alice, m.RoomMode("#hushed", "+m"))
    carol = room.person("carol")
    room.act(carol, m.Join("#hushed"))
    room.got("carol").got.clear()
    carol.say_many([m.Say("may I?", room="#hushed"), m.Say("please", room="#hushed")])
    assert room.got("carol").errors() == ["moderated", "moderated"]
    assert [c.text for c in room.got("alice").of(m.ChatMessage) if c.room == "#hushed"] == []
    alice.say_many([m.Say("byebye", room=LOBBY), m.Say("Bye-bye now", room=LOBBY), m.Say("one", room=LOBBY)])
    room.flush()
    assert texts(room.got("bob"))[-3:] == ["byebye", "Bye-bye now", "one"]
    with pytest.raises(SessionEnd, match=SAID_EXIT_WORD):  # (trimmed, any case, trailing punctuation off)
        alice.say_many([m.Say("two", room=LOBBY), m.Say("  BYE!? ", room=LOBBY), m.Say("unsaid", room=LOBBY)])
    assert texts(room.got("bob"))[-2:] == ["two", "  BYE!? "]
