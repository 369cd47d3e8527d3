"""A node killed with -9: its clients resume on another node, and the names of those who do not lapse."""

from __future__ import annotations

import pytest
from helpers import NativeClient, ask_who, frames_until, hello

LAPSE = 30  # the bound: a dead node is noticed within 30 s


def is_notice(event: str, nick: str | None = None):
    return lambda f: f["type"] == "notice" and f.get("event") == event and (nick is None or f.get("nick") == nick)


def accepted_seqs(client: NativeClient, texts: list[str]) -> list[int]:
    for text in texts:
        client.say(text)
    return [client.expect(lambda f: f["type"] == "accepted")["seq"] for _ in texts]


@pytest.mark.parametrize("when", ["before its lease lapses", "after its lease lapsed"])
def test_a_client_resumes_on_another_node_after_a_kill_9(make_nodes, when):
    """No loss (exactly the missed messages, numbered as on the dead node), no
    duplicates, the same name, and what it typed meanwhile posted to its room."""
    # A 2 s heartbeat: the lease lasts ~6 s, ample for resuming before it lapses.
    a, b = make_nodes(2, heartbeat=2)
    alice = NativeClient(a.port, "alice")
    carol = NativeClient(a.port, "carol")  # stays lost: her leave shows A's leases have lapsed
    bob = NativeClient(b.port, "bob")
    alice.expect(is_notice("join", "bob"))
    token, epoch = alice.welcome["token"], alice.welcome["epoch"]
    seen = [f["seq"] for f in alice.messages(len(accepted_seqs(bob, ["one", "two"])))]
    last_seq = accepted_seqs(alice, ["mine"])[0]
    assert seen + [last_seq] == list(range(seen[0], seen[0] + 3))

    a.kill()
    alice.read_until_closed()
    carol.read_until_closed()
    missed = ["while away 1", "while away 2", "while away 3"]
    missed_seqs = accepted_seqs(bob, missed)
    assert missed_seqs == [last_seq + 1, last_seq + 2, last_seq + 3], "B goes on numbering the room"

    if when == "after its lease lapsed":
        left: set[str] = set()

        def both_left(f: dict) -> bool:
            if is_notice("leave")(f):
                left.add(f["nick"])
            return {"alice", "carol"} <= left

        frames_until(bob, both_left, timeout=LAPSE)
    else:
        squatter = hello(b.port, nick="alice")
        refused = squatter.frame()
        assert (refused["type"], refused["code"]) == ("error", "nick_taken"), "without the token, the name is held"

    back = hello(b.port, nick="alice", client="test", resume=token, room="#lobby", epoch=epoch, last_seq=last_seq)
    welcome = back.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome", f"the token from A is good on B: {welcome}"
    assert (welcome["nick"], welcome["room"], welcome["epoch"]) == ("alice", "#lobby", epoch)
    assert welcome["replay"] == len(missed)
    replay = [back.frame() for _ in missed]
    assert [(f["seq"], f["text"], f["replay"]) for f in replay] == [
        (s, t, "missed") for s, t in zip(missed_seqs, missed, strict=True)
    ]

    typed = accepted_seqs(back, ["typed while away", "and another"])
    assert typed == [missed_seqs[-1] + 1, missed_seqs[-1] + 2]
    got = bob.messages(2)
    assert [(f["nick"], f["seq"], f["text"]) for f in got] == [
        ("alice", typed[0], "typed while away"),
        ("alice", typed[1], "and another"),
    ]
    after = accepted_seqs(bob, ["welcome back"])
    live = back.messages(1)
    assert [(f["seq"], f["text"]) for f in live] == [(after[0], "welcome back")], "nothing twice, nothing skipped"

    if when == "before its lease lapses":
        frames = frames_until(bob, is_notice("leave", "carol"), timeout=LAPSE)
        assert not any(is_notice("leave", "alice")(f) for f in frames), "who resumed in time never left"
    assert sorted(ask_who(bob)["nicks"]) == ["alice", "bob"]
    assert sorted(ask_who(back)["nicks"]) == ["alice", "bob"]


def test_a_dead_nodes_names_lapse_and_its_rooms_hear_them_leave(make_nodes):
    a, b = make_nodes(2)
    carol = NativeClient(a.port, "carol")
    carol.send_json({"type": "join", "room": "#dev"})
    carol.expect(lambda f: f["type"] == "joined")
    dave = NativeClient(a.port, "dave")
    bob = NativeClient(b.port, "bob")
    bob.send_json({"type": "join", "room": "#dev"})
    bob.expect(lambda f: f["type"] == "joined")
    assert sorted(ask_who(bob)["nicks"]) == ["bob", "carol"]

    a.kill()
    for lost in (carol, dave):
        lost.read_until_closed()  # (A is gone: nothing said goodbye to them)
    wanted = {("carol", "#lobby"), ("carol", "#dev"), ("dave", "#lobby")}
    heard: set[tuple[str, str]] = set()

    def leave(f: dict) -> bool:
        if f["type"] == "notice" and f.get("event") == "leave":
            heard.add((f["nick"], f["room"]))
        return wanted <= heard

    frames_until(bob, leave, timeout=LAPSE)
    assert heard == wanted, "each room of each of its users hears them leave, once"
    assert ask_who(bob)["nicks"] == ["bob"], "/who in #dev"
    bob.send_json({"type": "privmsg", "to": "carol", "text": "there?"})
    assert bob.expect(lambda f: f["type"] == "error")["code"] == "no_such_nick"
    bob.send_json({"type": "list"})
    rooms = bob.expect(lambda f: f["type"] == "rooms")
    counts = dict(zip(rooms["names"], rooms["counts"], strict=True))
    assert counts["#dev"] == 1 and counts["#lobby"] == 1

    again = NativeClient(b.port, "carol")  # the name is free again
    assert again.welcome["nick"] == "carol"
    assert bob.expect(is_notice("join", "carol"))["room"] == "#lobby"


def test_the_other_nodes_keep_serving_and_a_new_node_joins_in(make_nodes):
    """Kill one of three nodes: the two others go on with one numbering, and a
    node started afterwards takes part as if nothing happened."""
    a, b, c = make_nodes(3)
    bob = NativeClient(b.port, "bob")
    cleo = NativeClient(c.port, "cleo")
    doomed = NativeClient(a.port, "doomed")
    doomed.say("before")
    first = doomed.expect(lambda f: f["type"] == "accepted")["seq"]
    a.kill()
    seqs = accepted_seqs(bob, ["after"])
    assert seqs == [first + 1]
    assert cleo.messages(2)[-1]["seq"] == first + 1
    frames_until(cleo, is_notice("leave", "doomed"), timeout=LAPSE)
    (d,) = make_nodes(1)
    assert d.cluster_id == b.cluster_id
    dora = NativeClient(d.port, "dora")
    assert [f["seq"] for f in dora.messages(dora.welcome["replay"], replayed=True)][-2:] == [first, first + 1]
    dora.say("new node")
    seq = dora.expect(lambda f: f["type"] == "accepted")["seq"]
    assert [(f["seq"], f["text"]) for f in bob.messages(1)] == [(seq, "new node")]
    assert [(f["seq"], f["text"]) for f in cleo.messages(1)] == [(seq, "new node")]
