"""The account rules without sockets: name protection, login at hello and by command, passwords typed on
the next line, rights that come with an account, messages kept for the away."""

from __future__ import annotations

import pytest
from test_rules import Chat

from chatserver.accounts import hashing
from chatserver.accounts.service import Accounts
from chatserver.backends.accounts import MemoryAccounts
from common import messages as m


def chat_with_accounts(**config) -> Chat:
    chat = Chat(**config)
    chat.services.accounts = Accounts(
        MemoryAccounts(),
        params=hashing.CHEAP,
        clock=chat.clock,
        required=config.get("accounts") == "required",
        ops=chat.services.config.ops,
    )
    return chat


@pytest.fixture
def chat():
    chat_ = chat_with_accounts()
    yield chat_
    chat_.hub.close()


def registered(chat: Chat, nick: str, password: str = "hunter22"):
    p = chat.person(nick)
    chat.act(p, m.Register(password))
    got = chat.got(nick)
    (done,) = got.of(m.LoggedIn)
    got.got.clear()
    return p, done


def test_register_logs_in_and_gives_a_token(chat):
    bob, done = registered(chat, "bob")
    assert done.account == "bob" and done.registered and done.token
    assert bob.account == "bob" and bob.login_token == done.token
    chat.act(bob, m.Register("another1"))
    assert chat.got("bob").errors() == ["already_registered"]


def test_a_registered_name_and_lookalikes_are_refused_at_hello_and_at_nick(chat):
    registered(chat, "bob")
    from test_rules import Outlet, _At

    for name in ("bob", "BOB", "ВОВ"):  # (the last in Cyrillic capitals)
        outlet = Outlet()
        p = _At(chat.services, chat.hub, outlet, clock=chat.clock)
        assert not p.register(name)
        (err,) = outlet.of(m.Error)
        assert err.code == "name_registered" and "registered" in err.message
    carol = chat.person("carol")
    chat.act(carol, m.SetNick("B0B"))
    assert chat.got("carol").errors() == ["name_registered"] and carol.nick == "carol"


def test_login_at_hello_with_password_or_token(chat):
    bob, done = registered(chat, "bob")
    bob.unregister("gone")
    from test_rules import Outlet, _At

    outlet = Outlet()
    again = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert again.register("someone", login_token=done.token)
    chat.flush()
    assert again.nick == "bob" and again.account == "bob", "a token's account names the session"
    (welcome,) = outlet.of(m.Welcome)
    (login,) = outlet.of(m.LoggedIn)
    assert welcome.accounts == "optional" and login.token == done.token
    again.unregister("gone")
    outlet = Outlet()
    third = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert not third.register("bob", account_password="wrong one")
    assert outlet.errors() == ["bad_login"]
    chat.clock.now += 1
    assert third.register("bob", account_password="hunter22")
    chat.flush()
    assert third.account == "bob" and outlet.of(m.LoggedIn)[0].token != done.token


def test_accounts_required_refuses_guests():
    chat = chat_with_accounts(accounts="required")
    from test_rules import Outlet, _At

    outlet = Outlet()
    p = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert not p.register("guest")
    assert outlet.errors() == ["accounts_required"]
    chat.hub.close()


def test_login_by_command_takes_the_accounts_name(chat):
    bob, done = registered(chat, "bob")
    chat.act(bob, m.Logout())
    assert chat.got("bob").of(m.LoggedOut)[0].account == "bob" and bob.account is None
    bob.unregister("gone")
    guest = chat.person("guest1")
    chat.act(guest, m.Login(name="bob", token=done.token))
    assert chat.got("guest1").errors() == ["bad_login"], "/logout revoked that token"
    chat.clock.now += 1
    chat.act(guest, m.Login(name="bob", password="hunter22"))
    assert guest.nick == "bob" and guest.account == "bob"
    assert chat.got("guest1").of(m.LoggedIn)


def test_a_plain_user_types_the_password_on_the_next_line(chat):
    dave = chat.person("dave")
    carol = chat.person("carol")
    carol.plain = True
    carol.typed("/register")
    got = chat.got("carol")
    asked = got.of(m.Notice)[-1]
    assert asked.event == "password" and asked.target == "register"
    carol.typed("s3cret pass")
    chat.flush()
    assert carol.account == "carol"
    assert not any("s3cret" in getattr(x, "text", "") for x in got.got), "the password is not echoed"
    assert not any("s3cret" in str(x) for x in chat.got("dave").got), "nor said to a room"
    assert dave.account is None
    carol.typed("/passwd")
    carol.typed("s3cret pass")
    carol.typed("n3w pass")
    chat.flush()
    assert "is changed" in got.notices("account")[-1]


def test_op_by_account_lasts_across_logins(chat):
    chat.services.config.ops = frozenset()
    host = chat.person("Server", host=True)
    bob, done = registered(chat, "bob")
    chat.act(host, m.Op("bob"))
    assert bob.op
    bob.unregister("gone")
    from test_rules import Outlet, _At

    chat.act(host, m.ListOps())
    assert any("bob (an account made operator; not here" in t for t in chat.got("Server").notices("ops"))
    again = _At(chat.services, chat.hub, Outlet(), clock=chat.clock)
    assert again.register("bob", login_token=done.token)
    assert again.op, "operator again: the account is"
    chat.act(host, m.Deop("bob"))
    assert not again.op
    assert chat.services.accounts.store.operators() == []


def test_drop_account_by_an_operator(chat):
    host = chat.person("Server", host=True)
    bob, _ = registered(chat, "bob")
    chat.act(bob, m.DropAccount("bob"))
    assert chat.got("bob").errors() == ["not_operator"]
    chat.act(host, m.DropAccount("bob"))
    assert chat.got("bob").of(m.LoggedOut)[0].reason == "dropped"
    assert chat.services.accounts.registered("bob") is None
    chat.act(host, m.DropAccount("bob"))
    assert chat.got("Server").errors()[-1] == "no_such_account"


def test_a_msg_to_an_away_account_is_kept_and_given_at_its_next_login(chat):
    alice, _ = registered(chat, "alice")
    bob, done = registered(chat, "bob")
    bob.unregister("gone")
    for text in ("one", "two", "three"):
        chat.act(alice, m.PrivateSay(to="bob", text=text))
    got = chat.got("alice")
    assert got.notices("kept") and not got.errors()
    guest = chat.person("guest1")
    chat.act(guest, m.PrivateSay(to="bob", text="from a guest"))
    assert chat.got("guest1").errors() == ["not_kept"]
    from test_rules import Outlet, _At

    outlet = Outlet()
    back = _At(chat.services, chat.hub, outlet, clock=chat.clock)
    assert back.register("bob", login_token=done.token)
    chat.flush()
    assert outlet.notices("away_messages") == ["3 private messages while you were away"]
    kept = outlet.of(m.Private)
    assert [(p.text, p.nick, p.replay) for p in kept] == [(t, "alice", "away") for t in ("one", "two", "three")]
    assert all(p.ts > 0 for p in kept)
    chat.act(back, m.PrivateSay(to="alice", text="back now"))
    chat.act(back, m.History(nick="alice"))
    history = [p for p in outlet.of(m.Private) if p.replay == "history"]
    assert [(p.nick, p.to, p.text) for p in history] == [
        ("alice", "bob", "one"),
        ("alice", "bob", "two"),
        ("alice", "bob", "three"),
        ("bob", "alice", "back now"),
    ]
    chat.act(guest, m.History(nick="bob"))
    assert chat.got("guest1").errors()[-1] == "not_logged_in"


def test_a_guest_is_told_once_its_private_messages_are_not_kept(chat):
    registered(chat, "alice")
    guest = chat.person("guest1")
    chat.act(guest, m.PrivateSay(to="alice", text="hi"))
    chat.act(guest, m.PrivateSay(to="alice", text="again"))
    assert len(chat.got("guest1").notices("not_kept")) == 1
    assert [p.text for p in chat.got("alice").of(m.Private)] == ["hi", "again"]


def test_a_password_typed_in_the_clear_is_warned_of(chat):
    carol = chat.person("carol")
    carol.plain = True
    carol.typed("/login someone")
    assert "warning" not in chat.got("carol").notices("password")[-1]
    carol.typed("")
    carol.in_clear = lambda: True  # (what a connection without TLS from another machine says)
    carol.typed("/login someone")
    assert "no TLS: the password goes to the server unencrypted" in chat.got("carol").notices("password")[-1]
