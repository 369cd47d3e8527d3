"""Cluster nodes after trouble: a dead node cleared away, a stalled or rolled-back Redis, hostile input.

Each test here failed against the first cluster server (found by review).
"""

from __future__ import annotations

import socket
import time

import pytest
from helpers import NativeClient, ask_who, frames_until, hello
from test_cluster_outage import RECOVERY, expect_renumbered, resume_until_welcomed


def said(client: NativeClient, text: str, timeout: float = 10) -> dict:
    client.say(text)
    return client.expect(lambda f: f["type"] in ("accepted", "error"), timeout=timeout)


def _kill_a_node_whose_user_was_in_a_room_nobody_here_follows(make_nodes) -> tuple[object, NativeClient]:
    a, b = make_nodes(2)
    carol = NativeClient(a.port, "carol")
    carol.send_json({"type": "join", "room": "#secret"})
    carol.expect(lambda f: f["type"] == "joined")
    bob = NativeClient(b.port, "bob")
    a.kill()
    carol.read_until_closed()
    frames_until(bob, lambda f: f["type"] == "notice" and f.get("event") == "leave" and f.get("nick") == "carol", 30)
    return b, bob


def test_clearing_a_dead_node_away_does_not_freeze_the_node_that_does_it(make_nodes):
    """B posts "carol left" to #secret, which B does not follow: it must go on
    answering and welcoming (a notice nobody here reads back held every reply)."""
    b, bob = _kill_a_node_whose_user_was_in_a_room_nobody_here_follows(make_nodes)
    assert ask_who(bob)["nicks"] == ["bob"]
    dave = NativeClient(b.port, "dave")
    assert dave.welcome["nick"] == "dave"


def test_a_resume_on_another_node_after_a_rename(make_nodes):
    """The token issued by /nick is the one Redis checks a take-over against."""
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    alice.send_json({"type": "nick", "nick": "alice2"})
    token = alice.expect(lambda f: f["type"] == "token")["token"]
    back = hello(b.port, nick="alice2", client="test", resume=token, room="#lobby")
    got = back.expect(lambda f: f["type"] in ("welcome", "error"))
    assert (got["type"], got.get("nick")) == ("welcome", "alice2"), got


@pytest.mark.parametrize("before", [-1, 0, 1, 2**63])
def test_hostile_history_positions_are_answered_and_the_session_goes_on(make_nodes, before):
    (a,) = make_nodes(1)
    alice = NativeClient(a.port, "alice")
    assert said(alice, "hi")["type"] == "accepted"
    alice.send_json({"type": "history", "count": 5, "before": before})
    got = alice.expect(lambda f: f["type"] in ("notice", "error"))
    assert got["type"] == "notice" or got["code"] in ("unavailable", "invalid_frame", "bad_field"), got
    assert ask_who(alice)["nicks"] == ["alice"], "still served"
    assert "Traceback" not in a.log()


def stall(redis_server, seconds: int) -> socket.socket:
    """Redis stops answering anyone for ``seconds`` (``DEBUG SLEEP``): returns once
    a PING is seen to go unanswered, the connection to close afterwards."""
    sleeper = socket.create_connection(("127.0.0.1", redis_server.port))
    sleeper.sendall(f"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n${len(str(seconds))}\r\n{seconds}\r\n".encode())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as probe:
            probe.sendall(b"PING\r\n")
            probe.settimeout(0.3)
            try:
                probe.recv(16)
            except TimeoutError:
                return sleeper
    raise AssertionError("Redis never stalled")


def test_a_stalled_redis_neither_duplicates_nor_loses_a_line(make_nodes, make_redis):
    """Redis stalls longer than a call may take: the append is in doubt, never
    sent twice (redis-py's retry sent it again, and Redis ran both), and its
    sender's answer says what happened."""
    redis_server = make_redis(debug=True)
    (a,) = make_nodes(1, redis=redis_server)
    alice = NativeClient(a.port, "alice")
    bob = NativeClient(a.port, "bob")
    assert said(alice, "first")["type"] == "accepted"
    sleeper = stall(redis_server, 7)
    try:
        answer = said(alice, "slow", timeout=RECOVERY)
        # The node may still count Redis as lost (its reader got "slow" back first):
        # a line refused meanwhile is sent again once it says the cluster is back.
        while said(alice, "after", timeout=RECOVERY)["type"] != "accepted":
            frames_until(alice, lambda f: f.get("event") == "link_up", RECOVERY)
    finally:
        sleeper.close()
    seen = [
        f["text"] for f in frames_until(bob, lambda f: f.get("text") == "after", RECOVERY) if f["type"] == "message"
    ]
    assert len(seen) == len(set(seen)), f"a line delivered twice: {seen}"
    assert ("slow" in seen) == (answer["type"] == "accepted"), (answer, seen)
    assert seen[-1] == "after"


def test_a_redis_back_from_an_older_snapshot_is_a_new_numbering(make_nodes, redis_server):
    """Numbers already given must not be given again: the rooms get a new epoch,
    sessions reconnect and resume renumbered, and chat goes on."""
    (a,) = make_nodes(1)
    alice = NativeClient(a.port, "alice")
    assert said(alice, "one")["seq"] == 1
    with redis_server.client() as r:
        r.save()  # what Redis will come back with
    assert said(alice, "two")["seq"] == 2
    assert said(alice, "three")["seq"] == 3
    token, epoch = alice.welcome["token"], alice.welcome["epoch"]
    redis_server.kill()
    redis_server.start()
    frames_until(alice, lambda f: f["type"] == "bye", RECOVERY)
    back, welcome = resume_until_welcomed(a.port, nick="alice", resume=token, room="#lobby", epoch=epoch, last_seq=3)
    expect_renumbered(welcome, back, epoch, {"two", "three"})
    got = said(back, "four")
    assert got["type"] == "accepted" and got["seq"] == welcome["seq"] + 1, got
    assert ask_who(back)["nicks"] == ["alice"]


def test_a_node_that_stops_hands_its_users_over(make_nodes):
    """SIGTERM: who resumes on another node takes the name over unannounced (no
    "joined" there); who does not come back is cleared away as having left."""
    a, b = make_nodes(2)
    bob = NativeClient(b.port, "bob")
    alice = NativeClient(a.port, "alice")
    carol = NativeClient(a.port, "carol")
    frames_until(bob, lambda f: f["type"] == "notice" and f.get("event") == "join" and f.get("nick") == "carol")
    code, _ = a.stop()
    assert code == 0
    alice.read_until_closed()
    carol.read_until_closed()
    back = hello(b.port, nick="alice", client="test", resume=alice.welcome["token"], room="#lobby")
    assert back.expect(lambda f: f["type"] in ("welcome", "error"))["type"] == "welcome"
    heard = frames_until(bob, lambda f: f.get("event") == "leave" and f.get("nick") == "carol", RECOVERY)
    assert "(their server is gone)" in heard[-1]["text"]
    about_alice = [f for f in heard if f["type"] == "notice" and f.get("nick") == "alice"]
    assert about_alice == [], "alice moved: nobody is told she left or joined"
    assert ask_who(bob)["nicks"] == ["alice", "bob"]


def test_a_name_changed_only_in_case_keeps_its_rooms_in_the_cluster(make_nodes):
    """The rename re-claims the same name: its rooms stay recorded, so a dead
    node's user is still cleared away from them (and its rooms told it left)."""
    a, b = make_nodes(2)
    bob = NativeClient(b.port, "bob")
    bob.send_json({"type": "join", "room": "#dev"})
    bob.expect(lambda f: f["type"] == "joined")
    alice = NativeClient(a.port, "alice")
    alice.send_json({"type": "join", "room": "#dev"})
    alice.expect(lambda f: f["type"] == "joined")
    alice.send_json({"type": "nick", "nick": "Alice"})
    alice.expect(lambda f: f["type"] == "token")
    frames_until(bob, lambda f: f.get("event") == "nick" and f.get("nick") == "Alice")
    a.kill()
    left = frames_until(
        bob, lambda f: f.get("event") == "leave" and f.get("nick") == "Alice" and f.get("room") == "#dev", RECOVERY
    )
    assert "(their server is gone)" in left[-1]["text"]
    bob.send_json({"type": "who"})
    assert bob.expect(lambda f: f["type"] == "users")["nicks"] == ["bob"]
