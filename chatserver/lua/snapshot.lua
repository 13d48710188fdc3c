-- A room's state for a join: meta, mutes, pins, removed members.
-- KEYS: 1 meta, 2 log, 3 deleted, 4 mutes, 5 last post, 6 pins, 7 removed
-- ARGV: 1 epoch to use if the room has none
local meta = KEYS[1]
if not redis.call('HGET', meta, 'epoch') then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
  redis.call('HSET', meta, 'epoch', ARGV[1], 'offset', 0)
end
return {
  redis.call('HGETALL', meta),
  redis.call('HGETALL', KEYS[4]),
  redis.call('HGETALL', KEYS[6]),
  redis.call('SMEMBERS', KEYS[7]),
}
