"""The session's account on the client's side: the login in use, kept for this server, and what the
server's login frames (``loggedin``, ``loggedout``, a refused login) do to it.

A login token the server gives (``LoggedIn``) is remembered for the server's
addresses (``logins.py``) and sent in the next hello, and in every reconnect's,
so the person is logged in by themselves; ``/logout`` forgets it at once (and
again when the server confirms), as does a token the server refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from common import messages as m
from common.commands import AskPassword
from common.safetext import neutralise

from .addresses import Address
from .logins import Login, Logins

#: Of each command's prompts, the one asked twice on a terminal (a new password, mistyped unseen).
ASKED_TWICE = {"register": 0, "passwd": 1}


def twice(asked: AskPassword, number: int) -> bool:
    """Is prompt ``number`` of ``asked`` a new password, to be typed twice?"""
    return ASKED_TWICE.get(asked.command) == number


class Account:
    """Who we are logged in as on this server, and the token kept for it."""

    def __init__(
        self,
        addresses: Sequence[Address],
        logins: Logins | None,
        info: Callable[[str], None] = lambda text: None,
        sent: Login | None = None,
    ) -> None:
        self._addresses = list(addresses)
        self._logins = logins  # None: nothing is remembered (a one-shot --send)
        #: Tells the user (a connection notice; set by the session).
        self.info = info
        #: The login in use: a remembered one sent with the hello, until the server takes it
        #: (``LoggedIn``) or refuses it; then the one the server gave.
        self.login = sent
        self.confirmed = False

    @property
    def account(self) -> str | None:
        """The account we are logged in to (None: a guest, or not yet confirmed)."""
        return self.login.account if self.login is not None and self.confirmed else None

    def hello_token(self) -> str | None:
        """The login token a hello carries (a reconnect's too)."""
        return self.login.token if self.login is not None else None

    # -- what the server says ---------------------------------------------
    def logged_in(self, msg: m.LoggedIn) -> m.Message:
        """Logged in (a hello's token, ``/login``, ``/register``): the token is kept for next time."""
        automatic = self.login is not None and not self.confirmed and self.login.token == msg.token
        self.login, self.confirmed = Login(msg.account, msg.token), True
        if self._logins is not None:
            self._logins.remember(self._addresses, self.login)
        name = neutralise(msg.account)
        if automatic:
            return _notice(f"logged in as {name} (remembered for this server; /logout forgets it)")
        made = "account registered; " if msg.registered else ""
        return _notice(f"{made}logged in as {name}: this device stays logged in here (/logout forgets it)")

    def logged_out(self, msg: m.LoggedOut) -> m.Message:
        """Logged out (``/logout``, the account deleted or dropped): the token is forgotten."""
        self.forget()
        why = {"unregistered": "the account is deleted", "dropped": "an operator deleted the account"}
        everywhere = " on every device" if msg.all else ""
        reason = why.get(msg.reason, "the login kept on this device is forgotten")
        return _notice(f"logged out of {neutralise(msg.account)}{everywhere}: {reason}; you go on as a guest")

    def refused(self, why: str) -> bool:
        """The server refused a login. True if it was the remembered one (now forgotten, the user told)."""
        if self.login is None or self.confirmed:
            return False
        name = neutralise(self.login.account)
        self.forget()
        self.info(
            f"the server refused the remembered login for {name} ({neutralise(why)}): forgotten; "
            f"you are a guest (/login {name} to log in again)"
        )
        return True

    def forget(self) -> bool:
        """Forget the login (this session's and the kept one); True if one was kept."""
        self.login, self.confirmed = None, False
        return self._logins.forget(self._addresses) if self._logins is not None else False


def _notice(text: str) -> m.Notice:
    return m.Notice(text=text, ts=time.time(), event="account")
