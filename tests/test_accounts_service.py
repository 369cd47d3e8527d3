"""The accounts service without sockets: hashing, tokens, the throttle on a fake clock, look-alikes."""

from __future__ import annotations

import logging

import pytest
from helpers import ManualClock

from chatserver.accounts import hashing, tokens
from chatserver.accounts.service import Accounts, Refused
from chatserver.accounts.throttle import Throttle
from chatserver.backends.accounts import MemoryAccounts


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(5000.0)


@pytest.fixture
def accounts(clock: ManualClock) -> Accounts:
    return Accounts(MemoryAccounts(), params=hashing.CHEAP, clock=clock, ops=frozenset({"root"}))


def test_scrypt_hash_names_its_parameters_and_checks() -> None:
    stored = hashing.hash_password("correct horse", hashing.CHEAP)
    assert stored.startswith("scrypt$16$1$1$") and "correct" not in stored
    assert hashing.verify("correct horse", stored) and not hashing.verify("correct hors", stored)
    assert stored != hashing.hash_password("correct horse", hashing.CHEAP), "salted"
    assert not hashing.outdated(stored, hashing.CHEAP) and hashing.outdated(stored, hashing.Scrypt())
    assert not hashing.verify("x", "bcrypt$whatever") and not hashing.verify("x", "scrypt$3$1$1$AA==$AA==")


def test_default_parameters_are_interactive_login_strength() -> None:
    params = hashing.Scrypt()
    assert params.n >= 2**14 and params.r >= 8 and 128 * params.n * params.r >= 16 * 1024 * 1024


def test_tokens_are_long_random_and_kept_as_hashes() -> None:
    one, two = tokens.new_token(), tokens.new_token()
    assert one != two and len(one) >= len(tokens.PREFIX) + 43  # 256 bits in base64
    assert tokens.token_hash(one) != one and len(tokens.token_hash(one)) == 64


def test_throttle_grows_and_clears(clock: ManualClock) -> None:
    t = Throttle(first=1.0, longest=5.0, forget_after=100.0, clock=clock)
    assert t.wait("a") == 0
    assert [t.failed("a") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert t.wait("a") == 5.0 and t.wait("b") == 0
    clock.now += 3
    assert t.wait("a") == 2.0
    t.succeeded("a")
    assert t.wait("a") == 0 and t.failed("a") == 1.0
    clock.now += 100
    assert t.failures("a") == 0, "quiet long enough: starts over"


def test_a_failure_and_its_count_in_a_row_are_read_together(clock: ManualClock) -> None:
    """The login warning is logged at the first failure in a row: the count comes with the failure, under one
    lock, so two failures at once cannot both read 2 (and the warning never be said)."""
    t = Throttle(first=1.0, longest=5.0, forget_after=100.0, clock=clock)
    assert t.fail("ip a") == (1.0, 1)
    assert t.fail("ip a") == (2.0, 2)
    assert t.fail("ip b") == (1.0, 1)
    clock.now += 100
    assert t.fail("ip a") == (1.0, 1)  # an hour's quiet (here 100 s) starts it over


def test_register_then_login_with_password_and_token(accounts: Accounts) -> None:
    made = accounts.register("Bob", "hunter22", "10.0.0.1")
    assert made.account == "Bob" and made.registered and made.token.startswith(tokens.PREFIX)
    assert "hunter22" not in repr(made) and made.token not in repr(made)
    again = accounts.login_password("bob", "hunter22", "10.0.0.2")
    assert again.account == "Bob" and again.token != made.token
    by_token = accounts.login_token(made.token, "10.0.0.3")
    assert by_token.account == "Bob" and by_token.token == made.token
    with pytest.raises(Refused) as refused:
        accounts.login_token(made.token, "10.0.0.3", name="carol")
    assert refused.value.code == "bad_login", "a token is bound to its account"


def test_a_registered_name_and_its_lookalikes_are_found(accounts: Accounts) -> None:
    accounts.register("alice", "hunter22", "10.0.0.1")
    for other in ("ALICE", "аӏісе", "ΑLICE"):  # Cyrillic, and Greek capitals drawn like Latin ones
        assert accounts.registered(other) is not None, other
    assert accounts.registered("alicia") is None
    with pytest.raises(Refused) as refused:
        accounts.register("аӏісе", "hunter22", "10.0.0.2")
    assert refused.value.code == "name_registered"


def test_weak_passwords_refused(accounts: Accounts) -> None:
    for password in ("", "abc", "x" * 257):
        with pytest.raises(Refused) as refused:
            accounts.register("bob", password, "10.0.0.1")
        assert refused.value.code == "weak_password"


def test_wrong_passwords_wait_longer_each_time(accounts: Accounts, clock: ManualClock, caplog) -> None:
    accounts.register("bob", "hunter22", "10.0.0.1")
    waits = []
    with caplog.at_level(logging.INFO, logger="chatserver.accounts.service"):
        for _ in range(4):
            with pytest.raises(Refused) as wrong:
                accounts.login_password("bob", "guess", "10.9.9.9")
            assert wrong.value.code == "bad_login"
            with pytest.raises(Refused) as held:
                accounts.login_password("bob", "hunter22", "10.9.9.9")  # (even the right one, meanwhile)
            assert held.value.code == "throttled"
            waits.append(held.value.wait)
            clock.now += held.value.wait
    assert waits == [1.0, 2.0, 4.0, 8.0]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "10.9.9.9" in warnings[0].getMessage(), "said once per address"
    assert not any("guess" in r.getMessage() or "hunter22" in r.getMessage() for r in caplog.records)
    # The account is held for every address; its owner's token still works.
    with pytest.raises(Refused) as other:
        accounts.login_password("bob", "guess", "10.1.1.1")
    clock.now += 1
    with pytest.raises(Refused) as held:
        accounts.login_password("bob", "hunter22", "10.2.2.2")
    assert (other.value.code, held.value.code) == ("bad_login", "throttled")
    token = accounts.register("carol", "hunter22", "10.0.0.1").token
    assert accounts.login_token(token, "10.2.2.2").account == "carol"


def test_registrations_per_address_are_throttled(accounts: Accounts, clock: ManualClock) -> None:
    for i in range(3):
        accounts.register(f"user{i}", "hunter22", "10.0.0.7")
    with pytest.raises(Refused) as held:
        accounts.register("user3", "hunter22", "10.0.0.7")
    assert held.value.code == "throttled" and held.value.wait == 60.0
    assert accounts.register("user3", "hunter22", "10.0.0.8").registered, "another address is not held"
    clock.now += 60
    assert accounts.register("user4", "hunter22", "10.0.0.7").registered


def test_passwd_unregister_logout(accounts: Accounts, clock: ManualClock) -> None:
    first = accounts.register("bob", "hunter22", "10.0.0.1")
    second = accounts.login_password("bob", "hunter22", "10.0.0.1")
    with pytest.raises(Refused):
        accounts.change_password("bob", "wrong one", "newpass1", "10.0.0.1")
    clock.now += 1  # (a wrong password is throttled as a login is)
    accounts.change_password("bob", "hunter22", "newpass1", "10.0.0.2")
    assert accounts.login_password("bob", "newpass1", "10.0.0.3").account == "bob"
    assert accounts.logout(first.token)
    with pytest.raises(Refused):
        accounts.login_token(first.token, "10.0.0.5")
    assert accounts.login_token(second.token, "10.0.0.6").account == "bob"
    assert accounts.logout_all("bob") == 2
    with pytest.raises(Refused):
        accounts.login_token(second.token, "10.0.0.7")
    accounts.unregister("bob", "newpass1", "10.0.0.4")
    assert accounts.registered("bob") is None


def test_op_by_flag_or_by_name(accounts: Accounts) -> None:
    assert accounts.register("root", "hunter22", "10.0.0.1").op, "--op root: its account"
    assert not accounts.register("bob", "hunter22", "10.0.0.2").op
    assert accounts.set_op("bob", True)
    assert accounts.login_password("bob", "hunter22", "10.0.0.2").op
    dropped = accounts.drop("BOB")
    assert dropped is not None and dropped.name == "bob" and accounts.drop("bob") is None


def test_outdated_hash_made_again_at_login(clock: ManualClock) -> None:
    store = MemoryAccounts()
    Accounts(store, params=hashing.CHEAP, clock=clock).register("bob", "hunter22", "10.0.0.1")
    stronger = hashing.Scrypt(n=2**5, r=1, p=1)
    Accounts(store, params=stronger, clock=clock).login_password("bob", "hunter22", "10.0.0.1")
    found = store.account("bob")
    assert found is not None and not hashing.outdated(found.hash, stronger)
