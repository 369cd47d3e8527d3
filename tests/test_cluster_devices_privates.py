"""Private conversations between accounts, listed by their last message (issue 23): one server and a
cluster node (real processes, a real Redis). A private message is kept once, in its conversation; the
list of an account's conversations is bounded and never forgets one because another was busy."""

from __future__ import annotations

import pytest
from helpers import NativeClient, ServerProcess
from test_accounts_store import Kit, _account, kit  # noqa: F401  (the fixture: memory, SQLite, Redis)

from chatserver.backends import accounts
from chatserver.cluster import keys

PASSWORD = "other secret 7"


def account(port: int, nick: str) -> NativeClient:
    client = NativeClient(port, nick)
    client.send_json({"type": "register", "password": PASSWORD})
    assert client.expect(lambda f: f["type"] in ("loggedin", "error"))["type"] == "loggedin"
    return client


def listed(client: NativeClient) -> list[str]:
    client.send_json({"type": "conversations"})
    return client.expect(lambda f: f["type"] in ("conversation-list", "error"))["names"]


@pytest.fixture
def srv():
    server = ServerProcess("--rate-limit", "0")
    yield server
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err, err


def test_a_conversation_is_listed_however_busy_another_has_been_since(srv):
    alice = account(srv.port, "alice")
    for nick in ("bob", "carol"):
        account(srv.port, nick).close()  # (away: what alice sends them is kept for them too)
    alice.send_json({"type": "privmsg", "to": "carol", "text": "once"})
    alice.expect(lambda f: f["type"] == "private" and f["text"] == "once")
    for i in range(2001):  # (more lines than /privates used to read back)
        alice.send_json({"type": "privmsg", "to": "bob", "text": f"line {i}"})
    alice.expect(lambda f: f["type"] == "private" and f["text"] == "line 2000", timeout=120)
    assert listed(alice) == ["bob", "carol"], "the most recent first, and carol not forgotten"
    alice.close()


def test_a_private_message_on_a_node_is_kept_once_and_nothing_grows_per_message(make_nodes, redis_server):
    (one,) = make_nodes(1)
    alice, bob = account(one.port, "alice"), account(one.port, "bob")
    for i in range(3):
        alice.send_json({"type": "privmsg", "to": "bob", "text": f"hi {i}"})
        bob.expect(lambda f, i=i: f["type"] == "private" and f["text"] == f"hi {i}")
    assert listed(bob) == ["alice"] and listed(alice) == ["bob"]
    conn = redis_server.client()
    logs = sorted(k for k in conn.scan_iter(keys.log("*")) if k.startswith(keys.log("@")))
    assert logs == [keys.log("@alice @bob")], "one stream, the conversation's: no index of each account's"
    assert conn.xlen(keys.log("@alice @bob")) == 3
    alice.close()
    bob.close()


def test_each_store_lists_an_accounts_conversations_by_their_last_message_bounded(kit: Kit, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setattr(accounts, "TALKS_MAX", 3)
    monkeypatch.setattr("chatserver.backends.sqlite.accounts.TALKS_MAX", 3)
    monkeypatch.setattr("chatserver.cluster.redisaccounts.TALKS_MAX", 3)
    for name in ("alice", "Bob", "carol", "dan", "erin"):
        assert kit.store.create(_account(name))
    assert kit.store.talks("alice") == []
    kit.store.talked("alice", "Bob", 10.0)
    kit.store.talked("carol", "alice", 20.0)
    assert kit.store.talks("ALICE") == [("carol", 20.0), ("Bob", 10.0)]
    assert kit.store.talks("bob") == [("alice", 10.0)] and kit.store.talks("carol") == [("alice", 20.0)]
    kit.store.talked("Bob", "alice", 30.0)
    kit.store.talked("alice", "Bob", 25.0)  # (an older message, told late: the later time stays)
    assert kit.store.talks("alice") == [("Bob", 30.0), ("carol", 20.0)]
    kit.store.talked("alice", "dan", 40.0)
    kit.store.talked("alice", "erin", 50.0)
    assert kit.store.talks("alice") == [("erin", 50.0), ("dan", 40.0), ("Bob", 30.0)], "bounded: the oldest went"
    again = kit.reopen() if kit.durable else kit.store  # (kept, after a restart)
    assert again.talks("alice") == [("erin", 50.0), ("dan", 40.0), ("Bob", 30.0)]
    assert again.delete("alice")
    assert again.talks("alice") == [], "gone with its account"
