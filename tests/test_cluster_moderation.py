"""Moderation is cluster-wide: a mute, ban or operator grant given on one node holds on every node."""

from __future__ import annotations

import socket

import pytest
from helpers import TIMEOUT, NativeClient, wait_for

OP_PASSWORD = "op-secret"


@pytest.fixture
def op_nodes(make_nodes, tmp_path):
    """Two nodes on one Redis where ``alice`` is an operator (with the password)."""
    (tmp_path / "oppw").write_text(OP_PASSWORD + "\n")
    return make_nodes(2, "--op", "alice", "--op-password-file", str(tmp_path / "oppw"))


def login(port: int, nick: str, source: str = "127.0.0.1", **fields) -> tuple[NativeClient, dict]:
    """A native client from ``source`` (another loopback address: another machine) and its answer."""
    client = NativeClient.__new__(NativeClient)
    client.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0))
    client.buf, client.lines, client.welcome = b"", [], None
    client.send_json({"type": "hello", "version": 1, "nick": nick, **fields})
    answer = client.expect(lambda f: f["type"] in ("welcome", "error"))
    client.welcome = answer if answer["type"] == "welcome" else None
    return client, answer


def join(port: int, nick: str, source: str = "127.0.0.1", **fields) -> NativeClient:
    client, answer = login(port, nick, source, **fields)
    assert answer["type"] == "welcome", answer
    return client


def notice(client: NativeClient, event: str, nick: str | None = None) -> dict:
    return client.expect(
        lambda f: f["type"] == "notice" and f.get("event") == event and (nick is None or f.get("nick") == nick)
    )


def error(client: NativeClient) -> dict:
    return client.expect(lambda f: f["type"] == "error")


def test_a_mute_given_on_one_node_holds_on_the_other(op_nodes):
    a, b = op_nodes
    alice = join(a.port, "alice", password=OP_PASSWORD)
    bob = join(b.port, "bob", source="127.0.0.2")  # bob's machine (a mute holds on the address too)
    carol = join(b.port, "carol")
    alice.send_json({"type": "mute", "nick": "bob", "duration": 600, "reason": "calm down"})
    assert notice(carol, "mute", "bob")["text"] == "bob was muted by alice for 10 min: calm down"
    bob.say("can you hear me")
    assert error(bob)["code"] == "muted"
    bob.send_json({"type": "privmsg", "to": "alice", "text": "sorry"})
    assert alice.expect(lambda f: f["type"] == "private")["text"] == "sorry", "private messages still go"

    bob.close()  # bob cannot shake it off by logging in on the other node
    notice(alice, "leave", "bob")
    bob_on_a = join(a.port, "bob", source="127.0.0.2")
    bob_on_a.say("and now?")
    assert error(bob_on_a)["code"] == "muted", "the mute is on the name, on every node"

    alice.send_json({"type": "unmute", "nick": "bob"})
    notice(carol, "unmute", "bob")
    bob_on_a.say("back")
    assert carol.messages(1)[0]["text"] == "back"


def test_a_mute_holds_on_the_address_on_every_node_and_a_banned_name_is_not_taken_by_a_rename(op_nodes):
    a, b = op_nodes
    alice = join(a.port, "alice", password=OP_PASSWORD)
    bob = join(b.port, "bob", source="127.0.0.2")
    alice.send_json({"type": "mute", "nick": "bob", "duration": 600, "reason": "calm down"})
    notice(bob, "mute")
    bob.close()
    notice(alice, "leave", "bob")
    robert = join(a.port, "robert", source="127.0.0.2")  # another name, the other node, the same machine
    told = notice(robert, "mute")["text"]
    assert told.startswith("your address (127.0.0.2) is muted by alice (calm down) until "), told
    robert.say("it is me")
    assert error(robert)["code"] == "muted"

    alice.send_json({"type": "ban", "nick": "mallory", "duration": 600})  # not connected: the name
    notice(alice, "ban", "mallory")

    def b_knows() -> bool:  # (node B reloads bans when it reads the change: a login there is refused then)
        probe, answer = login(b.port, "mallory", "127.0.0.3")
        probe.close()
        return answer.get("code") == "banned"

    assert wait_for(b_knows)
    carol = join(b.port, "carol")
    carol.send_json({"type": "nick", "nick": "mallory"})
    assert error(carol)["code"] == "nick_banned"


def test_a_ban_on_one_node_disconnects_on_another_and_refuses_everywhere(op_nodes):
    a, b = op_nodes
    alice = join(a.port, "alice", password=OP_PASSWORD)
    carol = join(a.port, "carol")
    bob = join(b.port, "bob", source="127.0.0.2")  # bob's machine, on node B
    alice.send_json({"type": "ban", "nick": "bob", "duration": 7200, "reason": "spam"})
    assert notice(carol, "ban", "bob")["text"] == "bob was banned by alice for 2 h: spam"
    assert notice(bob, "kick")["text"].startswith("you were banned by alice until ")
    assert bob.read_until_closed()[-1].startswith(b'{"type":"bye"')
    for node in (a, b):
        for nick, source in (("bob", "127.0.0.1"), ("mallory", "127.0.0.2")):  # the name; the address
            _, refused = login(node.port, nick, source)
            assert (refused["type"], refused.get("code")) == ("error", "banned"), (node.port, nick, source)

    dave = join(b.port, "dave")  # someone on node B, to see when B has heard of the unban
    alice.send_json({"type": "unban", "mask": "bob"})
    notice(carol, "unban", "bob")
    notice(dave, "unban", "bob")  # (B reloads bans before it delivers what it read with the change)
    join(b.port, "bob", source="127.0.0.2")


def test_an_operator_made_on_one_node_moderates_someone_on_another(op_nodes):
    a, b = op_nodes
    alice = join(a.port, "alice", password=OP_PASSWORD)
    bob = join(b.port, "bob")
    dave = join(a.port, "dave")
    bob.send_json({"type": "kick", "nick": "dave"})
    assert error(bob)["code"] == "not_operator"
    alice.send_json({"type": "op", "nick": "bob"})
    notice(dave, "op", "bob")
    notice(bob, "op", "bob")  # (told on its own node: from then on it may act on it)
    bob.send_json({"type": "kick", "nick": "dave", "reason": "testing"})
    assert "bob" in notice(dave, "kick")["text"]
    notice(alice, "leave", "dave")
    bob.send_json({"type": "ops"})
    bob.send_json({"type": "who"})  # (its answer ends the list)
    frames = []
    while (f := bob.frame())["type"] != "users":
        frames.append(f)
    listed = [f["text"] for f in frames if f["type"] == "notice" and f.get("event") == "ops"]
    assert any("bob" in line for line in listed[1:]) and any("alice" in line for line in listed[1:]), listed


def test_a_rename_on_one_node_is_seen_and_frees_the_old_name_on_the_other(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    bob = NativeClient(b.port, "bob")
    notice(alice, "join", "bob")
    bob.send_json({"type": "nick", "nick": "robert"})
    assert bob.expect(lambda f: f["type"] == "token")["token"] != bob.welcome["token"]
    renamed = notice(alice, "nick", "robert")
    assert renamed["previous"] == "bob" and renamed["room"] == "#lobby"
    assert sorted(NativeClient(a.port, "bob").welcome["users"]) == ["alice", "bob", "robert"]
