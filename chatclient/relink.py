"""Getting a lost session back: reconnecting until a server takes us, asking for another password if it wants one,
and registering again as who and where we were, the replay of what we missed included.

``reconnect.py`` finds an address and paces the tries; ``rejoin.py`` says
what a hello asks for and reads the replay; this decides what a refusal
means for the session (a ban or another certificate: never retried into;
another password: asked for once more, or the end) and tells the user
where they are now.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence

from common import messages as m
from common.rooms import room_key

from .accounts import Account
from .addresses import Address
from .backoff import Clock
from .connection import ChatConnection
from .errors import (
    Banned,
    CertificateMismatch,
    ClientError,
    LoginRefused,
    NameRegistered,
    PasswordRequired,
    WrongPassword,
)
from .inbound import Inbound
from .reconnect import reconnect
from .rejoin import hello_again, replay
from .windows import Windows


class Relink:
    def __init__(
        self,
        inbound: Inbound,
        windows: Windows,
        *,
        addresses: Sequence[Address],
        clock: Clock,
        rng: random.Random | None,
        stop: threading.Event,
        password: str | None,
        adopt: Callable[[ChatConnection], None],
        status: Callable[[str], None],
        info: Callable[[str], None],
        ask_password: Callable[[], Callable[[str], str | None] | None],
        account: Account,
    ) -> None:
        self._inbound = inbound
        self._windows = windows
        self.addresses = list(addresses)
        self._clock = clock
        self._rng = rng  # the reconnect delays' jitter
        self._stop = stop
        self._password = password
        self._adopt = adopt  # the new connection is the session's (before its replay)
        self._status = status
        self._info = info
        self._ask_password = ask_password  # (the session's current asker: the UI sets it after)
        self._account = account  # its login token goes with each hello
        #: Our name became an account's (we logged out, still called so): its password, asked once.
        self._account_password: str | None = None

    def run(self, old: ChatConnection) -> tuple[ChatConnection, m.Welcome] | None:
        """Reconnect until a server takes us back (its connection and welcome), or None:
        the user leaves, or the session cannot go on (``inbound.lost`` says why)."""
        while True:
            try:
                return reconnect(
                    old,
                    self._rejoin,
                    addresses=self.addresses,
                    clock=self._clock,
                    rng=self._rng,
                    stop=self._stop,
                    status=self._status,
                    info=self._info,
                )
            except (CertificateMismatch, Banned) as exc:  # never retried into
                self._inbound.lost = str(exc)
                return None
            except (PasswordRequired, WrongPassword) as exc:  # the server came back wanting another password
                ask = self._ask_password()
                password = ask(str(exc)) if ask is not None else None
                if password is None:  # (no terminal to ask on, or the user gave up)
                    again = "" if isinstance(exc, WrongPassword) else ": start again with --password-file"
                    self._inbound.lost = f"{exc}{again}"
                    return None
                self._password = password  # (for the reconnects after this one too)
            except NameRegistered as exc:  # our name is an account's: log in to it, or the session ends
                ask = self._ask_password()
                typed = ask(f"{exc}; its account password") if ask is not None else None
                if typed is None:
                    self._inbound.lost = f"{exc}: start again with another --name, or log in to it"
                    return None
                self._account_password = typed  # (for the next try only: its login gives a token)

    def _rejoin(self, conn: ChatConnection) -> m.Welcome:
        """Register on a new connection: our name, our room, where we were in it;
        then the replay of what we missed (raises ``ClientError``)."""
        self._adopt(conn)  # (a ping during the replay is answered on it; leave() closes it)
        asked = self._windows.room
        welcome = self._hello_again(conn)
        missed = f"; {welcome.replay} missed message(s) follow" if welcome.replay else ""
        self._info(f"reconnected as {self._inbound.nick}{missed}")
        if room_key(welcome.room) != room_key(asked):
            self._info(f"you are in {welcome.room}, not {asked}: the server did not take you back there")
        if not welcome.epoch:  # (a server before epochs: its numbers may have restarted)
            self._inbound.positions.forget()
        # The replay comes first: it shows which unacknowledged lines
        # arrived after all, so only the others are sent again.
        self._inbound.track(welcome)
        replay(conn, welcome.replay, self._inbound.on_message)
        return welcome

    def _hello_again(self, conn: ChatConnection) -> m.Welcome:
        nick = self._inbound.nick
        login_token = self._account.hello_token()
        if login_token is not None:
            self._account.confirmed = False  # (the new link's LoggedIn confirms it again)
        try:
            welcome = hello_again(
                conn,
                nick,
                token=self._inbound.token,
                rooms=[self._windows.room, *self._windows.asking_back()],
                positions=self._inbound.positions,
                password=self._password,
                login_token=login_token,
                account_password=self._account_password,
            )
        except LoginRefused as exc:  # forgotten (and said); the next try comes as a guest, or asks again
            self._account.refused(str(exc))
            self._account_password = None
            raise ClientError(f"login refused: {exc}") from None
        self._account_password = None
        if welcome.nick != nick:
            self._info(f"your nickname was taken meanwhile; you are now {welcome.nick}")
            self._inbound.nick = welcome.nick
        return welcome
