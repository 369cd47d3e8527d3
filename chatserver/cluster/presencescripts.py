"""The Lua scripts of Redis presence (``presence.py``): each change to a name or a room's membership in one round trip.

A name is the hash ``lanchat:nick:KEY``: the person, the node and session
named for it with its ``rooms``, and its ``devices`` (an account's other
sessions holding it, JSON: sid -> [node, resume token, its rooms as a JSON
text]); each node's names are the set ``lanchat:people:NODE``. A room's
membership is a hash, nick key -> its sessions' sids there (space-separated),
and a sorted set of the order the names came in. Each session's rooms are
kept with it, so that a dead node's devices are taken out of their own rooms.
"""

from __future__ import annotations

#: Lua functions: whether ``node``'s lease runs at ``now`` (ms); whether ``node`` still holds a name (the
#: session named for it, or one of its ``devices``), so that the node's ``people`` set keeps it.
LIVE = """
local function live(node, now)
  local lease = redis.call('GET', 'lanchat:alive:' .. node)
  return lease and (lease == '1' or tonumber(lease) > now)
end
local function holds(node, primary, devices)
  if primary == node then return true end
  for _, d in pairs(devices) do if d[1] == node then return true end end
  return false
end
"""

# KEYS: the nick hash. ARGV: node, sid, token, replacing sid, take-over token, nick, nick key, away, op, host,
# address, room, now (ms), account, account key, the most devices. Returns {1, previous node, previous sid},
# {0} (held by another), or {2} (its account's devices are at their cap). A name a live session of the
# same account holds is held by this session too, as one of its ``devices`` (JSON: sid -> [node, token]).
CLAIM = (
    LIVE
    + """
local now = tonumber(ARGV[13])
local cur = redis.call('HMGET', KEYS[1], 'node', 'sid', 'token', 'rooms', 'akey', 'devices')
local rooms = '[]'
local devices = '{}'
if cur[1] then
  local alive = live(cur[1], now)
  local mine = cur[2] == ARGV[4]
  local takeover = ARGV[5] ~= '' and cur[3] == ARGV[5]
  if alive and not mine and not takeover then
    if ARGV[15] == '' or cur[5] ~= ARGV[15] then return {0} end
    local held = cjson.decode(cur[6] or '{}')
    local n, old, oldnode = 0, nil, ''
    for s, d in pairs(held) do
      if not live(d[1], now) then held[s] = nil
      elseif ARGV[5] ~= '' and d[2] == ARGV[5] then old = s
      else n = n + 1 end
    end
    if old then oldnode = held[old][1]; held[old] = nil
    elseif n + 1 >= tonumber(ARGV[16]) then return {2} end
    held[ARGV[2]] = {ARGV[1], ARGV[3]}
    redis.call('HSET', KEYS[1], 'devices', cjson.encode(held))
    redis.call('HSET', 'lanchat:named', ARGV[15], ARGV[7])
    redis.call('SADD', 'lanchat:people:' .. ARGV[1], ARGV[7])
    if old then return {1, oldnode, old} end
    return {1, '', ''}
  end
  if mine and cur[4] then rooms = cur[4] end  -- (the same session, its name in another case: same rooms)
  if alive and cur[6] then devices = cur[6] end  -- (its own, or taken over: the other devices stay)
  if not holds(cur[1], '', cjson.decode(devices)) then redis.call('SREM', 'lanchat:people:' .. cur[1], ARGV[7]) end
else
  cur = {'', '', ''}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'nick', ARGV[6], 'node', ARGV[1], 'sid', ARGV[2], 'token', ARGV[3],
  'away', ARGV[8], 'op', ARGV[9], 'host', ARGV[10], 'address', ARGV[11], 'room', ARGV[12], 'rooms', rooms,
  'account', ARGV[14], 'akey', ARGV[15], 'devices', devices)
redis.call('SADD', 'lanchat:people:' .. ARGV[1], ARGV[7])
if ARGV[15] ~= '' then redis.call('HSET', 'lanchat:named', ARGV[15], ARGV[7]) end
return {1, cur[1], cur[2]}
"""
)

# KEYS: the nick hash. ARGV: sid, node, nick key, now (ms). Drops that session's hold on the name: a device
# of it goes; the one named for it is followed by a live device, if any, else the name is free.
RELEASE = (
    LIVE
    + """
local h = redis.call('HMGET', KEYS[1], 'sid', 'devices', 'node')
if not h[1] then return 0 end
local devices = cjson.decode(h[2] or '{}')
local primary = h[3]
if h[1] ~= ARGV[1] then
  if not devices[ARGV[1]] then return 0 end
  devices[ARGV[1]] = nil
  redis.call('HSET', KEYS[1], 'devices', cjson.encode(devices))
else
  local heir = nil
  for s, d in pairs(devices) do
    if heir == nil and live(d[1], tonumber(ARGV[4])) then heir = s end
  end
  if heir == nil then
    local akey = redis.call('HGET', KEYS[1], 'akey')
    if akey and akey ~= '' and redis.call('HGET', 'lanchat:named', akey) == ARGV[3] then
      redis.call('HDEL', 'lanchat:named', akey)
    end
    redis.call('DEL', KEYS[1])
    for _, d in pairs(devices) do redis.call('SREM', 'lanchat:people:' .. d[1], ARGV[3]) end
    redis.call('SREM', 'lanchat:people:' .. ARGV[2], ARGV[3])
    return 1
  end
  local d = devices[heir]
  devices[heir] = nil
  primary = d[1]
  redis.call('HSET', KEYS[1], 'sid', heir, 'node', d[1], 'token', d[2], 'rooms', d[3] or '[]',
    'devices', cjson.encode(devices))
end
if not holds(ARGV[2], primary, devices) then redis.call('SREM', 'lanchat:people:' .. ARGV[2], ARGV[3]) end
return 1
"""
)

# KEYS: the nick hash. ARGV: sid, then field, value pairs. Sets them if that session still holds the name (an
# account: ``lanchat:named`` says its person goes by it).
UPDATE = """
if redis.call('HGET', KEYS[1], 'sid') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'akey' and ARGV[i + 1] ~= '' then  -- (logged in: its account's person goes by this name)
    redis.call('HSET', 'lanchat:named', ARGV[i + 1], string.sub(KEYS[1], string.len('lanchat:nick:') + 1))
  end
end
return 1
"""

#: Lua function: session ``sid`` of the name hash ``key`` is in ``rooms`` (JSON text) now, ``room`` its focus
#: ("": unchanged): kept in the hash, the named session's in ``rooms``, a device's with it in ``devices``.
ROOMS_OF = """
local function rooms_of(key, sid, rooms, room)
  local h = redis.call('HMGET', key, 'sid', 'devices')
  if h[1] == sid then
    redis.call('HSET', key, 'rooms', rooms)
    if room ~= '' then redis.call('HSET', key, 'room', room) end
    return
  end
  local devices = cjson.decode(h[2] or '{}')
  local d = devices[sid]
  if d then
    d[3] = rooms
    redis.call('HSET', key, 'devices', cjson.encode(devices))
  end
end
"""

# KEYS: a members hash, the room's order, the nick hash. ARGV: nick key, sid, now (ms), the session's rooms
# (JSON), the room's name. The session is in the room: its sid among the name's (an account's devices:
# several, space-separated; the name listed once), and its rooms kept with it. Returns 1 if another session
# of the name was in it already (the person was there: nobody is told it came), else 0.
JOIN = (
    ROOMS_OF
    + """
rooms_of(KEYS[3], ARGV[2], ARGV[4], ARGV[5])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local others = 0
if not cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  for s in string.gmatch(cur, '%S+') do if s ~= ARGV[2] then others = 1 end end
  if not string.find(' ' .. cur .. ' ', ' ' .. ARGV[2] .. ' ', 1, true) then
    redis.call('HSET', KEYS[1], ARGV[1], cur .. ' ' .. ARGV[2])
  end
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])  -- (back after an outage: its place)
return others
"""
)

# KEYS: a members hash, the room's order (and the nick hash). ARGV: nick key, sid (and the rooms the session
# is still in, JSON: kept with it). Drops that session's entry; the name leaves the room with its last
# session. Returns how many of its sessions are still in it, -1 if that session was not (so of several
# sessions leaving at once, on any nodes, exactly one sees 0: the last out). One script, not a pipeline:
# redis-py sends SCRIPT EXISTS before every pipeline holding a script, a round trip more.
LEAVE = (
    ROOMS_OF
    + """
if KEYS[3] then rooms_of(KEYS[3], ARGV[2], ARGV[3], '') end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
local left = {}
local was = false
for s in string.gmatch(cur, '%S+') do
  if s ~= ARGV[2] then left[#left + 1] = s else was = true end
end
if not was then return -1 end
if #left == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], table.concat(left, ' '))
end
return #left
"""
)

# KEYS: the room's order. ARGV: limit, now (ms). Returns how many are in the room, then nick, away, op, host,
# room, address, token of each of the first ``limit`` whose name is held on a live node (in the order they came).
FIRST = """
local out = {redis.call('ZCARD', KEYS[1])}
local first = {}
if tonumber(ARGV[1]) > 0 then first = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1) end
for _, k in ipairs(first) do
  local h = redis.call('HMGET', 'lanchat:nick:' .. k, 'node', 'nick', 'away', 'op', 'host', 'room', 'address', 'token')
  if h[1] then
    local lease = redis.call('GET', 'lanchat:alive:' .. h[1])
    if lease and (lease == '1' or tonumber(lease) > tonumber(ARGV[2])) then
      for j = 2, 8 do out[#out + 1] = h[j] or '' end
    end
  end
end
return out
"""

# KEYS: the nick hash. ARGV: now (ms). Who holds the name, in one round trip: {its hash (field, value, ...),
# the sids of its devices on live nodes}, or {} if nobody does or its node is dead.
HOLDER = (
    LIVE
    + """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {} end
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
local now = tonumber(ARGV[1])
if not f['node'] or not live(f['node'], now) then return {} end
local devices = {}
for s, d in pairs(cjson.decode(f['devices'] or '{}')) do
  if live(d[1], now) then devices[#devices + 1] = s end
end
return {h, devices}
"""
)

# KEYS: ``lanchat:named``. ARGV: account key, now (ms). The name the account's person goes by on a live node
# (a /nick may have renamed it), or nil.
NAMED = (
    LIVE
    + """
local k = redis.call('HGET', KEYS[1], ARGV[1])
if not k then return nil end
local h = redis.call('HMGET', 'lanchat:nick:' .. k, 'node', 'nick', 'akey')
if not h[1] or h[3] ~= ARGV[1] or not live(h[1], tonumber(ARGV[2])) then return nil end
return h[2]
"""
)
