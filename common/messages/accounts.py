"""The account frames (issue 23): register, log in and out, change or drop a password, and the answers.

An account is a registered name with a password (kept by the server as a
scrypt hash). Logging in gives the session that name, and a **login token**
(``LoggedIn.token``): a secret a client keeps instead of the password and
gives back in ``Hello.login_token`` or ``Login.token`` to log in by itself
next time. A token is bound to its account and lasts until ``Logout`` (this
one) or ``Logout(all=True)`` (every one of the account's).

Refusals are ``Error`` frames, their ``code`` one of ``ACCOUNT_CODES``. The
notices (``Notice.event``): "password" (a plain-line user typed a command without
its password: the next line is taken as it, not shown to anyone; ``target`` names
the command), "away_messages" (the summary before the private messages kept
while you were away, each a ``Private`` with ``replay`` "away"), "not_kept" (a
guest's private messages are not kept: told once).

No frame's ``repr`` shows a password or a token (``masked``): frames are
logged by their repr.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Message, Number, Str, sent

#: The ``Error.code`` of each account refusal, and what it means.
ACCOUNT_CODES = {
    "name_registered": "the name (or one that looks like it) is an account's: log in, or choose another",
    "bad_login": "wrong account name, password or login token",
    "throttled": "too many attempts from this address or on this account: wait, then try again",
    "accounts_required": "this server takes only people with an account: log in or register",
    "accounts_off": "this server has no accounts",
    "not_logged_in": "the command needs you to be logged in",
    "already_registered": "you are logged in to an account already",
    "weak_password": "the password is too short or too long",
    "no_such_account": "no account has that name",
    "too_many_devices": "the account is connected from as many devices as it may be: close one first",
}

#: The shortest and longest password taken (the longest: scrypt reads all of it).
MIN_PASSWORD, MAX_PASSWORD = 6, 256

_HIDDEN = "'***'"


def masked(cls: type[Message]) -> type[Message]:
    """Give ``cls`` a repr that shows each of its ``SECRETS`` fields as ``'***'`` when set."""
    secrets = frozenset(cls.SECRETS)  # type: ignore[attr-defined]

    def shown(self: Message) -> list[tuple[str, Any]]:
        return [
            (f, _HIDDEN if f in secrets and getattr(self, f) is not None else repr(getattr(self, f)))
            for f in self.__struct_fields__
        ]

    def __repr__(self: Message) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={v}' for f, v in shown(self))})"

    def __rich_repr__(self: Message) -> Any:
        for f in self.__struct_fields__:
            yield f, "***" if f in secrets and getattr(self, f) is not None else getattr(self, f)

    cls.__repr__ = __repr__  # type: ignore[method-assign]
    cls.__rich_repr__ = __rich_repr__  # type: ignore[attr-defined]
    return cls


# -- from the client ---------------------------------------------------------------------------


@masked
class Register(Message, tag="register"):
    """``/register``: make the name we have now an account with ``password``; logs us in."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)
    password: Str


@masked
class Login(Message, tag="login"):
    """``/login NAME``: log in to the account ``name`` with its ``password`` or a login ``token``
    (the token's own account is the one logged in to); the session takes the name."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password", "token")
    name: Str
    password: Str | None = None
    token: Str | None = None


@masked
class ChangePassword(Message, tag="passwd"):
    """``/passwd``: change the password of the account we are logged in to (the tokens stay)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password", "new_password")
    password: Str
    new_password: Str


@masked
class Unregister(Message, tag="unregister"):
    """``/unregister``: delete the account we are logged in to, given its password; every token goes."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)
    password: Str


class Logout(Message, tag="logout"):
    """``/logout [all]``: revoke this session's login token (``all``: every token of the account).
    The session keeps its name as a guest's, until it leaves."""

    all: bool = sent(False)


class DropAccount(Message, tag="dropaccount"):
    """``/dropaccount NAME``: an operator deletes an account (its people are logged out)."""

    name: Str


# -- from the server ---------------------------------------------------------------------------


@masked
class LoggedIn(Message, tag="loggedin"):
    """You are logged in to ``account`` (after a hello with a login, ``Login`` or ``Register``):
    ``token`` logs you in next time (keep it, not the password). ``registered``: just made."""

    SECRETS: ClassVar[tuple[str, ...]] = ("token",)
    account: Str
    token: Str
    registered: bool = sent(False)


class LoggedOut(Message, tag="loggedout"):
    """You are no longer logged in to ``account``: forget its token. ``all``: every token of
    it was revoked. ``reason``: "logout", "unregistered" or "dropped" (by an operator)."""

    account: Str
    all: bool = sent(False)
    reason: Str = sent("logout")


# -- both ways ---------------------------------------------------------------------------------


class ReadMarker(Message, tag="markread"):
    """Read up to here (IRCv3 ``draft/read-marker``'s idea), shared by an account's devices:
    ``target`` (a room, or ``@ACCOUNT`` for a private conversation) is read up to the message
    of time ``ts``. From a client: it showed that far. From the server: one of the account's
    other devices did, or, after a login, how far each is read (a marker only moves forward)."""

    target: Str
    ts: Number
