"""Several real nodes on one real Redis share one chat: rooms, order, names, presence, topics, history."""

from __future__ import annotations

import subprocess
import threading

import pytest
from helpers import (
    CLUSTER_LINE,
    TIMEOUT,
    NativeClient,
    ServerProcess,
    ask_history,
    ask_who,
    hello,
    program,
    python_env,
)


def is_notice(event: str, nick: str | None = None):
    return lambda f: f["type"] == "notice" and f.get("event") == event and (nick is None or f.get("nick") == nick)


def test_nodes_of_one_redis_are_one_cluster_and_another_redis_is_another(make_nodes, make_redis, redis_server):
    a, b = make_nodes(2)
    assert a.cluster_id == b.cluster_id and a.node_id != b.node_id
    assert a.redis_shown == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.client().get("lanchat:cluster") == a.cluster_id, "the id is kept in Redis"
    (elsewhere,) = make_nodes(1, redis=make_redis())
    assert elsewhere.cluster_id != a.cluster_id


def test_cross_node_chat_both_ways_with_the_same_seqs(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    bob = NativeClient(b.port, "bob")
    assert alice.expect(is_notice("join", "bob"))["room"] == "#lobby", "a login on B is announced on A"
    assert bob.welcome["epoch"] == alice.welcome["epoch"], "one numbering for the room on every node"
    assert "alice" in bob.welcome["users"]

    alice.say("hello from A")
    acc = alice.expect(lambda f: f["type"] == "accepted")
    got = bob.messages(1)[0]
    assert (got["nick"], got["text"], got["room"], got["seq"]) == ("alice", "hello from A", "#lobby", acc["seq"])

    bob.send_json({"type": "action", "text": "waves from B"})
    acc = bob.expect(lambda f: f["type"] == "accepted")
    got = alice.messages(1)[0]
    assert (got["nick"], got["text"], got["action"], got["seq"]) == ("bob", "waves from B", True, acc["seq"])

    bob.send_json({"type": "quit"})
    assert alice.expect(is_notice("leave", "bob"))["room"] == "#lobby"


def test_one_order_across_three_nodes_under_concurrent_senders(make_nodes):
    """Three senders, one per node, send at once; a watcher on each node sees
    every message in one order, with the seqs the senders were acknowledged."""
    nodes = make_nodes(3)
    per_sender = 40
    watchers = [NativeClient(n.port, f"watch{i}") for i, n in enumerate(nodes)]
    senders = [NativeClient(n.port, f"send{i}") for i, n in enumerate(nodes)]
    start = threading.Barrier(len(senders))
    acks: dict[str, list[int]] = {}
    seen_by_sender: dict[str, list[dict]] = {}
    errors: list[BaseException] = []

    def run(client: NativeClient) -> None:
        nick = client.welcome["nick"]
        try:
            start.wait(TIMEOUT)
            for i in range(per_sender):
                client.say(f"{nick} {i}")
            mine, others = [], []
            while len(mine) < per_sender or len(others) < per_sender * (len(senders) - 1):
                f = client.frame()
                if f["type"] == "accepted":
                    mine.append(f["seq"])
                elif f["type"] == "message" and "replay" not in f:
                    others.append(f)
                elif f["type"] == "error":
                    raise AssertionError(f)
            acks[nick], seen_by_sender[nick] = mine, others
        except BaseException as exc:  # (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    total = per_sender * len(senders)
    views = [[(f["seq"], f["nick"], f["text"]) for f in w.messages(total, timeout=30)] for w in watchers]
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert views[0] == views[1] == views[2], "every node shows the room in one order"
    seqs = [seq for seq, _, _ in views[0]]
    assert seqs == list(range(seqs[0], seqs[0] + total)), "numbered without gaps or repeats"
    for nick in acks:
        own = [(seq, text) for seq, who, text in views[0] if who == nick]
        assert [text for _, text in own] == [f"{nick} {i}" for i in range(per_sender)], "each sender's order kept"
        assert acks[nick] == [seq for seq, _ in own], "acknowledged with the seqs everyone saw"
        others = [(f["seq"], f["nick"], f["text"]) for f in seen_by_sender[nick]]
        assert others == [v for v in views[0] if v[1] != nick], "senders see the same order too"


def test_a_name_is_unique_across_nodes(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    for name in ("alice", "ALICE", "аӏісе"):  # the same name, by case or by look-alike
        other = hello(b.port, nick=name)
        refused = other.frame()
        assert (refused["type"], refused["code"]) == ("error", "nick_taken"), (name, refused)
        assert refused.get("suggestion") and refused["suggestion"] != "alice"
    bob = NativeClient(b.port, "bob")
    bob.send_json({"type": "nick", "nick": "Alice"})
    assert bob.expect(lambda f: f["type"] == "error")["code"] == "nick_taken", "a rename cannot take it either"

    alice.send_json({"type": "quit"})
    alice.read_until_closed()
    again = NativeClient(b.port)  # a name given up on A is free on B at once
    again.send_json({"type": "hello", "version": 1, "nick": "alice"})
    assert again.expect(lambda f: f["type"] in ("welcome", "error"))["type"] == "welcome"
    renamed = NativeClient(a.port, "carol")
    renamed.send_json({"type": "nick", "nick": "dave"})
    renamed.expect(lambda f: f["type"] == "token")
    taken = hello(b.port, nick="dave")
    assert taken.frame()["code"] == "nick_taken", "a new name is held cluster-wide"
    late = NativeClient(b.port, "carol")  # and the old one given up
    assert late.welcome["nick"] == "carol"


def claim_at_once(ports: list[int], name: str) -> list[str]:
    """Several clients ask for ``name`` at the same moment, one on each port:
    what each was answered (``welcome`` or the error code)."""
    clients = [NativeClient(port) for port in ports]
    go = threading.Barrier(len(clients))
    answers = [""] * len(clients)

    def claim(i: int) -> None:
        go.wait(TIMEOUT)
        clients[i].send_json({"type": "hello", "version": 1, "nick": name})
        f = clients[i].expect(lambda f: f["type"] in ("welcome", "error"))
        answers[i] = f["type"] if f["type"] == "welcome" else f["code"]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    return answers


def test_nodes_racing_for_one_name_give_it_to_one(make_nodes):
    nodes = make_nodes(3)
    for round_ in range(10):
        answers = claim_at_once([n.port for n in nodes], f"racer{round_}")
        assert sorted(answers) == ["nick_taken", "nick_taken", "welcome"], (round_, answers)


def test_who_away_and_private_messages_across_nodes(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    bob = NativeClient(b.port, "bob")
    alice.expect(is_notice("join", "bob"))
    users = ask_who(alice)
    assert (users["room"], sorted(users["nicks"]), users["away"]) == ("#lobby", ["alice", "bob"], [])

    bob.send_json({"type": "away", "reason": "lunch"})
    assert alice.expect(is_notice("away", "bob"))["room"] == "#lobby"
    assert ask_who(alice)["away"] == ["bob"], "away is seen from the other node"

    alice.send_json({"type": "privmsg", "to": "BOB", "text": "psst"})
    got = bob.expect(lambda f: f["type"] == "private")
    assert (got["nick"], got["to"], got["text"]) == ("alice", "bob", "psst")
    copy = alice.expect(lambda f: f["type"] in ("private", "error"))
    assert (copy["type"], copy.get("to")) == ("private", "bob"), "the sender's copy: it arrived"
    alice.expect(is_notice("away"))  # told bob is away

    bob.send_json({"type": "privmsg", "to": "alice", "text": "back soon"})
    assert alice.expect(lambda f: f["type"] == "private")["text"] == "back soon"
    alice.send_json({"type": "privmsg", "to": "nobody", "text": "hello?"})
    assert alice.expect(lambda f: f["type"] == "error")["code"] == "no_such_nick"

    bob.send_json({"type": "quit"})
    alice.expect(is_notice("leave", "bob"))
    assert ask_who(alice)["nicks"] == ["alice"], "gone from /who on the other node"
    alice.send_json({"type": "privmsg", "to": "bob", "text": "still there?"})
    assert alice.expect(lambda f: f["type"] == "error")["code"] == "no_such_nick"


def test_topics_rooms_and_history_across_nodes(make_nodes):
    a, b = make_nodes(2)
    alice = NativeClient(a.port, "alice")
    for i in range(5):
        alice.say(f"early {i}")
    acked = [alice.expect(lambda f: f["type"] == "accepted")["seq"] for _ in range(5)]

    bob = NativeClient(b.port, "bob")
    replay = bob.messages(bob.welcome["replay"], replayed=True)
    assert [(f["seq"], f["text"]) for f in replay] == [(s, f"early {i}") for i, s in enumerate(acked)]
    assert [(f["seq"], f["text"]) for f in ask_history(bob)] == [(s, f"early {i}") for i, s in enumerate(acked)]

    alice.send_json({"type": "join", "room": "#dev"})
    joined_a = alice.expect(lambda f: f["type"] == "joined")
    alice.send_json({"type": "topic", "text": "the build is red"})
    alice.expect(is_notice("topic", "alice"))
    bob.send_json({"type": "join", "room": "#DEV"})
    joined_b = bob.expect(lambda f: f["type"] == "joined")
    assert (joined_b["room"], joined_b["epoch"]) == ("#dev", joined_a["epoch"])
    assert joined_b["topic"] == "the build is red", "a topic set on A is the room's topic on B"
    assert sorted(joined_b["users"]) == ["alice", "bob"]

    bob.send_json({"type": "topic", "text": "fixed"})
    notice = alice.expect(is_notice("topic", "bob"))
    assert (notice["room"], notice["topic"]) == ("#dev", "fixed")
    bob.send_json({"type": "topic", "text": ""})
    assert "fixed" in bob.expect(is_notice("topic"))["text"]

    bob.send_json({"type": "list"})
    rooms = bob.expect(lambda f: f["type"] == "rooms")
    listed = dict(zip(rooms["names"], zip(rooms["counts"], rooms["topics"], strict=True), strict=True))
    assert listed["#dev"] == (2, "fixed") and listed["#lobby"][0] == 2

    bob.say("in dev from B")
    seq = bob.expect(lambda f: f["type"] == "accepted")["seq"]
    history = ask_history(alice)  # (#dev is alice's focused room)
    assert [(f["seq"], f["nick"], f["text"]) for f in history] == [(seq, "bob", "in dev from B")]

    carol = NativeClient(b.port)  # a newcomer on B sees A's lobby history and B's topic
    carol.send_json({"type": "hello", "version": 1, "nick": "carol"})
    carol.expect(lambda f: f["type"] == "welcome")
    carol.send_json({"type": "join", "room": "#dev"})
    joined_c = carol.expect(lambda f: f["type"] == "joined")
    assert joined_c["topic"] == "fixed" and joined_c["replay"] == 1


def test_an_operator_on_one_node_kicks_someone_on_another(make_nodes, tmp_path):
    (tmp_path / "oppw").write_text("op-secret\n")
    a, b = make_nodes(2, "--op", "alice", "--op-password-file", str(tmp_path / "oppw"))
    alice = NativeClient(a.port)
    alice.send_json({"type": "hello", "version": 1, "nick": "alice", "password": "op-secret"})
    alice.expect(lambda f: f["type"] == "welcome")
    bob = NativeClient(b.port, "bob")
    alice.expect(is_notice("join", "bob"))
    alice.send_json({"type": "kick", "nick": "bob", "reason": "spam"})
    kicked = bob.expect(is_notice("kick"))
    assert "alice" in kicked["text"] and "spam" in kicked["text"]
    bob.expect(lambda f: f["type"] == "bye")
    assert alice.expect(is_notice("leave", "bob"))["room"] == "#lobby"
    assert ask_who(alice)["nicks"] == ["alice"]


def test_cluster_and_store_together_is_an_error(redis_server, tmp_path):
    done = subprocess.run(
        [*program("chatserver"), "--cluster", redis_server.url, "--store", str(tmp_path / "x.sqlite3"), "--no-web"],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=TIMEOUT,
    )
    assert done.returncode == 2 and "--store" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_the_cluster_address_from_the_environment_with_its_password(make_redis, monkeypatch):
    secret = "pa55word"
    redis = make_redis(password=secret)
    monkeypatch.setenv("CHATSERVER_CLUSTER", f"redis://127.0.0.1:{redis.port}/0")
    monkeypatch.setenv("REDIS_PASSWORD", secret)
    node = ServerProcess("--no-web", "--cluster-heartbeat", "1")
    try:
        line = node.read_start_line(CLUSTER_LINE).group(0)
        assert secret not in line, "the password is not printed"
        assert redis.client().get("lanchat:cluster"), "the node is using this Redis"
        alice = NativeClient(node.port, "alice")
        alice.say("hi")
        assert alice.expect(lambda f: f["type"] in ("accepted", "error"))["type"] == "accepted"
    finally:
        code, err = node.stop()
    assert code == 0 and secret not in err


@pytest.mark.parametrize("bad", ["redis://127.0.0.1:notaport/0", "http://127.0.0.1:6379/0"])
def test_a_bad_cluster_address_is_a_clear_error(bad):
    done = subprocess.run(
        [*program("chatserver"), "--cluster", bad, "--no-web", "--port", "0"],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=TIMEOUT,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr and done.stderr.strip()
