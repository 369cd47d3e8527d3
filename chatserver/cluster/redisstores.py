"""Moderation and the resume secret in the cluster's Redis, shared by every node.

Sanctions and grants are hashes (``keys.SANCTIONS``, ``keys.GRANTS``); a
change is posted on the events stream so every node reloads them. The
secret that signs resume tokens is made by the first node and used by all.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

from chatserver.backends.records import StoredGrant, StoredSanction
from chatserver.cluster import keys
from chatserver.cluster.link import Link
from common.nicks import nick_key


class RedisModeration:
    """``ports.ModerationStore`` in Redis (each call one round trip)."""

    def __init__(self, link: Link, node: str) -> None:
        self._link = link
        self._node = node

    def _changed(self, r) -> None:  # noqa: ANN001
        r.xadd(keys.EVENTS, {"t": "sanctions", "n": self._node}, maxlen=1000, approximate=True)

    def sanctions(self) -> list[StoredSanction]:
        kept = self._link.call(lambda r: r.hvals(keys.SANCTIONS))
        return [StoredSanction(**json.loads(v)) for v in kept]  # type: ignore[union-attr]

    def save_sanction(self, sanction: StoredSanction) -> None:
        field = f"{sanction.kind}:{nick_key(sanction.nick)}"
        value = json.dumps(dataclasses.asdict(sanction))
        self._link.call(lambda r: (r.hset(keys.SANCTIONS, field, value), self._changed(r)))

    def drop_sanction(self, kind: str, nick: str) -> None:
        self._link.call(lambda r: (r.hdel(keys.SANCTIONS, f"{kind}:{nick_key(nick)}"), self._changed(r)))

    def grants(self) -> list[StoredGrant]:
        kept = self._link.call(lambda r: r.hvals(keys.GRANTS))
        return [StoredGrant(**json.loads(v)) for v in kept]  # type: ignore[union-attr]

    def save_grant(self, grant: StoredGrant) -> None:
        value = json.dumps(dataclasses.asdict(grant))
        self._link.call(lambda r: (r.hset(keys.GRANTS, nick_key(grant.nick), value), self._changed(r)))

    def drop_grant(self, nick: str) -> None:
        self._link.call(lambda r: (r.hdel(keys.GRANTS, nick_key(nick)), self._changed(r)))


class RedisSecret:
    """``ports.SecretStore``: the cluster's resume-token secret, the first node makes it."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._secret = ""

    def secret(self) -> bytes:
        if not self._secret:
            self._secret = self._link.kept(keys.SECRET, secrets.token_hex(32))
        return bytes.fromhex(self._secret)

    def restore(self) -> None:
        """After Redis lost its data: put back the secret every node still signs with."""
        if self._secret:
            self._link.call(lambda r: r.set(keys.SECRET, self._secret, nx=True))
