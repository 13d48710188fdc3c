-- A leave, atomically: the connection's presence removed and, if it was the user's last
-- in the room, their raised hand lowered and "left" announced, numbered in the room's
-- presence sequence with the "joined" of join.lua. In one step, so the member list the
-- "left" carries is the room's at its number: a join's ack reads either before it (and
-- hears it) or after it (and lists the person gone), never between the two.
-- Also announces, numbered, users whose presence expired (their worker died).
--
-- KEYS: 1 the room's meta, 2 presence, 3 hands
-- ARGV: 1 now ms, 2 channel, 3 room id, 4 audience of the presence event,
--       5 connection id ('' for users who expired), then user id, name, role (repeated:
--       one user for a connection)
-- Returns {hands (values) if one was lowered, else false; 1 if announced, else 0}
local meta, presence, hands, now = KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1])

local alive
if ARGV[5] ~= '' then
  local existed = redis.call('HDEL', presence, ARGV[5])
  alive = presence_purge(presence, now)
  if existed == 0 or alive[ARGV[6]] then return {false, 0} end
else
  alive = presence_purge(presence, now)
end

local lowered = false
for i = 6, #ARGV, 3 do
  local user = {id = ARGV[i], name = ARGV[i + 1], role = ARGV[i + 2]}
  if ARGV[5] ~= '' and redis.call('HDEL', hands, user.id) == 1 then
    -- Someone who left no longer waits to speak.
    lowered = redis.call('HVALS', hands)
  end
  presence_announce(meta, alive, ARGV[2], ARGV[4], ARGV[3], 'left', user)
end
return {lowered, 1}
