"""One contract for every ``AccountStore``: memory, SQLite (a real file, reopened) and Redis (a real server)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from chatserver.backends.accounts import KEPT_MAX, AccountStore, MemoryAccounts, StoredAccount
from chatserver.backends.store import SqliteStore
from common import messages as m
from common.rooms import room_key


@dataclasses.dataclass
class Kit:
    store: AccountStore
    reopen: Callable[[], AccountStore]  # the same data through a fresh handle (a restart, where it lasts)
    durable: bool


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kit(request, tmp_path) -> Iterator[Kit]:
    if request.param == "memory":
        store = MemoryAccounts()
        yield Kit(store, lambda: store, durable=False)
    elif request.param == "sqlite":
        path = tmp_path / "accounts.sqlite3"
        opened = [SqliteStore(path, room_key=room_key)]

        def reopen() -> AccountStore:
            opened[-1].close()
            opened.append(SqliteStore(path, room_key=room_key))
            return opened[-1].accounts

        yield Kit(opened[0].accounts, reopen, durable=True)
        opened[-1].close()
    else:
        redisaccounts = pytest.importorskip("chatserver.cluster.redisaccounts")
        from chatserver.cluster.link import Link

        server = request.getfixturevalue("redis_server")
        link = Link(server.url)
        yield Kit(redisaccounts.RedisAccounts(link), lambda: redisaccounts.RedisAccounts(link), durable=True)
        link.close()


def _account(name: str = "Bob", op: bool = False) -> StoredAccount:
    return StoredAccount(name, "scrypt$16$1$1$c2FsdA==$a2V5", 1000.5, op)


def _private(text: str, to: str = "Bob") -> m.Private:
    return m.Private(ts=2000.25, nick="alice", to=to, text=text)


def test_an_account_is_kept_under_its_names_key(kit: Kit) -> None:
    assert kit.store.account("bob") is None
    assert kit.store.create(_account())
    for spelling in ("bob", "BOB", "Bob"):
        assert kit.store.account(spelling) == _account()
    assert not kit.store.create(_account("BOB")), "a name's key holds one account"
    assert kit.store.account("bob") == _account(), "the first is kept as it was"
    if kit.durable:
        assert kit.reopen().account("bob") == _account()


def test_hash_and_op_change_and_last(kit: Kit) -> None:
    assert not kit.store.set_hash("nobody", "x") and not kit.store.set_op("nobody", True)
    kit.store.create(_account())
    assert kit.store.set_hash("BOB", "scrypt$new")
    assert kit.store.set_op("bob", True)
    assert kit.store.operators() == ["Bob"]
    store = kit.reopen()
    found = store.account("bob")
    assert found is not None and (found.hash, found.op) == ("scrypt$new", True)
    store.set_op("bob", False)
    assert store.operators() == []


def test_a_scram_credential_is_kept_beside_the_hash_and_goes_with_the_account(kit: Kit) -> None:
    assert not kit.store.set_scram("nobody", "scram-sha-256$4096$a$b$c")
    kit.store.create(dataclasses.replace(_account(), scram="scram-sha-256$4096$s$k$v"))
    found = kit.store.account("bob")
    assert found is not None and found.scram == "scram-sha-256$4096$s$k$v", "made with the account"
    assert kit.store.set_scram("BOB", "scram-sha-256$4096$s2$k2$v2")
    store = kit.reopen()
    found = store.account("bob")
    assert found is not None and found.scram == "scram-sha-256$4096$s2$k2$v2" and found.hash.startswith("scrypt$")
    assert "scram" not in repr(found)
    assert store.delete("bob") and store.account("bob") is None
    store.create(_account())
    found = store.account("bob")
    assert found is not None and found.scram == "", "a new account of that name has none of the old one's"


def test_tokens_name_their_account_and_are_revoked(kit: Kit) -> None:
    kit.store.create(_account())
    kit.store.create(_account("carol"))
    kit.store.add_token("bob", "h1", 1.0)
    kit.store.add_token("BOB", "h2", 2.0)
    kit.store.add_token("carol", "h3", 3.0)
    assert kit.store.token_account("h1") == "Bob" and kit.store.token_account("h3") == "carol"
    assert kit.store.token_account("h4") is None
    assert kit.store.drop_token("h1") and not kit.store.drop_token("h1")
    assert kit.store.token_account("h1") is None and kit.store.token_account("h2") == "Bob"
    store = kit.reopen()
    assert store.token_account("h2") == "Bob"
    assert store.drop_tokens("bob") == 1
    assert store.token_account("h2") is None and store.token_account("h3") == "carol", "only bob's went"


def test_deleting_an_account_takes_its_tokens_and_kept_messages(kit: Kit) -> None:
    kit.store.create(_account())
    kit.store.add_token("bob", "h1", 1.0)
    kit.store.keep_private("bob", _private("while away"))
    assert kit.store.delete("BOB") and not kit.store.delete("bob")
    assert kit.store.account("bob") is None and kit.store.token_account("h1") is None
    kit.store.create(_account())  # (the name made again is a new account: nothing of the old)
    assert kit.store.token_account("h1") is None and kit.store.take_privates("bob") == []


def test_private_messages_kept_in_order_taken_once(kit: Kit) -> None:
    kit.store.create(_account())
    kit.store.keep_private("bob", _private("one"))
    kit.store.keep_private("BOB", _private("two"))
    store = kit.reopen()
    assert store.take_privates("bob") == [_private("one"), _private("two")]
    assert store.take_privates("bob") == [], "taken: gone"


def test_kept_messages_are_bounded_oldest_first_out(kit: Kit) -> None:
    kit.store.create(_account())
    for i in range(KEPT_MAX + 5):
        kit.store.keep_private("bob", _private(f"m{i}"))
    kept = kit.store.take_privates("bob")
    assert len(kept) == KEPT_MAX and kept[0].text == "m5" and kept[-1].text == f"m{KEPT_MAX + 4}"


def test_the_hash_is_not_in_an_accounts_repr() -> None:
    assert "scrypt" not in repr(_account()) and "Bob" in repr(_account())


def test_a_token_gives_its_account_in_one_read(kit: Kit) -> None:
    kit.store.create(_account(op=True))
    kit.store.add_token("bob", "h1", 1.0)
    assert kit.store.account_by_token("h1") == _account(op=True)
    assert kit.store.account_by_token("h2") is None
    store = kit.reopen()
    assert store.account_by_token("h1") == _account(op=True)
    store.drop_token("h1")
    assert store.account_by_token("h1") is None
    store.add_token("bob", "h3", 2.0)
    store.delete("bob")
    assert store.account_by_token("h3") is None, "a deleted account's token finds nothing"


def test_a_token_gives_the_same_account_as_its_name_scram_credential_and_all(kit: Kit) -> None:
    """``account_by_token`` is ``account`` reached by a token: SQLite's and Redis's left the SCRAM credential out."""
    kit.store.create(_account())
    assert kit.store.set_scram("bob", "scram-credential")
    kit.store.add_token("bob", "h1", 1.0)
    assert kit.store.account_by_token("h1") == kit.store.account("bob")
    assert kit.store.account_by_token("h1").scram == "scram-credential"
