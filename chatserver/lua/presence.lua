-- Presence of a room across workers, with expiry so a dead worker's members disappear.
--
-- KEYS: 1 presence hash: connection id -> user id \t expires ms \t name \t role
-- ARGV: 1 op (add | remove | list | refresh), 2 now ms, 3 expires ms, then per op:
--   add:     4 conn, 5 user id, 6 name, 7 role        -> 1 if the user's first connection
--   remove:  4 conn, 5 user id                        -> 1 if it was the user's last one
--   list:                                             -> flat list id, name, role, ...
--   refresh: 4.. conn, user id, name, role (repeated) -> users who vanished (expired), flat
local key, op, now, expires = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]

local function parse(v)
  local uid, exp, name, role = string.match(v, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
  return uid, tonumber(exp), name, role
end

-- Drop expired connections; report users left with none.
local function purge()
  local all = redis.call('HGETALL', key)
  local alive, expired = {}, {}
  for i = 1, #all, 2 do
    local uid, exp, name, role = parse(all[i + 1])
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

local function touch()
  redis.call('PEXPIRE', key, tonumber(expires) - now + 60000)
end

if op == 'add' then
  local alive = purge()
  redis.call('HSET', key, ARGV[4], ARGV[5] .. '\t' .. expires .. '\t' .. ARGV[6] .. '\t' .. ARGV[7])
  touch()
  if alive[ARGV[5]] then return 0 end
  return 1
elseif op == 'remove' then
  local existed = redis.call('HDEL', key, ARGV[4])
  local alive = purge()
  if existed == 0 or alive[ARGV[5]] then return 0 end
  return 1
elseif op == 'list' then
  local alive = purge()
  local out = {}
  for uid, info in pairs(alive) do
    out[#out + 1] = uid
    out[#out + 1] = info[1]
    out[#out + 1] = info[2]
  end
  return out
elseif op == 'refresh' then
  for i = 4, #ARGV, 4 do
    if redis.call('HEXISTS', key, ARGV[i]) == 1 then
      redis.call('HSET', key, ARGV[i],
        ARGV[i + 1] .. '\t' .. expires .. '\t' .. ARGV[i + 2] .. '\t' .. ARGV[i + 3])
    end
  end
  local _, gone = purge()
  touch()
  return gone
end
return redis.error_reply('unknown presence op ' .. tostring(op))
