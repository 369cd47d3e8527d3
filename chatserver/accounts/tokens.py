"""Login tokens: 256 random bits from ``secrets``, given to the client once and kept only as their hash.

A token is long and random, so one fast hash (SHA-256) is enough to keep it:
nobody reading the store can log in with what is there, and a guessed token
is one chance in 2**256. The store looks a token up by its hash, which names
the one account it was made for (``Login`` checks the name too when given).
"""

from __future__ import annotations

import hashlib
import secrets

#: What every token starts with: one can tell it from a password in a log or a paste.
PREFIX = "lct_"
TOKEN_BYTES = 32


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the store keeps of ``token``, and looks it up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX) and 20 < len(text) < 100
