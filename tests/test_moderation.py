"""Operators moderate: /op, /deop, /ops, /ban, /unban, /bans, /mute, /unmute.

The rules on a fake clock (``Sanctions``), then real servers and clients on
loopback; a second loopback address (127.0.0.2) stands for another machine,
so a ban on an address can be told from a ban on a name.
"""

from __future__ import annotations

import signal
import socket
import sqlite3

import pytest
from helpers import TIMEOUT, NativeClient, PlainClient, ServerProcess, ask_who, client_process, wait_for
from test_host import HostServer

from chatserver.backends.memory import MemoryModeration
from chatserver.backends.sqlite import schema as store_module
from chatserver.backends.store import SqliteStore
from chatserver.rules.moderation import Sanctions, address_key
from common import messages as m
from common.commands import HELP_LINES, CommandError, format_duration, parse_duration, parse_input
from common.rooms import room_key

OP_PASSWORD = "op secret"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the rules, on a fake clock ------------------------------------------------


def test_a_ban_refuses_its_name_and_its_address_until_it_runs_out():
    clock = FakeClock()
    rules = Sanctions(MemoryModeration(), clock=clock)
    rules.ban("Bob", "::ffff:10.0.0.5", by="alice", reason="spam", duration=3600)
    assert rules.banned("bob", "10.0.0.9").reason == "spam"  # the name, in any case
    assert rules.banned("mallory", "10.0.0.5").nick == "Bob"  # the address, however spelt
    assert rules.banned("mallory", "10.0.0.9") is None
    clock.now += 3599
    assert rules.banned("bob", "") is not None
    clock.now += 1
    assert rules.banned("bob", "10.0.0.5") is None and rules.bans() == []


def test_zero_is_until_lifted_and_unban_takes_a_name_or_an_address():
    clock = FakeClock()
    rules = Sanctions(MemoryModeration(), clock=clock)
    rules.ban("bob", "10.0.0.5", by="alice", reason="", duration=0)
    rules.ban("carol", "10.0.0.6", by="alice", reason="", duration=60)
    clock.now += 100 * 365 * 86400
    assert [b.nick for b in rules.bans()] == ["bob"]
    assert rules.unban("::ffff:10.0.0.5")[0].nick == "bob"
    assert rules.unban("bob") == [] and rules.banned("bob", "10.0.0.5") is None


def test_a_mute_runs_out_and_is_kept_by_the_log():
    clock = FakeClock()
    log = MemoryModeration()
    rules = Sanctions(log, clock=clock)
    rules.mute("bob", "", by="alice", reason="calm down", duration=600)
    assert Sanctions(log, clock=clock).muted("BOB").reason == "calm down"  # a new Sanctions reads it back
    clock.now += 600
    assert rules.muted("bob") is None and log.sanctions() == []  # run out: dropped from the log too
    rules.mute("bob", "", by="alice", reason="", duration=60)
    assert rules.unmute("bob") is not None and rules.muted("bob") is None and log.sanctions() == []


def test_a_mute_is_on_the_address_too():
    clock = FakeClock()
    rules = Sanctions(MemoryModeration(), clock=clock)
    rules.mute("bob", "::ffff:10.0.0.5", by="alice", reason="calm down", duration=600)
    assert rules.muted("robert", "10.0.0.5").nick == "bob"  # another name, the same machine
    assert rules.muted("robert", "10.0.0.9") is None and rules.muted("robert") is None
    assert rules.muted("BOB", "10.0.0.9").reason == "calm down"
    clock.now += 600
    assert rules.muted("robert", "10.0.0.5") is None and rules.mutes() == []


@pytest.mark.parametrize("kind", ["ban", "mute"])
def test_every_sanction_on_an_address_is_looked_at_not_the_first_found(kind):
    """One that ran out, met first, must not hide another one on the same address still in force."""
    clock = FakeClock()
    rules = Sanctions(MemoryModeration(), clock=clock)
    impose = rules.ban if kind == "ban" else rules.mute
    impose("bob", "10.0.0.5", by="alice", reason="short", duration=60)
    impose("carol", "10.0.0.5", by="alice", reason="long", duration=3600)
    clock.now += 60
    found = rules.banned("mallory", "10.0.0.5") if kind == "ban" else rules.muted("mallory", "10.0.0.5")
    assert found is not None and (found.nick, found.reason) == ("carol", "long")
    clock.now += 3600
    assert (rules.banned if kind == "ban" else rules.muted)("mallory", "10.0.0.5") is None


def test_an_op_grant_goes_only_to_the_token_it_was_given_to():
    rules = Sanctions(MemoryModeration(), clock=FakeClock())
    rules.grant("bob", by="alice", token="t1")
    assert rules.reclaim("bob", "someone-elses-token", "t9") is None
    assert rules.reclaim("bob", "t1", "t2") is not None  # a reconnect: the grant moves to the new token
    assert rules.reclaim("bob", "t1", "t3") is None  # the old token is spent
    rules.renamed("bob", "robert", "t4")
    assert rules.granted("bob") is None and rules.reclaim("robert", "t4", "t5").by == "alice"
    assert rules.revoke("robert") is not None and rules.grants() == []


def test_durations_and_addresses():
    assert [parse_duration(w) for w in ("30m", "2h", "1d", "1h30m", "45s", "0", "2W")] == [
        1800,
        7200,
        86400,
        5400,
        45,
        0,
        14 * 86400,
    ]
    assert [parse_duration(w) for w in ("10", "1x", "-1h", "h", "", "99999999d")] == [None] * 6
    assert format_duration(5400) == "1 h 30 min" and format_duration(45) == "45 s"
    assert address_key("::ffff:192.168.1.2") == "192.168.1.2" and address_key("[fe80::1]") == "fe80::1"


def test_the_commands_parse_into_frames():
    assert parse_input("/ban bob 2h spamming the room") == m.Ban("bob", 7200, "spamming the room")
    assert parse_input("/ban bob flooding") == m.Ban("bob", None, "flooding")  # the server's default
    assert parse_input("/mute bob 0") == m.Mute("bob", 0, "")
    assert isinstance(parse_input("/ban bob 10 minutes"), CommandError)  # a number needs a unit
    assert isinstance(parse_input("/ban"), CommandError)
    assert parse_input("/unban 10.0.0.5") == m.Unban("10.0.0.5")
    assert (parse_input("/op bob"), parse_input("/deop bob"), parse_input("/unmute bob")) == (
        m.Op("bob"),
        m.Deop("bob"),
        m.Unmute("bob"),
    )
    assert (parse_input("/ops"), parse_input("/bans")) == (m.ListOps(), m.ListBans())
    for name in ("/ban", "/unban", "/bans", "/mute", "/unmute", "/op", "/deop", "/ops"):
        assert any(name in line for line in HELP_LINES), name


# --- the store: a version-1 file is migrated ----------------------------------


def test_a_version_1_store_is_migrated_and_keeps_its_messages(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for statement in store_module._SCHEMA:  # exactly what the first release wrote
        db.execute(statement)
    db.execute(f"PRAGMA application_id = {store_module.APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO rooms VALUES ('#lobby', '#lobby', 'e1', 2, 'old topic')")
    db.execute("INSERT INTO messages (room, seq, ts, nick, text) VALUES ('#lobby', 1, 1.0, 'ann', 'first words')")
    db.execute("INSERT INTO messages (room, seq, ts, nick, text) VALUES ('#lobby', 2, 2.0, 'ann', 'second words')")
    db.commit()
    db.close()
    path.chmod(0o600)  # (sqlite3 made it with the umask's mode; a store must be private)

    kept = SqliteStore(path, room_key=room_key)
    assert [x.text for x in kept.recent("#lobby", 10)] == ["first words", "second words"]
    assert [x.seq for x in kept.search("#lobby", "second", 10)] == [2]
    assert kept.room("#lobby").topic == "old topic"
    rules = Sanctions(kept)
    rules.ban("bob", "10.0.0.5", by="ann", reason="spam", duration=0)
    rules.grant("carol", by="ann", token="tok")
    kept.close()

    again = SqliteStore(path, room_key=room_key)
    try:
        version = again._database.connection.execute("PRAGMA user_version").fetchone()[0]
        assert version == store_module.SCHEMA_VERSION == 3
        rules = Sanctions(again)
        assert rules.banned("someone", "10.0.0.5").reason == "spam"
        assert rules.reclaim("carol", "tok", "tok2") is not None
    finally:
        again.close()


# --- real servers ---------------------------------------------------------------


@pytest.fixture
def op_server(tmp_path, make_server):
    (tmp_path / "oppw").write_text(OP_PASSWORD + "\n")
    srv = make_server(
        "--rate-limit", "0", "--op", "alice", "--op", "root", "--op-password-file", str(tmp_path / "oppw")
    )
    srv.oppw = tmp_path / "oppw"
    return srv


def connect(port: int, source: str = "127.0.0.1") -> NativeClient:
    """A native client whose connection comes from ``source`` (another loopback address)."""
    client = NativeClient.__new__(NativeClient)
    client.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0))
    client.buf, client.lines, client.welcome = b"", [], None
    return client


def hello(port: int, nick: str, source: str = "127.0.0.1", **fields) -> tuple[NativeClient, dict]:
    client = connect(port, source)
    client.send_json({"type": "hello", "version": 1, "nick": nick, **fields})
    return client, client.expect(lambda f: f["type"] in ("welcome", "error"))


def join(port: int, nick: str, source: str = "127.0.0.1", **fields) -> NativeClient:
    client, first = hello(port, nick, source, **fields)
    assert first["type"] == "welcome", first
    client.welcome = first
    return client


def error(client: NativeClient) -> dict:
    return client.expect(lambda f: f["type"] == "error")


def notice(client: NativeClient, event: str) -> dict:
    return client.expect(lambda f: f["type"] == "notice" and f.get("event") == event)


def listing(client: NativeClient, event: str) -> list[str]:
    """A /bans or /ops answer: its head line and entries (ended by a /who answer)."""
    client.send_json({"type": "who"})
    frames = []
    while (f := client.frame())["type"] != "users":
        frames.append(f)
    return [f["text"] for f in frames if f["type"] == "notice" and f.get("event") == event]


def test_only_operators_moderate(op_server):
    bob = join(op_server.port, "bob")
    join(op_server.port, "carol")
    for frame in (
        {"type": "ban", "nick": "carol"},
        {"type": "unban", "mask": "carol"},
        {"type": "bans"},
        {"type": "mute", "nick": "carol"},
        {"type": "unmute", "nick": "carol"},
        {"type": "op", "nick": "bob"},
        {"type": "deop", "nick": "carol"},
        {"type": "ops"},
    ):
        bob.send_json(frame)
        assert error(bob)["code"] == "not_operator", frame
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    alice.send_json({"type": "ban", "nick": "bob", "duration": -5})
    assert error(alice)["code"] == "bad_command"
    alice.send_json({"type": "ban", "nick": "alice"})
    assert error(alice)["code"] == "protected"


def test_mute_and_unmute_announced_private_messages_still_go(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    bob = join(op_server.port, "bob", source="127.0.0.2")  # bob's machine (a mute holds on the address too)
    carol = join(op_server.port, "carol")
    alice.send(b'{"type":"mute","nick":"bob","duration":600,"reason":"calm down"}\n')
    heard = notice(carol, "mute")
    assert heard["text"] == "bob was muted by alice for 10 min: calm down" and heard["nick"] == "bob"
    told = notice(bob, "mute")["text"]
    assert "muted by alice" in told and "private messages" in told
    bob.say("can you hear me")
    refused = error(bob)
    assert refused["code"] == "muted" and "until" in refused["message"] and "calm down" in refused["message"]
    for frame in ({"type": "topic", "text": "mine"}, {"type": "nick", "nick": "bobby"}):
        bob.send_json(frame)
        assert error(bob)["code"] == "muted", frame
    bob.send_json({"type": "privmsg", "to": "carol", "text": "psst"})
    assert carol.expect(lambda f: f["type"] in ("private", "message"))["text"] == "psst"
    alice.send_json({"type": "bans"})
    assert any("mute bob (127.0.0.2) by alice until" in line for line in listing(alice, "bans"))  # and its address
    alice.send_json({"type": "unmute", "nick": "bob"})
    assert notice(carol, "unmute")["text"] == "alice lifted the mute on bob: they can talk again"
    bob.say("back")
    assert carol.messages(1)[0]["text"] == "back"
    alice.send_json({"type": "unmute", "nick": "bob"})
    assert error(alice)["code"] == "not_muted"
    code, err = op_server.stop()
    assert "bob was muted by alice for 10 min: calm down" in err  # the server's log


def test_a_short_mute_runs_out_on_a_real_server(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    bob = join(op_server.port, "bob")
    alice.send_json({"type": "mute", "nick": "bob", "duration": 1})
    notice(bob, "mute")
    bob.say("first try")
    assert error(bob)["code"] == "muted"

    def accepted() -> bool:
        bob.say("again")
        return bob.expect(lambda f: f["type"] in ("accepted", "error"))["type"] == "accepted"

    assert wait_for(accepted, interval=0.2)


def test_op_deop_and_ops(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    bob = join(op_server.port, "bob")
    carol = join(op_server.port, "carol")
    alice.send_json({"type": "op", "nick": "bob"})
    assert notice(carol, "op")["text"] == "bob was made an operator by alice"
    bob.send_json({"type": "ops"})
    ops = listing(bob, "ops")
    assert ops[0] == "3 operator(s):" and "  alice (named by --op)" in ops and "  bob (made operator by alice)" in ops
    assert any(line.startswith("  root (named by --op; not here") for line in ops), "an --op name not here is listed"
    alice.send_json({"type": "ban", "nick": "bob"})
    assert error(alice)["message"] == "bob is an operator: /deop bob first"
    alice.send_json({"type": "mute", "nick": "bob"})
    assert error(alice)["code"] == "protected"
    bob.send_json({"type": "mute", "nick": "carol", "duration": 60})  # a runtime op moderates too
    assert notice(alice, "mute")["text"] == "carol was muted by bob for 1 min"
    assert notice(carol, "mute")["text"].startswith("you were muted by bob for 1 min")
    alice.send_json({"type": "deop", "nick": "bob"})
    assert notice(carol, "deop")["text"] == "bob is no longer an operator (by alice)"
    bob.send_json({"type": "unmute", "nick": "carol"})
    assert error(bob)["code"] == "not_operator"
    alice.send_json({"type": "deop", "nick": "carol"})
    assert error(alice)["code"] == "not_an_operator"
    alice.send_json({"type": "op", "nick": "nobody"})
    assert error(alice)["code"] == "no_such_nick"


def test_a_runtime_op_comes_back_with_its_resume_token_not_with_its_name(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    bob = join(op_server.port, "bob")
    alice.send_json({"type": "op", "nick": "bob"})
    notice(bob, "op")
    token = bob.welcome["token"]
    bob.close()
    notice(alice, "leave")
    impostor = join(op_server.port, "bob")  # the name alone: a nick is not a credential
    impostor.send_json({"type": "ops"})
    assert error(impostor)["code"] == "not_operator"
    impostor.close()
    notice(alice, "leave")
    bob = join(op_server.port, "bob", resume=token)  # bob's own client reconnecting
    bob.send_json({"type": "ops"})
    assert listing(bob, "ops")[0] == "3 operator(s):"  # (and root, by --op, not here)


def test_a_ban_disconnects_and_refuses_the_name_and_the_address(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    carol = join(op_server.port, "carol")
    bob = join(op_server.port, "bob", source="127.0.0.2")  # bob's machine
    alice.send_json({"type": "ban", "nick": "bob", "duration": 7200, "reason": "spam"})
    assert notice(carol, "ban")["text"] == "bob was banned by alice for 2 h: spam"
    told = notice(bob, "kick")["text"]
    assert told.startswith("you were banned by alice until ") and told.endswith("(2 h from now): spam")
    assert bob.read_until_closed()[-1].startswith(b'{"type":"bye"')

    # The name; the address (someone else there is told it is the address's ban, not bob's name).
    for nick, source, head in (
        ("bob", "127.0.0.1", "you are banned from chatserver until "),
        ("mallory", "127.0.0.2", "your address (127.0.0.2) is banned from chatserver until "),
    ):
        client, refused = hello(op_server.port, nick, source)
        assert refused["code"] == "banned", (nick, source)
        assert refused["message"].startswith(head), refused
        assert refused["message"].endswith("by alice: spam"), refused
        assert nick != "mallory" or "bob" not in refused["message"], refused
        assert client.read_until_closed()[-1].startswith(b'{"type":"bye"')
    join(op_server.port, "dave")  # another machine is welcome
    root = join(op_server.port, "root", source="127.0.0.2", password=OP_PASSWORD)  # an operator gets in
    root.send_json({"type": "bans"})
    assert any(line.startswith("  ban bob (127.0.0.2) by alice until ") for line in listing(root, "bans"))

    # chatclient prints that one line and exits 1
    proc = client_process(op_server.address, "--name", "bob")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert err.splitlines() == [err.strip()] and err.startswith("chatclient: you are banned from chatserver until ")

    alice.send_json({"type": "unban", "mask": "127.0.0.2"})
    assert notice(carol, "unban")["text"] == "alice lifted the ban on bob"
    join(op_server.port, "bob", source="127.0.0.2")
    alice.send_json({"type": "unban", "mask": "bob"})
    assert error(alice)["code"] == "not_banned"


def test_a_muted_person_back_under_another_name_is_still_muted_and_told_so_at_once(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    carol = join(op_server.port, "carol")  # another machine
    bob = join(op_server.port, "bob", source="127.0.0.2")
    alice.send_json({"type": "mute", "nick": "bob", "duration": 600, "reason": "calm down"})
    notice(bob, "mute")
    bob.send_json({"type": "quit"})
    bob.read_until_closed()

    again = join(op_server.port, "bob", source="127.0.0.2")
    told = notice(again, "mute")["text"]
    assert told.startswith("you are muted by alice (calm down) until ") and "min from now)" in told, told
    robert = join(op_server.port, "robert", source="127.0.0.2")  # another name, the same machine
    told = notice(robert, "mute")["text"]
    assert told.startswith("your address (127.0.0.2) is muted by alice (calm down) until "), told
    robert.say("it is me again")
    refused = error(robert)
    assert refused["code"] == "muted" and refused["message"].startswith("your address (127.0.0.2) is muted")
    carol.say("heard")
    assert alice.messages(1)[0]["text"] == "heard", "another address talks"
    root = join(op_server.port, "root", source="127.0.0.2", password=OP_PASSWORD)
    root.say("an operator from there")
    assert alice.messages(1)[0]["text"] == "an operator from there", "an operator is not muted by the address"


def test_a_banned_name_cannot_be_taken_with_nick(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    alice.send_json({"type": "ban", "nick": "mallory", "duration": 600, "reason": "spam"})  # not here: the name
    notice(alice, "ban")
    carol = join(op_server.port, "carol", source="127.0.0.2")
    carol.send_json({"type": "nick", "nick": "MALLORY"})
    refused = error(carol)
    assert refused["code"] == "nick_banned" and refused["message"].startswith("the nickname 'MALLORY' is banned until ")
    assert "spam" not in refused["message"]
    assert "carol" in ask_who(carol)["nicks"], "still carol"
    carol.send_json({"type": "nick", "nick": "caroline"})
    assert carol.expect(lambda f: f["type"] == "notice" and f.get("event") == "nick")["nick"] == "caroline"


def test_nobody_bans_mutes_or_deops_the_host(tmp_path):
    (tmp_path / "oppw").write_text(OP_PASSWORD + "\n")
    host = HostServer("--op", "alice", "--op-password-file", str(tmp_path / "oppw"))
    alice = join(host.port, "alice", password=OP_PASSWORD)
    for kind in ("ban", "mute", "deop"):
        alice.send_json({"type": kind, "nick": "Server"})
        assert error(alice)["message"] == f"Server runs this server: nobody can {kind} it"
    host.term.send("/mute alice\r")
    host.term.wait_text("alice is an operator: /deop alice first")
    host.term.send("/deop alice\r")
    assert notice(alice, "deop")["text"] == "alice is no longer an operator (by Server)"
    host.term.send("bye\r")
    assert host.term.wait_exit() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_bans_mutes_and_grants_survive_a_restart(tmp_path, sig):
    (tmp_path / "oppw").write_text(OP_PASSWORD + "\n")
    args = ("--rate-limit", "0", "--store", str(tmp_path / "chat.sqlite3"), "--op", "alice")
    args += ("--op-password-file", str(tmp_path / "oppw"))
    srv = ServerProcess(*args)
    alice = join(srv.port, "alice", password=OP_PASSWORD)
    bob = join(srv.port, "bob")
    carol = join(srv.port, "carol")
    alice.send_json({"type": "ban", "nick": "dave", "duration": 0, "reason": "troll"})  # not here: the name
    notice(bob, "ban")
    alice.send_json({"type": "mute", "nick": "bob", "reason": "shouting"})
    notice(carol, "mute")
    alice.send_json({"type": "op", "nick": "carol"})
    notice(bob, "op")  # announced: committed before it went out
    srv.stop(sig)

    srv = ServerProcess(*args)
    try:
        _, refused = hello(srv.port, "dave")
        assert refused["code"] == "banned" and "until an operator lifts it, by alice: troll" in refused["message"]
        bob = join(srv.port, "bob")
        bob.say("am I heard?")
        assert error(bob)["code"] == "muted"
        carol = join(srv.port, "carol", resume=carol.welcome["token"])  # her client, reconnecting
        carol.send_json({"type": "unmute", "nick": "bob"})
        assert notice(bob, "unmute")["text"] == "carol lifted the mute on bob: they can talk again"
    finally:
        srv.stop()


def test_a_plain_client_has_the_same_commands(op_server):
    bob = PlainClient(op_server.port, "bob")
    bob.send(b"/ban carol 1h\n")
    assert bob.expect_line(lambda line: line.startswith(b"* error"))[-1] == b"* error: only operators can /ban"
    bob.send(b"/mute carol 10\n")  # a number without a unit is not a reason
    assert b"usage: /mute NICK [DURATION] [REASON]" in bob.expect_line(lambda line: line.startswith(b"* error"))[-1]
    bob.send(b"/help\n")
    assert bob.expect_line(lambda line: b"/unban NICK|ADDRESS" in line)


def test_chatclient_banned_while_connected_says_why_and_exits_1(op_server):
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    bob = client_process(op_server.address, "--name", "bob")
    assert bob.stdout.readline() == "Connected to the server.\n"
    notice(alice, "join")
    alice.send_json({"type": "ban", "nick": "bob", "duration": 1800, "reason": "enough"})
    bob.wait(timeout=20)  # (its input still open: it ends because of the ban, not of end of input)
    out, err = bob.stdout.read(), bob.stderr.read()
    assert bob.returncode == 1, (out, err)
    assert "you were banned by alice until " in err and "(30 min from now): enough" in err, "once, as why it ended"
    assert "Traceback" not in err


def test_an_op_name_not_here_is_an_operator_for_every_command(op_server):
    """root is named by --op and not connected: /ops, /deop, /ban and /mute all say the same."""
    alice = join(op_server.port, "alice", password=OP_PASSWORD)
    for frame in ({"type": "deop", "nick": "root"}, {"type": "ban", "nick": "root"}, {"type": "mute", "nick": "root"}):
        alice.send_json(frame)
        refused = error(alice)
        assert refused["code"] == "protected" and "operator by --op" in refused["message"], (frame, refused)
    alice.send_json({"type": "ops"})
    assert any(line.startswith("  root (named by --op; not here") for line in listing(alice, "ops"))
