"""SASL SCRAM-SHA-256's two checks on the IRC port: the client's first message answered, its proof checked (``scramp``).

RFC 5802 and 7677 through IRCv3 SASL (``sasl.py`` carries the messages):
the client's first message names the account; the server answers with the
salt and iterations of the account's SCRAM credential (kept beside its scrypt
hash: ``accounts/hashing.py``) and a nonce; the client's final message
carries its proof, checked against StoredKey; the server's final message
proves it holds ServerKey. The password never reaches the server.

``scramp`` (pg8000's SCRAM, kept up to date, pure Python) rather than a SCRAM
of our own: its messages, SASLprep and the proofs are easy to get subtly
wrong, and it is the server side irctest's own cases and clients expect.

The account is read once, at the first message (``Accounts.scram_account``),
and kept with the exchange for the proof and the login; so an exchange has a
deadline (``DEADLINE`` seconds from its first message, on the caller's
clock): SASL is taken after registration too, where no registration timeout
bounds it, and one holding the old password must not start an exchange, wait
for the owner's ``/passwd`` or ``/logout all``, then finish it. The throttle is the
password login's: an
address or account held is refused at the first message, a proof that does
not match counts as a wrong password. An account that does not exist, or has
no SCRAM credential yet (made before they were kept and not logged in to
with its password since), gets a made-up credential and fails at the proof
as a wrong password does, so the exchange does not tell which accounts exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from scramp import ScramException, ScramMechanism

from chatserver.accounts import hashing
from chatserver.accounts.service import Refused

if TYPE_CHECKING:
    from scramp.core import ScramServer

    from chatserver.accounts.service import Accounts
    from chatserver.backends.accounts import StoredAccount

MECHANISM = "SCRAM-SHA-256"
#: Seconds from an exchange's first message within which its proof and its last ``+`` must come
#: (a client answers at once: its work is a few milliseconds of hashing).
DEADLINE = 10.0
_MECHANISM = ScramMechanism(MECHANISM)


@dataclasses.dataclass
class Exchange:
    """One exchange under way: scramp's server side, the account asked for, and whether its proof was checked."""

    server: ScramServer
    name: str
    account: StoredAccount | None  # (None: no such account; its proof fails as a wrong password's)
    began: float  # (the caller's clock at the first message)
    proven: bool = False

    def late(self, now: float) -> bool:
        """Past its deadline at ``now`` (the caller's clock): the account read at the start is not used."""
        return now - self.began > DEADLINE


def _made_up(name: str) -> tuple[bytes, bytes, bytes, int]:
    """A credential for a name with none: the same salt each time (nothing changes between tries), no key that
    any proof matches."""
    seed = hashlib.sha256(b"lanchat scram " + name.encode()).digest()
    return seed, hashlib.sha256(seed + b"stored").digest(), hashlib.sha256(seed + b"server").digest(), 4096


def first(accounts: Accounts, address: str, message: str, now: float) -> tuple[Exchange, str] | str:
    """The client's first message, at ``now`` (the caller's clock): the exchange and the server's first
    message, or why not (a refusal's text)."""
    asked: list[tuple[str, StoredAccount | None]] = []
    refused: list[Refused] = []

    def credential(name: str) -> tuple[bytes, bytes, bytes, int]:
        try:
            account = accounts.scram_account(name, address)
        except Refused as exc:
            refused.append(exc)
            raise
        asked.append((name, account))
        parts = hashing.scram_parts(account.scram) if account is not None else None
        return parts if parts is not None else _made_up(name)

    server = _MECHANISM.make_server(credential)
    try:
        server.set_client_first(message)
    except ScramException:
        return refused[0].text if refused else "not a SCRAM-SHA-256 first message"
    name, account = asked[0]
    return Exchange(server, name, account, now), server.get_server_first()


def final(accounts: Accounts, address: str, exchange: Exchange, message: str) -> str | None:
    """The client's final message: the server's final message, or None if the proof does not match (counted)."""
    try:
        exchange.server.set_client_final(message)
    except ScramException:
        accounts.scram_failed(exchange.account, address)
        return None
    exchange.proven = True
    return exchange.server.get_server_final()
