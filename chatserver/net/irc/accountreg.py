"""IRCv3 ``draft/account-registration`` on the IRC port: ``REGISTER`` makes an account through the accounts service.

https://ircv3.net/specs/extensions/account-registration: ``REGISTER
<account> <email> <password>``, the account being the nick (``*``: the
current one; another name is ``ACCOUNT_NAME_MUST_BE_NICK``: there is no
``custom-account-name``). The email is not asked for nor kept (no
``email-required``), so no account waits for ``VERIFY``. The cap's value
is ``before-connect``: before registration the account is made as SASL logs
in (``sasl.py``: its token handed to ``Participant.register``), so the
person arrives logged in; after it, the new account's token goes to the
rules as a ``Login``, as ``/register`` does for the other clients.

On a server with a password (``--password-file``) the cap has no
``before-connect``: ``REGISTER`` before registration is ``FAIL REGISTER
COMPLETE_CONNECTION_REQUIRED``, so that nobody makes accounts without the
server's password (as the spec asks of early registration).

The service's throttles hold (a few accounts an hour per address) and its
refusals are the spec's ``FAIL REGISTER`` codes: ``ACCOUNT_EXISTS`` (the
name or a look-alike is registered, or someone connected holds it),
``WEAK_PASSWORD``, ``TEMPORARILY_UNAVAILABLE`` (throttled),
``BAD_ACCOUNT_NAME``. The password is never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatserver.accounts.service import Refused
from common import messages as m
from common.lookalike import identity
from common.nicks import InvalidNick, validate_nick

from .names import lanchat_nick
from .sasl import Dialect

if TYPE_CHECKING:
    from chatserver.net.session import Session

CAP = "draft/account-registration"
CAP_VALUE = "before-connect"
#: The service's refusal codes as the spec's.
_CODES = {
    "name_registered": "ACCOUNT_EXISTS",
    "weak_password": "WEAK_PASSWORD",
    "throttled": "TEMPORARILY_UNAVAILABLE",
    "already_registered": "ALREADY_AUTHENTICATED",
}


def _before_connect(session: Session) -> bool:
    """May an account be made before registration? Not on a server with a password: registration checks it."""
    return session.participant.server.config.password is None


def listed(session: Session, cap: str, version: int) -> str | None:
    """How the cap is listed in ``CAP LS`` (None: not, on a server without accounts)."""
    if session.participant.server.accounts is None:
        return None
    return f"{cap}={CAP_VALUE}" if version >= 302 and _before_connect(session) else cap


def _fail(d: Dialect, session: Session, code: str, account: str, text: str) -> None:
    d.send(session, [["FAIL", "REGISTER", code, account, text]])


def register(d: Dialect, session: Session, params: list[str]) -> None:
    """``REGISTER <account> <email> <password>`` (see the module docstring)."""
    p = session.participant
    accounts = p.server.accounts
    wanted, password = params[0], params[2]
    current = p.nick if p.registered else (d.client.wanted if d.client.wanted != "*" else "")
    if accounts is None:
        _fail(d, session, "TEMPORARILY_UNAVAILABLE", wanted, "this server has no accounts")
        return
    if d.sasl.account is not None or p.account is not None:
        _fail(d, session, "ALREADY_AUTHENTICATED", wanted, "you are logged in to an account already")
        return
    if not p.registered and not _before_connect(session):
        told = "this server has a password: REGISTER once connected"
        d.send(session, [["FAIL", "REGISTER", "COMPLETE_CONNECTION_REQUIRED", told]])
        return
    if not current:
        _fail(d, session, "NEED_NICK", wanted, "give a NICK first: the account is your nick")
        return
    name = current if wanted == "*" else lanchat_nick(wanted)
    if identity(name) != identity(current):
        _fail(d, session, "ACCOUNT_NAME_MUST_BE_NICK", wanted, "the account is your nick: REGISTER * or your nick")
        return
    try:
        name = validate_nick(name)
    except InvalidNick as exc:
        _fail(d, session, "BAD_ACCOUNT_NAME", wanted, f"not a name: {exc}")
        return
    if not p.registered and p.hub.find(name) is not None:  # (no land grab under someone connected)
        _fail(d, session, "ACCOUNT_EXISTS", wanted, f"{name} is someone's name now")
        return
    try:
        login = accounts.register(name, password, p.address)
    except Refused as refused:
        _fail(d, session, _CODES.get(refused.code, "BAD_ACCOUNT_NAME"), wanted, refused.text)
        return
    if p.registered:  # (logged in as /login with a token does it: the rules set the account and its rights)
        p.handle(m.Login(name=login.account, token=login.token))
    else:
        d.sasl.account, d.sasl.token = login.account, login.token
    d.send(session, [["REGISTER", "SUCCESS", login.account, f"the account {login.account} is made; logged in"]])


def verify(d: Dialect, session: Session, params: list[str]) -> None:
    """``VERIFY``: no account here waits for a code (no email is asked for)."""
    d.send(session, [["FAIL", "VERIFY", "INVALID_CODE", params[0], "no account is waiting to be verified"]])
