"""Forgetting rooms in Redis that nobody uses: no members on any node, no live node following them.

Without it every room ever made stays in ``lanchat:rooms`` with its keys
(5,000 made by one address in 33 s stayed for good, and ``/rooms`` read them
all). Each heartbeat a node looks at a few rooms of the set (``SSCAN``, so
every room comes round in turn) with one script: a room nobody is in and no
live node follows is marked idle (``idle``, in its hash) the first time, and
forgotten (its hash, stream, members and read positions, and its place in
the set) once it has been idle for ``EMPTY_IDLE`` seconds if it never had a
message, or ``KEPT_IDLE`` if it has (as the SQLite store deletes messages
older than that). A member or a follower seen again clears the mark. Made
again, a forgotten room is new (a new epoch). Any node may sweep: the script
is atomic, so two nodes sweeping the same room agree.
"""

from __future__ import annotations

from chatserver.cluster import keys
from chatserver.cluster.link import Link

EMPTY_IDLE = 600.0  # seconds: a room never spoken in, nobody in it
KEPT_IDLE = 90 * 86400.0  # seconds: a room with messages, nobody in it (the store's default retention)
PER_BEAT = 200  # rooms looked at per heartbeat, about

# ARGV: now (s), empty idle (s), kept idle (s), then room keys. A room is followed by a node that has a read
# position in it and a lease (a dead node's position is dropped, as the append script does). Returns how many
# rooms were forgotten.
_SWEEP = """
local gone = 0
local now = tonumber(ARGV[1])
for i = 4, #ARGV do
  local rk = ARGV[i]
  local meta = 'lanchat:room:' .. rk
  if redis.call('EXISTS', meta) == 0 then
    redis.call('SREM', 'lanchat:rooms', rk)
  else
    local used = redis.call('HLEN', 'lanchat:members:' .. rk) > 0
    if not used then
      local readers = redis.call('HKEYS', 'lanchat:readpos:' .. rk)
      for j = 1, #readers do
        if redis.call('EXISTS', 'lanchat:alive:' .. readers[j]) == 1 then
          used = true
        else
          redis.call('HDEL', 'lanchat:readpos:' .. rk, readers[j])
        end
      end
    end
    if used then
      redis.call('HDEL', meta, 'idle')
    else
      local since = tonumber(redis.call('HGET', meta, 'idle'))
      if not since then
        redis.call('HSET', meta, 'idle', ARGV[1])
      else
        local wait = tonumber(ARGV[2])
        if tonumber(redis.call('HGET', meta, 'seq')) > 0 then wait = tonumber(ARGV[3]) end
        if now - since >= wait then
          redis.call('DEL', meta, 'lanchat:log:' .. rk, 'lanchat:members:' .. rk, 'lanchat:order:' .. rk,
            'lanchat:readpos:' .. rk)
          redis.call('SREM', 'lanchat:rooms', rk)
          gone = gone + 1
        end
      end
    end
  end
end
return gone
"""


class RoomSweeper:
    """Walks ``lanchat:rooms`` a few rooms per ``step``, forgetting those nobody uses."""

    def __init__(
        self, link: Link, *, empty_idle: float = EMPTY_IDLE, kept_idle: float = KEPT_IDLE, per_step: int = PER_BEAT
    ) -> None:
        self._link = link
        self._empty_idle = empty_idle
        self._kept_idle = kept_idle
        self._per_step = per_step
        self._cursor = 0
        self._sweep = link.redis.register_script(_SWEEP)

    def step(self, now: float) -> int:
        """Look at the next few rooms (``now``: wall-clock seconds, the same on every node,
        about); returns how many were forgotten. Raises ``ClusterUnavailable`` as any call."""
        cursor, found = self._link.call(lambda r: r.sscan(keys.ROOMS, self._cursor, count=self._per_step))  # type: ignore[misc]
        self._cursor = int(cursor)
        if not found:
            return 0
        args = [repr(now), repr(self._empty_idle), repr(self._kept_idle), *found]
        return int(self._link.call(lambda r: self._sweep(keys=[], args=args)))  # type: ignore[arg-type]
