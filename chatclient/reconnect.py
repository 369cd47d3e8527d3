"""Which of the server's addresses to connect to, and when: the first that
answers at start; after a lost link, each in turn on the backoff schedule.

A server may have several addresses (the nodes of a cluster, ``addresses.py``).
At start ``first_answering`` tries them in order. After a lost link each
reconnect attempt waits its delay on the given clock (``stop`` ends the
waiting: the user left), then tries every address once, starting with the one
after the address it lost (so the node that just failed is tried last), with
the same TLS settings but asking nobody (a prompt from the receiver thread
would fight the UI): a certificate that changed ends the reconnecting for
good; one seen for the first time (another node) is trusted and the user told
its fingerprint. Each new connection goes to ``register`` (hello, replay); if
that fails, it is closed and the next address follows.

Some answers are final whichever node gives them: a changed certificate, a
ban, a password we lack or that is wrong (at start also a certificate the
user refused and a taken nickname we may not change: ``FINAL``). Trying
elsewhere or later changes nothing.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from common import messages as m

from .addresses import Address, format_address, rotation
from .backoff import Clock, backoff_delays
from .connection import ChatConnection
from .errors import (
    AccountRequired,
    Banned,
    CertificateMismatch,
    ClientError,
    LoginRefused,
    NameRegistered,
    NickRejected,
    NotTrusted,
    PasswordRequired,
    Throttled,
    WrongPassword,
)

#: Never retried, on another node or later.
FINAL = (
    CertificateMismatch,
    NotTrusted,
    Banned,
    PasswordRequired,
    WrongPassword,
    NickRejected,
    LoginRefused,
    AccountRequired,
)

T = TypeVar("T")


def first_answering(addresses: Sequence[Address], attempt: Callable[[str, int], T]) -> T:
    """``attempt(host, port)`` on each address in order until one works.

    A ``ClientError`` (refused, timed out, the node cannot take us now) moves
    on to the next; one of ``FINAL`` is raised at once. When none worked, the
    error says why for each (with one address: that address's error).
    """
    reasons: list[str] = []
    for host, port in addresses:
        try:
            return attempt(host, port)
        except (*FINAL, Throttled):  # (a held login is the server's, on every node: the caller waits for it)
            raise
        except ClientError as exc:
            if len(addresses) == 1:
                raise
            reasons.append(str(exc))
    raise ClientError(f"none of the server's {len(addresses)} addresses answered: {'; '.join(reasons)}")


def reconnect(
    old: ChatConnection,
    register: Callable[[ChatConnection], m.Welcome],
    *,
    addresses: Sequence[Address] = (),
    clock: Clock,
    rng: random.Random | None,
    stop: threading.Event,
    status: Callable[[str], None],
    info: Callable[[str], None],
) -> tuple[ChatConnection, m.Welcome] | None:
    """A new, registered connection, or None once ``stop`` is set.

    ``addresses``: all of the server's (default: the old connection's alone).
    Raises ``CertificateMismatch``, ``Banned``, ``PasswordRequired``, ``WrongPassword`` and
    ``NameRegistered``
    (never retried into: trying again cannot change the answer; a taken
    nickname without a suggestion is retried, as it may be free again later).
    """
    tls = dataclasses.replace(old.tls, confirm=None) if old.tls is not None else None
    order = rotation(addresses or [(old.host, old.port)], (old.host, old.port))
    for attempt, delay in enumerate(backoff_delays(rng=rng), start=1):
        for number, (host, port) in enumerate(order):
            if number == 0:
                status(f"reconnecting to {format_address(host, port)} (attempt {attempt}, in {delay:.1f} s)")
                if clock.wait(stop, delay):
                    return None
            else:
                if stop.is_set():
                    return None
                status(f"reconnecting to {format_address(host, port)} (attempt {attempt})")
            try:
                conn = ChatConnection.connect(host, port, tls)
            except CertificateMismatch:
                raise
            except ClientError:
                continue
            if conn.new_fingerprint:
                info(
                    f"first connection to {conn.address}: its TLS certificate is SHA256 {conn.new_fingerprint}; "
                    "it is remembered from now on"
                )
            try:
                return conn, register(conn)
            except (Banned, PasswordRequired, WrongPassword, NameRegistered):
                conn.close()
                raise
            except ClientError as exc:
                conn.close()
                info(f"reconnect failed: {exc}")
    return None  # pragma: no cover - the schedule never ends
