-- Read a room's log for a join: every entry after `since`, or the latest page.
--
-- KEYS: 1 meta, 2 log, 3 deleted ids, 4 mutes, 5 last post, 6 pins, 7 removed
-- ARGV: 1 epoch to use if the room has none, 2 since epoch or '', 3 since offset,
--       4 page size, 5 history size (the most a recovery returns)
-- Returns {epoch, offset, recovered (0/1), entries (XRANGE form), deleted ids}

local epoch = room_epoch(KEYS, ARGV[1])
local offset, recovered, entries = read_log(
  KEYS, epoch, ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {epoch, offset, recovered, entries, redis.call('SMEMBERS', KEYS[3])}
