-- Presence of a room across workers, with expiry so a dead worker's members disappear.
--
-- KEYS: 1 presence hash: connection id -> user id \t expires ms \t name \t role
-- ARGV: 1 op (add | remove | list | refresh), 2 now ms, 3 expires ms, then per op:
--   add:     4 conn, 5 user id, 6 name, 7 role        -> 1 if the user's first connection
--   remove:  4 conn, 5 user id                        -> 1 if it was the user's last one
--   list:                                             -> flat list id, name, role, ...
--   refresh: 4.. conn, user id, name, role (repeated) -> users who vanished (expired), flat
local key, op, now, expires = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]

if op == 'add' then
  local alive = presence_purge(key, now)
  local first = presence_add(key, alive, expires, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
  presence_touch(key, now, expires)
  return first
elseif op == 'remove' then
  local existed = redis.call('HDEL', key, ARGV[4])
  local alive = presence_purge(key, now)
  if existed == 0 or alive[ARGV[5]] then return 0 end
  return 1
elseif op == 'list' then
  return presence_flat(presence_purge(key, now))
elseif op == 'refresh' then
  for i = 4, #ARGV, 4 do
    if redis.call('HEXISTS', key, ARGV[i]) == 1 then
      redis.call('HSET', key, ARGV[i],
        ARGV[i + 1] .. '\t' .. expires .. '\t' .. ARGV[i + 2] .. '\t' .. ARGV[i + 3])
    end
  end
  local _, gone = presence_purge(key, now)
  presence_touch(key, now, expires)
  return gone
end
return redis.error_reply('unknown presence op ' .. tostring(op))
