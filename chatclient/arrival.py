"""Getting in: the hello until the server welcomes us, asking at the terminal for what it wants (the
server's password, another name, the password of the account our name is), with the login kept for
the server sent along, and forgotten when the server refuses it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from common import messages as m
from common.commands import format_duration
from common.safetext import neutralise

from .addresses import Address
from .asking import ask_name, ask_password, warn_in_clear
from .connection import ChatConnection
from .errors import (
    AccountRequired,
    LoginRefused,
    NameRegistered,
    NickRejected,
    PasswordRequired,
    Throttled,
    WrongPassword,
)
from .logins import Login, Logins


class Arrival:
    """What the next hello says (name, passwords, login token) and what a refusal changes."""

    def __init__(
        self,
        nick: str,
        *,
        password: str | None,
        remembered: Login | None,
        logins: Logins,
        addresses: Sequence[Address],
        interactive: bool,
        one_shot: bool,
        in_clear: bool,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.nick = nick
        self.password = password  # the server's
        #: The login kept for this server, sent at hello (None: none, another name, or refused).
        self.remembered = remembered
        self.account_password: str | None = None  # the password of the account our name is, when asked
        self._logins, self._addresses = logins, list(addresses)
        self._interactive, self._one_shot, self._in_clear = interactive, one_shot, in_clear
        self._sleep = sleep  # (how a login held by the server's throttle is waited for)

    def register(self, conn: ChatConnection) -> m.Welcome:
        """Hello until welcomed, asking for a password or another name when a person is there."""
        asking = self._interactive and not self._one_shot
        while True:
            try:
                token = self.remembered.token if self.remembered is not None else None
                return conn.hello(
                    self.nick, password=self.password, login_token=token, account_password=self.account_password
                )
            except NameRegistered as exc:  # an account's name: its password, or another name
                if not asking:
                    raise NameRegistered(f"{exc} (log in once on a terminal, or choose another --name)", None) from None
                print(exc)
                self._ask_account_password(f"Password of the account {self.nick} (Enter: choose another name): ")
            except AccountRequired as exc:  # (--accounts required) an account: a new one if nobody has the name
                if not asking:
                    raise
                print(exc)
                self._ask_account_password(
                    f"Password of the account {self.nick} (a new account if the name is nobody's; "
                    "Enter: choose another name): "
                )
            except PasswordRequired as exc:
                if self.password is not None or not self._interactive:
                    raise PasswordRequired(f"{exc}: give it with --password-file") from None
                if self._in_clear:
                    warn_in_clear()
                self.password = ask_password()
            except NickRejected as exc:
                hint = f" (try {exc.suggestion!r})" if exc.suggestion else ""
                if not asking:  # never post under a name nobody asked for
                    raise NickRejected(f"{exc}{hint}", exc.suggestion) from None
                print(f"{exc}{hint}")
                self.nick = ask_name(exc.suggestion or self.nick)

    def again(self, exc: WrongPassword | LoginRefused) -> None:
        """A refusal the server hangs up on: what the next connection's hello says instead
        (raises ``exc`` when nothing can change)."""
        asking = self._interactive and not self._one_shot
        if isinstance(exc, WrongPassword):
            if not asking:
                raise exc
            print(f"{exc}; try again (Ctrl-C to give up)", file=sys.stderr)
            self.password = ask_password()
        elif self.remembered is not None:  # the kept login: forgotten, then on as a guest
            self._logins.forget(self._addresses)
            print(
                f"The server refused the remembered login for {neutralise(self.remembered.account)} ({exc}): "
                "forgotten; going on as a guest.",
                file=sys.stderr,
            )
            self.remembered = None
        elif self.account_password is not None and asking:
            self._ask_account_password(f"{exc}; the password of {self.nick} again (Enter: choose another name): ")
        else:
            raise exc

    def held(self, exc: Throttled) -> None:
        """A login held by the server's throttle (the server hangs up): said, and waited for as long
        as the server says; the next connection's hello tries again."""
        print(f"{exc}; waiting {format_duration(exc.wait)}, then trying again (Ctrl-C to give up)", flush=True)
        self._sleep(exc.wait)

    def _ask_account_password(self, question: str) -> None:
        if self._in_clear:
            warn_in_clear()
        self.account_password = ask_password(question) or None
        if self.account_password is None:
            self.nick = ask_name(self.nick)
