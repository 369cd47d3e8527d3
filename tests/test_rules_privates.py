"""``/msg`` and the accounts store, without sockets: the store is read only when what it says is used."""

from __future__ import annotations

from test_accounts_rules import registered
from test_rules import Chat

from chatserver.accounts import hashing
from chatserver.accounts.service import Accounts
from chatserver.backends.accounts import MemoryAccounts, StoredAccount
from common import messages as m


class CountingAccounts(MemoryAccounts):
    """A memory store that counts how often an account is looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def account(self, name: str) -> StoredAccount | None:
        self.reads += 1
        return super().account(name)


def test_a_guest_told_its_messages_are_not_kept_no_longer_reads_the_store_for_a_connected_recipient():
    chat = Chat()
    store = CountingAccounts()
    chat.services.accounts = Accounts(store, params=hashing.CHEAP, clock=chat.clock)
    try:
        registered(chat, "alice")
        guest = chat.person("guest1")
        chat.act(guest, m.PrivateSay(to="alice", text="hi"))  # (told once: looked up)
        before = store.reads
        chat.act(guest, m.PrivateSay(to="alice", text="again"))
        chat.act(guest, m.PrivateSay(to="alice", text="and again", notice=True))
        assert store.reads == before, "nothing the store says would change what happens"
        assert [p.text for p in chat.got("alice").of(m.Private)] == ["hi", "again", "and again"]
        assert len(chat.got("guest1").notices("not_kept")) == 1
    finally:
        chat.hub.close()


def test_an_accounts_message_to_a_connected_account_is_still_kept_as_their_conversation():
    chat = Chat()
    chat.services.accounts = Accounts(CountingAccounts(), params=hashing.CHEAP, clock=chat.clock)
    try:
        alice, _ = registered(chat, "alice")
        registered(chat, "bob")
        chat.act(alice, m.PrivateSay(to="bob", text="kept"))
        chat.act(alice, m.History(nick="bob"))
        said = [p.text for p in chat.got("alice").of(m.Private) if p.replay == "history"]
        assert said == ["kept"]
    finally:
        chat.hub.close()


def test_a_message_to_an_account_that_renamed_itself_is_kept_and_costs_no_store_read():
    """The recipient's account is what the hub says of the person, not what its current name is registered
    as: an account that took another free name with /nick is still an account (the store's answer by name
    was 'nobody', and the conversation was not kept)."""
    chat = Chat()
    store = CountingAccounts()
    chat.services.accounts = Accounts(store, params=hashing.CHEAP, clock=chat.clock)
    try:
        alice, _ = registered(chat, "alice")
        bob, _ = registered(chat, "bob")
        chat.act(bob, m.SetNick("bobby"))
        before = store.reads
        chat.act(alice, m.PrivateSay(to="bobby", text="kept for bob"))
        assert store.reads == before, "the hub knows bobby is bob's"
        chat.act(alice, m.History(nick="bob"))
        said = [p.text for p in chat.got("alice").of(m.Private) if p.replay == "history"]
        assert said == ["kept for bob"]
    finally:
        chat.hub.close()
