"""Password hashing: scrypt (``hashlib.scrypt``), its parameters kept in each hash so they can change later.

A hash is one string, ``scrypt$N$r$p$SALT$KEY`` (salt and key in base64):
checking a password reads the parameters it was made with, so a server given
stronger ones still checks the old hashes (and ``outdated`` says which to redo
at the next login).

The default, N=2**14, r=8, p=1, is the parameter set RFC 7914 and the scrypt
paper give for interactive logins: 16 MiB of memory and some tens of
milliseconds of one core per check, cheap enough for a login on a 2-core LAN
server, costly enough that a stolen store is not a list of passwords.
``hashlib.scrypt`` (OpenSSL's) rather than a package: it is in the standard
library of every Python we support.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets


@dataclasses.dataclass(frozen=True)
class Scrypt:
    """scrypt's cost parameters: ``n`` (CPU and memory, a power of 2), ``r`` (block size), ``p``."""

    n: int = 2**14
    r: int = 8
    p: int = 1
    salt_bytes: int = 16
    key_bytes: int = 32


#: Cheap parameters for tests only (never a server's: the service takes them through its constructor).
CHEAP = Scrypt(n=2**4, r=1, p=1)

PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, params: Scrypt) -> str:
    """A new salted hash of ``password``, naming its parameters."""
    salt = secrets.token_bytes(params.salt_bytes)
    key = _derive(password, salt, params.n, params.r, params.p, params.key_bytes)
    return f"{PREFIX}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _derive(password: str, salt: bytes, n: int, r: int, p: int, size: int) -> bytes:
    maxmem = 128 * n * r * 2 + 1024 * 1024  # (what scrypt needs, with room: OpenSSL's default cap is 32 MiB)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=size)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != PREFIX:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if not (1 < n <= 2**20 and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16 and key):
        return None  # (not ours, or a cost no server should pay per login)
    return n, r, p, salt, key


def verify(password: str, stored: str) -> bool:
    """Is ``password`` the one ``stored`` was made from? (Compared in constant time; False for
    a hash that is not one of ours.)"""
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, n, r, p, len(key)), key)


def outdated(stored: str, params: Scrypt) -> bool:
    """Was ``stored`` made with other parameters than ``params`` (to be made again at the next login)?"""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (params.n, params.r, params.p)


#: SCRAM-SHA-256 (RFC 5802, RFC 7677): the credential kept beside the scrypt hash, from which the server checks
#: a client's proof (IRC's SASL SCRAM-SHA-256) without the password: PBKDF2-SHA-256's salt and iteration count,
#: StoredKey and ServerKey, as ``scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY`` (base64). The iterations are
#: RFC 7677's 4,096: a SCRAM credential is weaker than the scrypt hash, which is why it is a second credential,
#: not the only one.
SCRAM_ITERATIONS = 4096
SCRAM_PREFIX = "scram-sha-256"


def scram_credential(password: str, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 credential of ``password`` ("" when SASLprep refuses the password: no SCRAM for it)."""
    from scramp import ScramException, ScramMechanism  # (only when a password is set: the server starts without it)

    try:
        salt, stored, server, count = ScramMechanism("SCRAM-SHA-256").make_auth_info(
            password, iteration_count=iterations
        )
    except (ScramException, ValueError):
        return ""
    return "$".join([SCRAM_PREFIX, str(count), *(base64.b64encode(x).decode() for x in (salt, stored, server))])


def scram_parts(credential: str) -> tuple[bytes, bytes, bytes, int] | None:
    """``scram_credential``'s parts as ``scramp`` takes them (salt, StoredKey, ServerKey, iterations); None if none."""
    parts = credential.split("$")
    if len(parts) != 5 or parts[0] != SCRAM_PREFIX or not parts[1].isdigit():
        return None
    try:
        salt, stored, server = (base64.b64decode(x, validate=True) for x in parts[2:])
    except ValueError:
        return None
    return salt, stored, server, int(parts[1])
