-- Read a room's log for a join: every entry after `since`, or the latest page.
--
-- KEYS: 1 meta, 2 log, 3 deleted ids, 4 mutes, 5 last post, 6 pins, 7 removed
-- ARGV: 1 epoch to use if the room has none, 2 since epoch or '', 3 since offset,
--       4 page size, 5 history size (the most a recovery returns)
-- Returns {epoch, offset, recovered (0/1), entries (XRANGE form), deleted ids}
--
-- The decision mirrors rooms/recovery.py plan_read: never a partial recovery.

local meta, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', log, KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local offset = tonumber(redis.call('HGET', meta, 'offset'))
local first = offset + 1
local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if #head > 0 then
  first = tonumber(string.match(head[1][1], '^(%d+)'))
end

local recovered = 0
local entries
local since = tonumber(ARGV[3])
if ARGV[2] == epoch and since <= offset and since >= first - 1 then
  recovered = 1
  entries = redis.call('XRANGE', log, '(' .. since .. '-1', '+', 'COUNT', tonumber(ARGV[5]))
else
  local page = tonumber(ARGV[4])
  entries = {}
  if page > 0 then
    local rev = redis.call('XREVRANGE', log, '+', '-', 'COUNT', page)
    for i = #rev, 1, -1 do entries[#entries + 1] = rev[i] end
  end
end
return {epoch, offset, recovered, entries, redis.call('SMEMBERS', KEYS[3])}
