"""What a handler needs before it runs, as decorators: an operator, the accounts service, a logged-in account.

Each wraps a command table's handler (the person and the command in,
effects out) and answers the refusal itself, so a handler's body starts
where its own rule does: ``@operator_only`` (``operators.py``, and
``/dropaccount``), ``@with_accounts`` (the handler is given the service as
a third argument, and a ``Refused`` it raises is the refusal) and
``@logged_in_only(why)`` for the account commands (``accounts.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from chatserver.accounts.service import Accounts, Refused
from chatserver.rules.effects import Effect, error
from chatserver.rules.services import Me
from common import messages as m

M = TypeVar("M", bound=m.Message)
Checked = Callable[[Me, M], list[Effect]]
H = TypeVar("H", bound=Callable[..., list[Effect]])


def operator_only(handler: Checked[M]) -> Checked[M]:
    """Refuse the command to anyone who is not an operator."""

    @functools.wraps(handler)
    def checked(who: Me, msg: M) -> list[Effect]:
        if not who.op:
            return [error("not_operator", f"only operators can /{msg.TYPE}")]
        return handler(who, msg)

    return checked


def with_accounts(handler: Callable[[Me, M, Accounts], list[Effect]]) -> Checked[M]:
    """Run the handler with the accounts service (refused when the server has none); a
    ``Refused`` it raises is answered as its ``Error``."""

    @functools.wraps(handler)
    def checked(who: Me, msg: M) -> list[Effect]:
        accounts = who.server.accounts
        if accounts is None:
            return [error("accounts_off", "this server has no accounts")]
        try:
            return handler(who, msg, accounts)
        except Refused as refused:
            return [error(refused.code, refused.text)]

    return checked


def logged_in_only(why: str) -> Callable[[H], H]:
    """Refuse the command to a guest (not logged in to an account), saying ``why``; under
    ``@with_accounts``, the service is passed on."""

    def guard(handler: H) -> H:
        @functools.wraps(handler)
        def checked(who: Me, msg: m.Message, *given: Any) -> list[Effect]:
            if who.account is None:
                return [error("not_logged_in", why)]
            return handler(who, msg, *given)

        return checked  # type: ignore[return-value]

    return guard
