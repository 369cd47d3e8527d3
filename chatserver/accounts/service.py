"""The accounts service: registering, logging in (password or token), passwords, tokens, kept messages.

Rules only, no I/O but the ``AccountStore``'s: each call returns what
happened or raises ``Refused`` with the ``Error`` code and the line to show
(``common/messages/accounts.py``'s ``ACCOUNT_CODES``). The chat rules
(``rules/accounts.py``, ``rules/entry.py``) call it and turn its answers into
frames. Wrong passwords are throttled per address and per account
(``throttle.py``), registrations per address; the log says so once per
address, and never holds a password or a token.

An account is not a connection: the service knows names, never sessions,
so any number of sessions may be logged in to one account.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from chatserver.accounts import hashing, tokens
from chatserver.accounts.throttle import Throttle
from chatserver.backends.accounts import AccountStore, StoredAccount
from common import messages as m
from common.commands import format_duration
from common.lookalike import identity, lookalike_keys

log = logging.getLogger(__name__)

#: Wrong logins: held 1 s after the first, doubling, at most 5 min (per address and per account).
LOGIN_FIRST, LOGIN_LONGEST = 1.0, 300.0
#: Registrations from one address: the first two cost nothing, the third holds the next for
#: 1 min, doubling, at most an hour (an address quiet for an hour starts over).
REGISTER_FREE, REGISTER_FIRST, REGISTER_LONGEST = 2, 60.0, 3600.0


class Refused(Exception):
    """A refusal: ``code`` for the ``Error`` frame, the text to show, and how long to wait (throttled)."""

    def __init__(self, code: str, text: str, wait: float = 0.0) -> None:
        super().__init__(text)
        self.code, self.text, self.wait = code, text, wait


@dataclasses.dataclass(frozen=True)
class Login:
    """A login done: the account's name as registered, the token to keep, and its rights."""

    account: str
    token: str
    op: bool
    registered: bool = False  # made just now

    def __repr__(self) -> str:
        return f"Login(account={self.account!r}, op={self.op!r}, registered={self.registered!r})"

    def frame(self) -> m.LoggedIn:
        return m.LoggedIn(account=self.account, token=self.token, registered=self.registered)


class Accounts:
    """The service: one per server, safe to use from any thread (the store and throttles are)."""

    def __init__(
        self,
        store: AccountStore,
        *,
        required: bool = False,
        ops: frozenset[str] = frozenset(),
        params: hashing.Scrypt = hashing.Scrypt(),  # noqa: B008 - a frozen value
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        #: Guests are refused (``--accounts required``).
        self.required = required
        self._ops = ops  # the nick_key()s named by --op: their accounts are operators
        self._params = params
        self._wall = wall
        self.logins = Throttle(first=LOGIN_FIRST, longest=LOGIN_LONGEST, clock=clock)
        self.registrations = Throttle(
            first=REGISTER_FIRST, longest=REGISTER_LONGEST, free=REGISTER_FREE, forget_after=3600.0, clock=clock
        )

    # -- names --
    def registered(self, nick: str) -> StoredAccount | None:
        """The account ``nick`` is, or looks like (None: the name is free for guests)."""
        for key in lookalike_keys(nick):
            found = self.store.account(key)
            if found is not None:
                return found
        return None

    def is_op(self, account: StoredAccount) -> bool:
        return account.op or identity(account.name) in self._ops

    # -- logging in --
    def _check_throttle(self, *keys: str) -> None:
        wait = max(self.logins.wait(k) for k in keys)
        if wait > 0:
            raise Refused("throttled", f"too many wrong logins: try again in {format_duration(max(1.0, wait))}", wait)

    def _failed(self, address: str, account_key: str | None) -> None:
        delay, in_a_row = self.logins.fail("ip " + address)
        if account_key is not None:
            delay = max(delay, self.logins.failed("account " + account_key))
        if in_a_row == 1:  # (the first in a row: said once, until a success or an hour's quiet)
            log.warning("wrong login from %s: its logins are throttled (growing delays)", address)
        log.info("wrong login from %s; the next waits %g s", address, delay)

    def _succeeded(self, address: str, account: StoredAccount) -> None:
        self.logins.succeeded("ip " + address)
        self.logins.succeeded("account " + identity(account.name))

    def _issue(self, account: StoredAccount, *, registered: bool = False) -> Login:
        token = tokens.new_token()
        self.store.add_token(account.name, tokens.token_hash(token), self._wall())
        return Login(account.name, token, self.is_op(account), registered)

    def login_password(self, name: str, password: str, address: str) -> Login:
        """Log in to ``name``'s account with its password: a new token (``Refused``: throttled, bad_login)."""
        key = identity(name)
        self._check_throttle("ip " + address, "account " + key)
        account = self.store.account(key)
        if account is None or not hashing.verify(password, account.hash):
            self._failed(address, key if account is not None else None)
            raise Refused("bad_login", "wrong account name or password")
        self._succeeded(address, account)
        if hashing.outdated(account.hash, self._params):  # (made with other parameters: made again now)
            self.store.set_hash(account.name, hashing.hash_password(password, self._params))
        if not account.scram:  # (an account made before SCRAM credentials were kept gets one now)
            self.store.set_scram(account.name, hashing.scram_credential(password))
        log.info("%s logged in from %s", account.name, address)
        return self._issue(account)

    # -- SCRAM (IRC's SASL SCRAM-SHA-256: the proof is checked by the port, ``net/irc/scram.py``) --
    def scram_account(self, name: str, address: str) -> StoredAccount | None:
        """``name``'s account for a SCRAM exchange (None: no such account), once the throttle lets this
        address and account try (``Refused`` throttled, as a password login). Read once: the exchange
        keeps it for the proof and the login (``scram_failed``, ``login_proven``)."""
        key = identity(name)
        self._check_throttle("ip " + address, "account " + key)
        return self.store.account(key)

    def scram_credential(self, name: str, address: str) -> str:
        """The SCRAM credential of ``name``'s account ("": no account, or none yet), as ``scram_account``."""
        account = self.scram_account(name, address)
        return account.scram if account is not None else ""

    def scram_failed(self, account: StoredAccount | None, address: str) -> None:
        """A SCRAM proof that did not match (``account``: the one asked for, if it exists): counted as a
        wrong password."""
        self._failed(address, identity(account.name) if account is not None else None)

    def login_proven(self, account: StoredAccount, address: str) -> Login:
        """Log in to ``account``, its SCRAM proof checked: a new token (one made for an account dropped
        meanwhile logs nobody in: a token's account is read with it)."""
        self._succeeded(address, account)
        log.info("%s logged in from %s (SCRAM)", account.name, address)
        return self._issue(account)

    def login_token(self, token: str, address: str, name: str | None = None) -> Login:
        """Log in with a login token (the same token goes on): ``Refused`` bad_login if it is not
        one, or not ``name``'s. Only the address is throttled: the owner's own devices still log
        in while someone guesses the account's password."""
        self._check_throttle("ip " + address)
        account = self.store.account_by_token(tokens.token_hash(token)) if tokens.looks_like_token(token) else None
        if account is None or (name is not None and identity(name) != identity(account.name)):
            self._failed(address, None)
            raise Refused("bad_login", "that login token is not valid (revoked, or not this account's)")
        self._succeeded(address, account)
        log.info("%s logged in from %s (token)", account.name, address)
        return Login(account.name, token, self.is_op(account))

    # -- the account itself --
    def _check_password(self, password: str) -> None:
        if not m.MIN_PASSWORD <= len(password) <= m.MAX_PASSWORD:
            raise Refused("weak_password", f"a password has {m.MIN_PASSWORD} to {m.MAX_PASSWORD} characters")

    def register(self, name: str, password: str, address: str) -> Login:
        """Make ``name`` an account (logged in to it): ``Refused`` weak_password, name_registered, throttled."""
        self._check_password(password)
        wait = self.registrations.wait("ip " + address)
        if wait > 0:
            text = f"too many accounts made from your address: try again in {format_duration(max(1.0, wait))}"
            raise Refused("throttled", text, wait)
        if self.registered(name) is not None:
            raise Refused("name_registered", f"{name!r} (or a name that looks like it) is registered already")
        hashed, scram = hashing.hash_password(password, self._params), hashing.scram_credential(password)
        account = StoredAccount(name, hashed, self._wall(), scram=scram)
        if not self.store.create(account):
            raise Refused("name_registered", f"{name!r} is registered already")
        self.registrations.failed("ip " + address)  # (counted: a few an hour, then slower)
        log.info("%s registered an account from %s", name, address)
        return self._issue(account, registered=True)

    def change_password(self, name: str, old: str, new: str, address: str) -> None:
        """``/passwd``: the old password proves it (throttled as a login is)."""
        self._check_password(new)
        account = self._proven(name, old, address)
        self.store.set_hash(account.name, hashing.hash_password(new, self._params))
        self.store.set_scram(account.name, hashing.scram_credential(new))
        log.info("%s changed its password", account.name)

    def unregister(self, name: str, password: str, address: str) -> None:
        """``/unregister``: the password proves it; the account, its tokens and kept messages go."""
        account = self._proven(name, password, address)
        self.store.delete(account.name)
        log.info("%s deleted its account", account.name)

    def _proven(self, name: str, password: str, address: str) -> StoredAccount:
        key = identity(name)
        self._check_throttle("ip " + address, "account " + key)
        account = self.store.account(key)
        if account is None:
            raise Refused("not_logged_in", "you are not logged in to an account")
        if not hashing.verify(password, account.hash):
            self._failed(address, key)
            raise Refused("bad_login", "wrong password")
        self._succeeded(address, account)
        return account

    def logout(self, token: str) -> bool:
        """Revoke one token (this device's login)."""
        return self.store.drop_token(tokens.token_hash(token))

    def logout_all(self, name: str) -> int:
        """Revoke every token of ``name``'s account (every device's login)."""
        return self.store.drop_tokens(name)

    def drop(self, name: str) -> StoredAccount | None:
        """An operator deletes the account ``name`` (``/dropaccount``): the account dropped, or None."""
        account = self.store.account(identity(name))
        if account is None or not self.store.delete(account.name):
            return None
        log.warning("the account %s was dropped", account.name)
        return account

    def set_op(self, name: str, op: bool) -> bool:
        """Operator rights on ``name``'s account (``/op``, ``/deop``): they last. False: no account."""
        return self.store.set_op(name, op)
