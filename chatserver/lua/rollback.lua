-- A room rolled back by a failover (its master died before its replica had the last
-- entries some worker delivered): give it a new epoch, once, whichever worker notices
-- first, so no client takes the offsets appended from now on for the ones it saw.
-- The log stays; members start over from it (recovered: false).
--
-- KEYS: 1 meta (hash)
-- ARGV: 1 the epoch the worker delivered under, 2 a new epoch
-- Returns {epoch, offset}: the room's epoch now (the new one, or one another worker set).
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch == ARGV[1] then
  epoch = ARGV[2]
  -- rolled_from: a client rejoining with the old epoch is told why (history: rolled_back).
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'rolled_from', ARGV[1])
end
return {epoch or '', tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')}
