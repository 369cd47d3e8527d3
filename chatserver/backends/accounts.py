"""The accounts port: where accounts, their login tokens and the private messages kept for them are kept.

An ``AccountStore`` keeps each account by its name's key (``nick_key``: a name
and its look-alikes are one account), with the password's hash (scrypt, its
parameters inside: ``chatserver/accounts/hashing.py``) and its SCRAM
credential (IRC's SASL SCRAM-SHA-256), whether it is an
operator, its login tokens as hashes only, and the private messages kept
while it was away. It checks nothing: the rules are the service's
(``chatserver/accounts/service.py``). Memory (``MemoryAccounts``, here),
SQLite (``sqlite/accounts.py``) and Redis (``cluster/redisaccounts.py``)
implement it; ``tests/test_accounts_store.py`` holds each to one contract.

An account is not a connection: nothing here knows of sessions, so one
account may be used by several at once (issue 23's several devices).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Protocol

from common import messages as m
from common.nicks import nick_key

#: Private messages kept for one account while it is away, at most (the oldest go first).
KEPT_MAX = 200
#: Conversations listed for one account (``/privates``), at most: those whose last message is oldest go.
TALKS_MAX = 500


@dataclasses.dataclass(frozen=True)
class StoredAccount:
    name: str  # as registered
    hash: str  # ``hashing.hash_password``'s
    created: float
    op: bool = False  # an operator, whatever session it logs in from (``--op``, ``/op``)
    #: The SCRAM-SHA-256 credential (``hashing.scram_credential``), "" until a password made one.
    scram: str = ""

    def __repr__(self) -> str:  # (the hash is not a password, but it has no business in a log)
        return f"StoredAccount(name={self.name!r}, created={self.created!r}, op={self.op!r})"


class AccountStore(Protocol):
    def account(self, name: str) -> StoredAccount | None:
        """The account of ``name``'s key (a look-alike of it finds it too), or None."""

    def create(self, account: StoredAccount) -> bool:
        """Keep a new account; False (nothing changed) if its name's key has one already."""

    def set_hash(self, name: str, hash: str) -> bool:
        """A new password hash; False if there is no such account."""

    def set_op(self, name: str, op: bool) -> bool:
        """Operator or not; False if there is no such account."""

    def set_scram(self, name: str, credential: str) -> bool:
        """A new SCRAM credential, beside the hash; False if there is no such account."""

    def delete(self, name: str) -> bool:
        """Forget the account, its tokens and what was kept for it; False if there was none."""

    def operators(self) -> list[str]:
        """The names of the accounts that are operators."""

    def add_token(self, name: str, token_hash: str, created: float) -> None:
        """A login token (its hash) for the account ``name``."""

    def token_account(self, token_hash: str) -> str | None:
        """The name of the account the token was made for (None: none, or revoked)."""

    def account_by_token(self, token_hash: str) -> StoredAccount | None:
        """The account the token was made for, in one read (None: none, or revoked)."""

    def drop_token(self, token_hash: str) -> bool:
        """Revoke one token; False if it was not there."""

    def drop_tokens(self, name: str) -> int:
        """Revoke every token of the account; how many there were."""

    def keep_private(self, name: str, msg: m.Private) -> None:
        """Keep ``msg`` for the account ``name`` until ``take_privates`` (at most ``KEPT_MAX``:
        the oldest go first)."""

    def take_privates(self, name: str) -> list[m.Private]:
        """The messages kept for ``name``, oldest first, and forget them."""

    def talked(self, one: str, other: str, ts: float) -> None:
        """A private message between the accounts ``one`` and ``other`` at ``ts``: each lists the
        other's conversation with that time (the later of it and the one listed), in one step;
        at most ``TALKS_MAX`` each (the oldest go)."""

    def talks(self, name: str) -> list[tuple[str, float]]:
        """The accounts ``name`` has conversations with and the time of each one's last message,
        the most recent first."""


class MemoryAccounts:
    """An ``AccountStore`` in memory: for ``--store memory`` and tests (a restart forgets it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, StoredAccount] = {}
        self._tokens: dict[str, str] = {}  # token hash -> account key
        self._kept: dict[str, list[m.Private]] = {}
        self._talks: dict[str, dict[str, tuple[str, float]]] = {}  # account key -> other's key -> (name, ts)

    def account(self, name: str) -> StoredAccount | None:
        with self._lock:
            return self._accounts.get(nick_key(name))

    def create(self, account: StoredAccount) -> bool:
        with self._lock:
            return self._accounts.setdefault(nick_key(account.name), account) is account

    def _change(self, name: str, **fields: object) -> bool:
        with self._lock:
            key = nick_key(name)
            if key not in self._accounts:
                return False
            self._accounts[key] = dataclasses.replace(self._accounts[key], **fields)  # type: ignore[arg-type]
            return True

    def set_hash(self, name: str, hash: str) -> bool:
        return self._change(name, hash=hash)

    def set_op(self, name: str, op: bool) -> bool:
        return self._change(name, op=op)

    def set_scram(self, name: str, credential: str) -> bool:
        return self._change(name, scram=credential)

    def delete(self, name: str) -> bool:
        key = nick_key(name)
        with self._lock:
            self._kept.pop(key, None)
            self._talks.pop(key, None)
            self._tokens = {h: k for h, k in self._tokens.items() if k != key}
            return self._accounts.pop(key, None) is not None

    def operators(self) -> list[str]:
        with self._lock:
            return sorted(a.name for a in self._accounts.values() if a.op)

    def add_token(self, name: str, token_hash: str, created: float) -> None:
        with self._lock:
            self._tokens[token_hash] = nick_key(name)

    def token_account(self, token_hash: str) -> str | None:
        with self._lock:
            key = self._tokens.get(token_hash)
            account = None if key is None else self._accounts.get(key)
            return None if account is None else account.name

    def account_by_token(self, token_hash: str) -> StoredAccount | None:
        with self._lock:
            key = self._tokens.get(token_hash)
            return None if key is None else self._accounts.get(key)

    def drop_token(self, token_hash: str) -> bool:
        with self._lock:
            return self._tokens.pop(token_hash, None) is not None

    def drop_tokens(self, name: str) -> int:
        key = nick_key(name)
        with self._lock:
            mine = [h for h, k in self._tokens.items() if k == key]
            for h in mine:
                del self._tokens[h]
            return len(mine)

    def keep_private(self, name: str, msg: m.Private) -> None:
        with self._lock:
            kept = self._kept.setdefault(nick_key(name), [])
            kept.append(msg)
            del kept[:-KEPT_MAX]

    def take_privates(self, name: str) -> list[m.Private]:
        with self._lock:
            return self._kept.pop(nick_key(name), [])

    def talked(self, one: str, other: str, ts: float) -> None:
        with self._lock:
            for owner, with_ in ((one, other), (other, one)):
                talks = self._talks.setdefault(nick_key(owner), {})
                was = talks.get(nick_key(with_), ("", ts))[1]
                talks[nick_key(with_)] = (with_, max(was, ts))
                if len(talks) > TALKS_MAX:
                    del talks[min(talks, key=lambda k: talks[k][1])]

    def talks(self, name: str) -> list[tuple[str, float]]:
        with self._lock:
            return sorted(self._talks.get(nick_key(name), {}).values(), key=lambda t: -t[1])
