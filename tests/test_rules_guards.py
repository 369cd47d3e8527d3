"""The handler guards (``rules/guards.py``) without sockets: each refusal answered before the handler runs."""

from __future__ import annotations

from test_accounts_rules import chat_with_accounts
from test_rules import Chat

from chatserver.accounts.service import Refused
from chatserver.rules.effects import Answer
from chatserver.rules.guards import logged_in_only, operator_only, with_accounts
from common import messages as m

ran: list[str] = []


@operator_only
def for_ops(me, msg):
    ran.append("ops")
    return []


@with_accounts
@logged_in_only("log in first")
def for_accounts(me, msg, accounts):
    ran.append(f"accounts of {me.account}")
    if msg.password == "no":
        raise Refused("bad_login", "wrong password")
    return [Answer(m.Notice(text="done", ts=0.0))]


def _codes(effects) -> list[str]:
    return [e.msg.code for e in effects if isinstance(e.msg, m.Error)]


def test_operator_only_refuses_others_before_the_handler_runs():
    chat = Chat()
    try:
        alice = chat.person("alice")
        ran.clear()
        assert _codes(for_ops(alice, m.ListOps())) == ["not_operator"] and ran == []
        alice.op = True
        assert for_ops(alice, m.ListOps()) == [] and ran == ["ops"]
    finally:
        chat.hub.close()


def test_with_accounts_refuses_without_the_service_then_guests_and_answers_a_refusal():
    plain = Chat()
    chat = chat_with_accounts()
    try:
        ran.clear()
        assert _codes(for_accounts(plain.person("bob"), m.Unregister("x"))) == ["accounts_off"]
        bob = chat.person("bob")
        assert _codes(for_accounts(bob, m.Unregister("x"))) == ["not_logged_in"] and ran == []
        bob.account = "bob"
        assert _codes(for_accounts(bob, m.Unregister("no"))) == ["bad_login"]
        (done,) = for_accounts(bob, m.Unregister("yes"))
        assert done.msg.text == "done" and ran == ["accounts of bob", "accounts of bob"]
    finally:
        plain.hub.close()
        chat.hub.close()
