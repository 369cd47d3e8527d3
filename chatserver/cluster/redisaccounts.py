"""Accounts in the cluster's Redis (an ``AccountStore``): every node sees the same accounts, tokens and kept messages.

Each account is a hash ``lanchat:account:KEY`` (name, hash, created, op, scram;
``KEY`` its name's ``nick_key``), listed in the set ``lanchat:accounts``;
login token hashes map to their account's key in ``lanchat:account-tokens``,
and each account's are listed in ``lanchat:account-tokens:KEY`` (for
``drop_tokens``); the private messages kept for it are the list
``lanchat:account-kept:KEY`` (JSON), and the accounts it has private
conversations with the sorted set ``lanchat:account-talks:KEY`` (by the
time of each one's last message, bounded). Every change that touches more than one
key is one Lua script, so no node sees half of it. Each call is one round
trip, never made under the hub's lock.
"""

from __future__ import annotations

import msgspec

from chatserver.backends.accounts import KEPT_MAX, TALKS_MAX, StoredAccount
from chatserver.cluster.keys import PREFIX
from chatserver.cluster.link import Link
from common import messages as m
from common.nicks import nick_key

ACCOUNT = PREFIX + "account:"  # + key: hash name, hash, created, op
ACCOUNTS = PREFIX + "accounts"  # set of account keys
TOKENS = PREFIX + "account-tokens"  # hash token hash -> account key
TOKENS_OF = PREFIX + "account-tokens:"  # + key: set of that account's token hashes
KEPT = PREFIX + "account-kept:"  # + key: list of JSON Private
TALKS = PREFIX + "account-talks:"  # + key: sorted set of the accounts it talked with, by the last message's time

_CREATE = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], 'name', ARGV[1], 'hash', ARGV[2], 'created', ARGV[3], 'op', ARGV[4])
redis.call('sadd', KEYS[2], ARGV[5])
return 1
"""
_SET = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
_DROP_TOKENS = """
local hashes = redis.call('smembers', KEYS[2])
for _, h in ipairs(hashes) do redis.call('hdel', KEYS[1], h) end
redis.call('del', KEYS[2])
return #hashes
"""
_DELETE = (
    _DROP_TOKENS.replace("return #hashes", "")
    + """
redis.call('del', KEYS[4])
redis.call('srem', KEYS[5], ARGV[1])
return redis.call('del', KEYS[3])
"""
)
_DROP_TOKEN = """
local key = redis.call('hget', KEYS[1], ARGV[1])
if not key then return 0 end
redis.call('hdel', KEYS[1], ARGV[1])
redis.call('srem', ARGV[2] .. key, ARGV[1])
return 1
"""
_ADD_TOKEN = """
if redis.call('exists', KEYS[3]) == 0 then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('sadd', KEYS[2], ARGV[1])
return 1
"""
_TAKE = """
local kept = redis.call('lrange', KEYS[1], 0, -1)
redis.call('del', KEYS[1])
return kept
"""

_decode = msgspec.json.Decoder(m.Private).decode
_encode = msgspec.json.Encoder().encode


class RedisAccounts:
    def __init__(self, link: Link) -> None:
        self._link = link
        r = link.redis
        self._create, self._set, self._delete = (
            r.register_script(_CREATE),
            r.register_script(_SET),
            r.register_script(_DELETE),
        )
        self._add_token, self._drop_token = r.register_script(_ADD_TOKEN), r.register_script(_DROP_TOKEN)
        self._drop_tokens, self._take = r.register_script(_DROP_TOKENS), r.register_script(_TAKE)

    def account(self, name: str) -> StoredAccount | None:
        return _stored(self._link.call(lambda r: r.hgetall(ACCOUNT + nick_key(name))))  # type: ignore[arg-type]

    def create(self, account: StoredAccount) -> bool:
        key = nick_key(account.name)
        args = [account.name, account.hash, repr(account.created), "1" if account.op else "0", key]
        made = bool(self._link.call(lambda r: self._create(keys=[ACCOUNT + key, ACCOUNTS], args=args, client=r)))
        if made and account.scram:
            self.set_scram(account.name, account.scram)
        return made

    def _field(self, name: str, field: str, value: str) -> bool:
        keys = [ACCOUNT + nick_key(name)]
        return bool(self._link.call(lambda r: self._set(keys=keys, args=[field, value], client=r)))

    def set_hash(self, name: str, hash: str) -> bool:
        return self._field(name, "hash", hash)

    def set_op(self, name: str, op: bool) -> bool:
        return self._field(name, "op", "1" if op else "0")

    def set_scram(self, name: str, credential: str) -> bool:
        return self._field(name, "scram", credential)

    def delete(self, name: str) -> bool:
        key = nick_key(name)
        keys = [TOKENS, TOKENS_OF + key, ACCOUNT + key, KEPT + key, ACCOUNTS]

        def delete(r) -> bool:  # noqa: ANN001
            r.delete(TALKS + key)  # (its list first: an account half deleted lists nothing)
            return bool(self._delete(keys=keys, args=[key], client=r))

        return self._link.call(delete)  # type: ignore[return-value]

    def operators(self) -> list[str]:
        def read(r) -> list[str]:  # noqa: ANN001
            keys = r.smembers(ACCOUNTS)
            pipe = r.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(ACCOUNT + key, "name", "op")
            return sorted(name for name, op in pipe.execute() if name is not None and op == "1")

        return self._link.call(read)  # type: ignore[return-value]

    def add_token(self, name: str, token_hash: str, created: float) -> None:
        key = nick_key(name)
        keys = [TOKENS, TOKENS_OF + key, ACCOUNT + key]
        self._link.call(lambda r: self._add_token(keys=keys, args=[token_hash, key], client=r))

    def token_account(self, token_hash: str) -> str | None:
        def read(r) -> str | None:  # noqa: ANN001
            key = r.hget(TOKENS, token_hash)
            return None if key is None else r.hget(ACCOUNT + key, "name")

        return self._link.call(read)  # type: ignore[return-value]

    def account_by_token(self, token_hash: str) -> StoredAccount | None:
        def read(r) -> dict | None:  # noqa: ANN001
            key = r.hget(TOKENS, token_hash)
            return None if key is None else r.hgetall(ACCOUNT + key)

        return _stored(self._link.call(read))  # type: ignore[arg-type]

    def drop_token(self, token_hash: str) -> bool:
        return bool(self._link.call(lambda r: self._drop_token(keys=[TOKENS], args=[token_hash, TOKENS_OF], client=r)))

    def drop_tokens(self, name: str) -> int:
        keys = [TOKENS, TOKENS_OF + nick_key(name)]
        return int(self._link.call(lambda r: self._drop_tokens(keys=keys, client=r)))  # type: ignore[arg-type]

    def keep_private(self, name: str, msg: m.Private) -> None:
        key = KEPT + nick_key(name)

        def keep(r) -> None:  # noqa: ANN001
            pipe = r.pipeline(transaction=True)
            pipe.rpush(key, _encode(msg).decode())
            pipe.ltrim(key, -KEPT_MAX, -1)
            pipe.execute()

        self._link.call(keep)

    def take_privates(self, name: str) -> list[m.Private]:
        texts = self._link.call(lambda r: self._take(keys=[KEPT + nick_key(name)], client=r))
        out = []
        for text in texts:  # type: ignore[union-attr]
            try:
                out.append(_decode(text))
            except msgspec.DecodeError:
                continue  # (unreadable: skipped, the others delivered)
        return out

    def talked(self, one: str, other: str, ts: float) -> None:
        def note(r) -> None:  # noqa: ANN001
            pipe = r.pipeline(transaction=True)
            for owner, with_ in ((one, other), (other, one)):
                pipe.zadd(TALKS + nick_key(owner), {with_: ts}, gt=True)
                pipe.zremrangebyrank(TALKS + nick_key(owner), 0, -TALKS_MAX - 1)
            pipe.execute()

        self._link.call(note)

    def talks(self, name: str) -> list[tuple[str, float]]:
        found = self._link.call(lambda r: r.zrevrange(TALKS + nick_key(name), 0, -1, withscores=True))
        return [(other, float(ts)) for other, ts in found]  # type: ignore[union-attr]


def _stored(fields: dict[str, str] | None) -> StoredAccount | None:
    """An account's hash as Redis gives it back (None: there is none), its SCRAM credential with it."""
    if not fields or "hash" not in fields:
        return None
    f = fields
    return StoredAccount(f["name"], f["hash"], float(f["created"]), f.get("op") == "1", f.get("scram", ""))
