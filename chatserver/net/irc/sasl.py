"""SASL on the IRC port: the ``sasl`` cap's ``AUTHENTICATE`` exchange (PLAIN, SCRAM-SHA-256), logging in to accounts.

IRCv3 SASL 3.1/3.2 (https://ircv3.net/specs/extensions/sasl-3.1), as Ergo
answers it: ``AUTHENTICATE PLAIN`` is answered ``AUTHENTICATE +``; the
client's response comes base64-encoded in chunks of 400 bytes (a chunk of
exactly 400 means more follow; ``AUTHENTICATE +`` ends an exact multiple);
``AUTHENTICATE *`` gives up (906). A good password is ``900`` and ``903``; a
wrong one, a throttled address or account, or a response that does not
parse is ``904`` with the service's line; a chunk over 400 bytes ``905``; a
mechanism not offered ``908`` then ``904``. A guest may log in after
registration too (SASL 3.2): ``900`` and ``903``, then the rules' ``Login``
with the token, as ``/login`` (the session takes the account's name). One
logged in already gets ``907`` (``ERR_SASLALREADY``): SASL 3.2's switch to
another account on the same connection is not taken (the person's name and
devices go with its account; ``/logout`` first, then log in).

The password is checked by the same service as the native clients'
(``chatserver/accounts/service.py``: the same throttle, per address and per
account), before registration; the login's token is then handed to
``Participant.register`` as a native ``hello``'s ``login_token`` is, so the
person arrives logged in and takes the account's name (a registered name is
given to its owner, not refused). The token, which an IRC client never keeps,
is revoked when the connection ends. The password is never logged nor kept
past the check.

SCRAM-SHA-256 takes two round trips (``scram.py`` checks them): the client's
first message is answered with the server's (``AUTHENTICATE`` and its
base64), its final message (the proof) with the server's final one, and its
``AUTHENTICATE +`` then logs it in (``900``, ``903``); a proof that does not
match is ``904``, throttled as a wrong password. The proof and the ``+`` must
come within ``scram.DEADLINE`` seconds of the first message (``Sasl``'s
clock), else ``904``: the account read at the start is not trusted for
longer (a ``/passwd`` or ``/logout all`` meanwhile).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from chatserver.accounts.service import Login, Refused
from common import messages as m
from common.lookalike import identity

from . import scram
from .names import prefix

if TYPE_CHECKING:
    from chatserver.net.session import Session

    from .replies import Client

#: The mechanisms offered (``sasl=PLAIN,SCRAM-SHA-256`` in ``CAP LS 302``).
MECHANISMS = ("PLAIN", scram.MECHANISM)
CHUNK = 400
#: Base64 characters a response may take in all (a 256-character password of 4-byte characters,
#: two 32-character names, with room to spare); more is refused (904) rather than kept growing.
MAX_RESPONSE = 2400
CLEAR_WARNING = "warning: no TLS: the password goes to the server unencrypted, readable on the network"


class Dialect(Protocol):
    """What SASL uses of the IRC dialect (``dialect.IrcDialect``)."""

    client: Client
    sasl: Sasl

    def send(self, session: Session, lines: list[list[str]]) -> None: ...


class Sasl:
    """One connection's SASL state: the exchange under way, and the login it ended in."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # (a SCRAM exchange's deadline)
        self.mechanism: str | None = None
        self.scram: scram.Exchange | None = None  # (a SCRAM-SHA-256 exchange under way)
        self._chunks: list[str] = []
        self._size = 0
        #: The account logged in to, and its login token (for ``register``; revoked at the end).
        self.account: str | None = None
        self.token: str | None = None

    def reset(self) -> None:
        self.mechanism, self.scram, self._chunks, self._size = None, None, [], 0

    def add(self, chunk: str) -> str | None:
        """A chunk of the response: the whole response once it is complete (None: more to come).
        Raises ``ValueError`` when the whole would be too long."""
        if chunk != "+":
            self._chunks.append(chunk)
            self._size += len(chunk)
        if self._size > MAX_RESPONSE:
            raise ValueError("too long")
        if len(chunk) == CHUNK:
            return None
        whole = "".join(self._chunks)
        self._chunks, self._size = [], 0
        return whole


def listed(session: Session, cap: str, version: int) -> str | None:
    """How ``sasl`` is listed in ``CAP LS`` (``version``: 302 or before): ``sasl=PLAIN`` with 302,
    and not at all on a server without accounts. None: not listed."""
    if session.participant.server.accounts is None:
        return None
    return f"sasl={','.join(MECHANISMS)}" if version >= 302 else "sasl"


def plain(response: bytes) -> tuple[str, str]:
    """RFC 4616: ``[authzid] NUL authcid NUL passwd`` → (account, password); ``ValueError`` if it
    is not that, or names another account to act as (no one acts as another here)."""
    parts = response.split(b"\0")
    if len(parts) != 3:
        raise ValueError("not a PLAIN response")
    authzid, authcid, password = (part.decode("utf-8") for part in parts)
    if not authcid or not password:
        raise ValueError("no account or password")
    if authzid and identity(authzid) != identity(authcid):
        raise ValueError("acting as another account is not allowed")
    return authcid, password


def authenticate(d: Dialect, session: Session, params: list[str]) -> None:
    """``AUTHENTICATE``: a mechanism, a chunk of the response, or ``*`` (see the module docstring)."""
    state, p = d.sasl, session.participant
    arg = params[0]
    if arg == "*":
        state.reset()
        d.send(session, [["906", "SASL authentication aborted"]])
        return
    if state.account is not None or p.account is not None:
        state.reset()
        d.send(session, [["907", "You have already authenticated using SASL"]])
        return
    accounts = p.server.accounts
    if accounts is None:
        state.reset()
        d.send(session, [["904", "SASL authentication failed: this server has no accounts"]])
        return
    if state.mechanism is None:
        if arg.upper() not in MECHANISMS:
            d.send(session, [["908", ",".join(MECHANISMS), "are available SASL mechanisms"]])
            d.send(session, [["904", "SASL authentication failed"]])
            return
        state.mechanism = arg.upper()
        if p.in_clear() and state.mechanism == "PLAIN":  # (as a server password without TLS is warned of)
            d.send(session, [["NOTICE", d.client.nick, CLEAR_WARNING]])
        d.send(session, [["AUTHENTICATE", "+"]])
        return
    if len(arg) > CHUNK:
        state.reset()
        d.send(session, [["905", "SASL message too long"]])
        return
    try:
        whole = state.add(arg)
    except ValueError:
        state.reset()
        d.send(session, [["904", "SASL authentication failed: the response is too long"]])
        return
    if whole is None:
        return
    if state.mechanism == scram.MECHANISM:
        _scram(d, session, whole)
        return
    state.reset()
    try:
        name, password = plain(base64.b64decode(whole, validate=True))
    except (binascii.Error, ValueError):  # (UnicodeDecodeError is a ValueError)
        d.send(session, [["904", "SASL authentication failed: not a PLAIN response"]])
        return
    try:
        login = accounts.login_password(name, password, p.address)
    except Refused as refused:
        d.send(session, [["904", f"SASL authentication failed: {refused.text}"]])
        return
    _logged_in(d, session, login)


def _logged_in(d: Dialect, session: Session, login: Login) -> None:
    """A SASL exchange that ended well: the session is the account's, and the client is told (900, 903).
    Before registration, ``register`` takes the token; after it, the rules' ``Login`` (as ``/login``
    with a token): the name and rights follow, and a login they refuse (the account's devices at
    their cap) is undone (``901``)."""
    p = session.participant
    if not p.registered:
        d.sasl.account, d.sasl.token = login.account, login.token
    d.send(session, [["900", prefix(login.account), login.account, f"You are now logged in as {login.account}"]])
    d.send(session, [["903", "SASL authentication successful"]])
    if not p.registered:
        return
    p.handle(m.Login(name=login.account, token=login.token))
    if p.account is None or identity(p.account) != identity(login.account):
        accounts = p.server.accounts
        if accounts is not None:
            accounts.logout(login.token)
        d.send(session, [["901", prefix(p.nick), "You are now logged out (the login was refused: see above)"]])


def _scram(d: Dialect, session: Session, whole: str) -> None:
    """One SCRAM-SHA-256 response: the first message, the final one (the proof), or the last ``+``."""
    state, p = d.sasl, session.participant
    accounts = p.server.accounts
    assert accounts is not None
    exchange = state.scram
    try:
        message = base64.b64decode(whole, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        state.reset()
        d.send(session, [["904", "SASL authentication failed: not a SCRAM-SHA-256 response"]])
        return
    if exchange is not None and exchange.late(state.clock()):
        state.reset()
        d.send(session, [["904", "SASL authentication failed: too slow (start again)"]])
        return
    if exchange is None:
        made = scram.first(accounts, p.address, message, state.clock())
        if isinstance(made, str):
            state.reset()
            d.send(session, [["904", f"SASL authentication failed: {made}"]])
            return
        state.scram, answer = made
    elif not exchange.proven:
        answer = scram.final(accounts, p.address, exchange, message)  # type: ignore[assignment]
        if answer is None:
            state.reset()
            d.send(session, [["904", "SASL authentication failed: wrong account name or password"]])
            return
    else:  # (the client's ``+`` after the server's final message: logged in)
        state.reset()
        if exchange.account is None:  # (a made-up credential's proof never matches: not reached)
            d.send(session, [["904", "SASL authentication failed: wrong account name or password"]])
            return
        _logged_in(d, session, accounts.login_proven(exchange.account, p.address))
        return
    encoded = base64.b64encode(answer.encode()).decode()
    chunks = [encoded[i : i + CHUNK] for i in range(0, len(encoded), CHUNK)]
    if len(chunks[-1]) == CHUNK:
        chunks.append("+")
    d.send(session, [["AUTHENTICATE", chunk] for chunk in chunks])


def registered(d: Dialect, session: Session, done: bool) -> None:
    """After ``Participant.register``: a login that could not be used (the name held by someone
    else: told ``433``) is dropped and its token revoked; the client may register as a guest."""
    state = d.sasl
    if done or state.token is None:
        return
    accounts = session.participant.server.accounts
    if accounts is not None:
        accounts.logout(state.token)
    account, state.account, state.token = state.account, None, None
    d.send(session, [["901", "*", f"You are now logged out (the name {account} is in use)"]])


def ended(d: Dialect, session: Session) -> None:
    """The connection ended: the login tokens made for it (SASL's, or ``REGISTER``'s after
    connecting, which the rules keep as the session's) are revoked: an IRC client keeps none."""
    state, p = d.sasl, session.participant
    accounts = p.server.accounts
    if accounts is not None:
        for token in {state.token, p.login_token} - {None, ""}:
            accounts.logout(token)
    state.account = state.token = None
