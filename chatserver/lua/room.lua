-- Shared by read.lua, snapshot.lua, presence.lua, join.lua and leave.lua: prepended to each when the
-- Redis backend loads it, so every script decides these the same way.
--
-- A room's state keys, in this order everywhere:
--   1 meta, 2 log, 3 deleted ids, 4 mutes, 5 last post, 6 pins, 7 removed

-- The room's epoch. No meta: a new room, or its log was lost or expired. Start a new
-- epoch and reset the log with it, so no client can mistake new offsets for old ones.
local function room_epoch(state, new_epoch)
  local epoch = redis.call('HGET', state[1], 'epoch')
  if not epoch then
    epoch = new_epoch
    redis.call('DEL', state[2], state[3], state[4], state[5], state[6], state[7])
    redis.call('HSET', state[1], 'epoch', epoch, 'offset', 0, 'first', 1)
  end
  return epoch
end

-- Every entry after `since` (same epoch, still retained), or the latest page.
-- Mirrors rooms/recovery.py plan_read: never a partial recovery.
-- Returns offset, recovered (0/1), entries (XRANGE form).
local function read_log(state, epoch, since_epoch, since, page, history)
  local offset = tonumber(redis.call('HGET', state[1], 'offset'))
  -- The oldest retained offset: `first` (moved by trimming only: see append.lua), or
  -- for a log kept before it was recorded, the stream's head.
  local first = tonumber(redis.call('HGET', state[1], 'first') or '')
  if not first then
    first = offset + 1
    local head = redis.call('XRANGE', state[2], '-', '+', 'COUNT', 1)
    if #head > 0 then
      first = tonumber(string.match(head[1][1], '^(%d+)'))
    end
  end
  if since_epoch == epoch and since <= offset and since >= first - 1 then
    return offset, 1, redis.call('XRANGE', state[2], '(' .. since .. '-1', '+', 'COUNT', history)
  end
  local entries = {}
  if page > 0 then
    local rev = redis.call('XREVRANGE', state[2], '+', '-', 'COUNT', page)
    for i = #rev, 1, -1 do entries[#entries + 1] = rev[i] end
  end
  return offset, 0, entries
end

-- The state a join or a new subscriber needs: meta, mutes, pins, removed members.
local function room_state(state)
  return {
    redis.call('HGETALL', state[1]),
    redis.call('HGETALL', state[4]),
    redis.call('HGETALL', state[6]),
    redis.call('SMEMBERS', state[7]),
  }
end

-- Presence hash: connection id -> user id \t expires ms \t name \t role.
local function parse_presence(v)
  local uid, exp, name, role = string.match(v, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
  return uid, tonumber(exp), name, role
end

-- Drop expired connections. Returns the users still present (id -> {name, role}) and
-- the users left with no connection, flat (id, name, role, ...).
local function presence_purge(key, now)
  local all = redis.call('HGETALL', key)
  local alive, expired = {}, {}
  for i = 1, #all, 2 do
    local uid, exp, name, role = parse_presence(all[i + 1])
    if exp <= now then
      redis.call('HDEL', key, all[i])
      expired[uid] = {name, role}
    else
      alive[uid] = {name, role}
    end
  end
  local gone = {}
  for uid, info in pairs(expired) do
    if not alive[uid] then
      gone[#gone + 1] = uid
      gone[#gone + 1] = info[1]
      gone[#gone + 1] = info[2]
    end
  end
  return alive, gone
end

local function presence_touch(key, now, expires)
  redis.call('PEXPIRE', key, tonumber(expires) - now + 60000)
end

-- Add a connection; 1 when it is the user's first in the room. `alive` is updated.
local function presence_add(key, alive, expires, conn, uid, name, role)
  redis.call('HSET', key, conn, uid .. '\t' .. expires .. '\t' .. name .. '\t' .. role)
  local first = 1
  if alive[uid] then first = 0 end
  alive[uid] = {name, role}
  return first
end

local function presence_flat(alive)
  local out = {}
  for uid, info in pairs(alive) do
    out[#out + 1] = uid
    out[#out + 1] = info[1]
    out[#out + 1] = info[2]
  end
  return out
end

-- Announce a presence change ('joined' or 'left', by `user`) to the room, numbered in the
-- room's presence sequence (on its meta), so a worker can tell which of those it hears
-- came after a join's member list (bus.py gives the frames and the ack to the worker in
-- any order). The member list is `alive`, read in the same step. Returns the number:
-- 0 (the event unnumbered, heard as before by whoever is in the room when it arrives) for
-- a room whose meta is gone (expired), which a number would bring back without a lifetime.
local function presence_announce(meta, alive, channel, audience, room, change, user)
  local seq = 0
  if redis.call('HEXISTS', meta, 'epoch') == 1 then
    seq = redis.call('HINCRBY', meta, 'presence_seq', 1)
  end
  -- The payload as Delivery("presence", {room, joined|left, members}) publishes it,
  -- members in rooms/presence.py in_member_order: facilitators first, then by name.
  local members = {}
  for id, info in pairs(alive) do
    members[#members + 1] = {id = id, name = info[1], role = info[2]}
  end
  table.sort(members, function(a, b)
    local fa, fb = a.role == 'facilitator', b.role == 'facilitator'
    if fa ~= fb then return fa end
    return a.name < b.name
  end)
  local payload = {room = room, members = members}
  payload[change] = user
  -- The number rides in the payload (the worker takes it out), so a worker of an
  -- earlier version reads the frame as before (its clients see one field more).
  if seq > 0 then payload['_seq'] = seq end
  -- The frame bus.py ephemeral_frame makes: 'E' and one msgpack array.
  redis.call(PUBLISH, channel, 'E' .. cmsgpack.pack({audience, 'presence', payload}))
  return seq
end
