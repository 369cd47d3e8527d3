"""Read markers in the cluster's Redis (a ``MarkerStore``: ``backends/markers.py``): every node sees the same.

An account's markers are the hash ``lanchat:markers:KEY`` (target -> time)
and, for the cap, the sorted set ``lanchat:markers-order:KEY`` (target by
time); ``KEY`` is the account name's ``nick_key``. Raising one is one Lua
script (raised only if later, the oldest past the cap dropped): one round
trip, never under the hub's lock.
"""

from __future__ import annotations

from chatserver.backends.markers import MAX_MARKERS
from chatserver.cluster.keys import PREFIX
from chatserver.cluster.link import Link
from common.nicks import nick_key

MARKERS = PREFIX + "markers:"  # + key: hash target -> time
ORDER = PREFIX + "markers-order:"  # + key: sorted set of targets by time

# KEYS: the hash, the order. ARGV: target, time, cap. Returns the marker now (a string: Lua keeps no float).
_MARK = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return cur end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], old)
    redis.call('ZREM', KEYS[2], old)
  end
end
return ARGV[2]
"""


class RedisMarkers:
    def __init__(self, link: Link, cap: int = MAX_MARKERS) -> None:
        self._link = link
        self._cap = cap
        self._mark = link.redis.register_script(_MARK)

    def mark(self, account: str, target: str, ts: float) -> float:
        key = nick_key(account)
        args = [target, repr(float(ts)), self._cap]
        got = self._link.call(lambda r: self._mark(keys=[MARKERS + key, ORDER + key], args=args))
        return float(got)  # type: ignore[arg-type]

    def markers(self, account: str) -> dict[str, float]:
        found = self._link.call(lambda r: r.hgetall(MARKERS + nick_key(account)))
        return {target: float(ts) for target, ts in found.items()}  # type: ignore[union-attr]

    def forget(self, account: str) -> None:
        key = nick_key(account)
        self._link.call(lambda r: r.delete(MARKERS + key, ORDER + key))
