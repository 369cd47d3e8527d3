"""The registry of names: an index by identity (``nick_key``), kept as names are claimed, changed
and released, so a look-alike of a taken name is found by one look-up, in a server of 5 or 5,000.
In-process, no sockets."""

from __future__ import annotations

import pytest
from helpers import Member

import chatserver.core.registry as registry_module
from chatserver.core.registry import NickTaken, Registry


def holding(*nicks: str) -> tuple[Registry, list[Member]]:
    reg = Registry()
    people = [Member("") for _ in nicks]
    for person, nick in zip(people, nicks, strict=True):
        reg.claim(person, nick)
    return reg, people


@pytest.mark.parametrize("lookalike", ["ALICE", "Alice", "аӏісе", "АӀІСЕ", "a1ice"])
def test_a_lookalike_of_a_taken_name_is_taken_and_its_holder_found(lookalike):
    reg, (alice,) = holding("alice")
    with pytest.raises(NickTaken) as refused:
        reg.claim(Member(""), lookalike)
    assert refused.value.suggestion == f"{lookalike}2"
    assert reg.holder(lookalike) is alice


def test_a_different_name_is_free():
    reg, (alice,) = holding("alice")
    alicia = Member("")
    assert reg.claim(alicia, "alicia") == ""
    assert (reg.holder("alicia"), reg.holder("alice")) == (alicia, alice)


def test_a_rename_frees_the_old_name_and_its_lookalikes_and_takes_the_new_ones():
    reg, (alice, bob) = holding("alice", "bob")
    assert reg.claim(alice, "carol") == "alice"
    assert alice.nick == "carol"
    assert reg.holder("alice") is None and reg.holder("аӏісе") is None
    assert reg.holder("CAROL") is alice
    with pytest.raises(NickTaken):
        reg.claim(bob, "Carol")
    someone = Member("")
    reg.claim(someone, "аӏісе")  # the old name's look-alike is free now
    assert reg.holder("alice") is someone
    assert sorted(p.nick for p in reg.everyone()) == ["bob", "carol", "аӏісе"]


def test_a_rename_to_a_lookalike_of_ones_own_name_keeps_it():
    reg, (alice,) = holding("alice")
    assert reg.claim(alice, "Alice") == "alice"
    assert reg.holder("alice") is alice and [p.nick for p in reg.everyone()] == ["Alice"]


def test_a_release_frees_the_name_and_its_lookalikes_and_nothing_else():
    reg, (alice, bob) = holding("alice", "bob")
    reg.release(alice)
    assert reg.holder("alice") is None and reg.holder("ALICE") is None
    assert reg.holder("bob") is bob
    reg.release(alice)  # (twice: nothing more happens)
    assert reg.everyone() == [bob]
    newcomer = Member("")
    reg.claim(newcomer, "аӏісе")
    assert reg.holder("alice") is newcomer


def test_a_session_that_lost_its_name_releases_nobody_elses():
    """A session replaced by a reconnect of the same name: its release must not free the name
    the new session now holds."""
    reg, (old,) = holding("alice")
    new = Member("")
    reg.claim(new, "alice", replacing=old)
    reg.release(old)
    assert reg.holder("alice") is new


def test_the_stale_session_is_found_by_its_token_only():
    reg, (alice,) = holding("alice")
    alice.token = "secret-token"
    assert reg.stale_session("ALICE", "secret-token") is alice
    assert reg.stale_session("alice", "wrong") is None
    assert reg.stale_session("alice", None) is None
    assert reg.stale_session("bob", "secret-token") is None


def test_a_claim_looks_up_the_name_it_claims_not_every_name_held(monkeypatch):
    """The cost of a claim does not grow with the people on the server: the names compared
    are the new one and the claimant's old one, a few times each, among 5,000 held."""
    reg, _ = holding(*(f"user{i}" for i in range(5000)))
    keyed: list[str] = []
    real = registry_module.nick_key
    monkeypatch.setattr(registry_module, "nick_key", lambda nick: keyed.append(nick) or real(nick))
    newcomer = Member("")
    reg.claim(newcomer, "newcomer")
    with pytest.raises(NickTaken):
        reg.claim(Member(""), "USER4999")
    reg.claim(newcomer, "renamed")
    reg.release(newcomer)
    assert set(keyed) <= {"newcomer", "USER4999", "USER49992", "renamed"}
    assert len(keyed) <= 12
