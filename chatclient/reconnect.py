"""Reconnecting after a lost link: new connections on the backoff schedule until one registers.

Each attempt waits its delay on the given clock (``stop`` ends the waiting:
the user left), then connects to the same address with the same TLS settings
but asks nobody (a prompt from the receiver thread would fight the UI): the
certificate is known by now, and one that changed ends the reconnecting for
good. The new connection goes to ``register`` (hello, replay); if that fails,
it is closed and the next attempt follows.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable

from common import messages as m

from .backoff import Clock, backoff_delays
from .connection import Banned, CertificateMismatch, ChatConnection, ClientError, PasswordRequired, WrongPassword


def reconnect(
    old: ChatConnection,
    register: Callable[[ChatConnection], m.Welcome],
    *,
    clock: Clock,
    rng: random.Random | None,
    stop: threading.Event,
    status: Callable[[str], None],
    info: Callable[[str], None],
) -> tuple[ChatConnection, m.Welcome] | None:
    """A new, registered connection, or None once ``stop`` is set.

    Raises ``CertificateMismatch``, ``Banned`` and ``PasswordRequired`` (never retried into:
    trying again cannot change the answer).
    """
    tls = dataclasses.replace(old.tls, confirm=None) if old.tls is not None else None
    for attempt, delay in enumerate(backoff_delays(rng=rng), start=1):
        status(f"reconnecting to {old.address} (attempt {attempt}, in {delay:.1f} s)")
        if clock.wait(stop, delay):
            return None
        try:
            conn = ChatConnection.connect(old.host, old.port, tls)
        except CertificateMismatch:
            raise
        except ClientError:
            continue
        try:
            return conn, register(conn)
        except (Banned, PasswordRequired, WrongPassword):
            conn.close()
            raise
        except ClientError as exc:
            conn.close()
            info(f"reconnect failed: {exc}")
    return None  # pragma: no cover - the schedule never ends
