"""Accounts on a cluster: real nodes on a real Redis; an account made on one node works on another."""

from __future__ import annotations

from helpers import NativeClient
from test_accounts_server import PASSWORD, answer, arrive


def test_an_account_made_on_one_node_logs_in_on_another_and_keeps_messages(make_nodes):
    one, two = make_nodes(2)
    bob = NativeClient(one.port, "bob")
    bob.send_json({"type": "register", "password": PASSWORD})
    token = answer(bob, "loggedin")["token"]
    alice = NativeClient(two.port, "alice")
    alice.send_json({"type": "register", "password": PASSWORD})
    assert answer(alice, "loggedin")["account"] == "alice"
    stranger, refused = arrive(two.port, nick="BOB")
    assert refused["code"] == "name_registered", "registered on the other node: refused here too"
    stranger.close()
    bob.send_json({"type": "quit"})
    bob.read_until_closed()
    alice.send_json({"type": "privmsg", "to": "bob", "text": "across nodes"})
    alice.expect(lambda f: f["type"] == "notice" and f.get("event") == "kept")
    back, welcome = arrive(two.port, nick="bob", login_token=token)
    assert welcome["type"] == "welcome" and answer(back, "loggedin")["token"] == token
    kept = answer(back, "private")
    assert (kept["nick"], kept["text"], kept["replay"]) == ("alice", "across nodes", "away")
    other, welcome = arrive(one.port, nick="alice2")
    other.send_json({"type": "login", "name": "alice", "password": "wrong password"})
    assert answer(other, "loggedin")["code"] == "bad_login"
    back.send_json({"type": "history", "nick": "alice"})
    back.expect(lambda f: f["type"] == "notice" and f.get("event") == "history")
    assert answer(back, "private")["text"] == "across nodes"
    for client in (alice, back, other):
        client.close()
