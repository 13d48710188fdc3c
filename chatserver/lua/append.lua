-- Append one entry to a room's log, atomically, in one round trip.
--
-- KEYS: 1 meta (hash), 2 log (stream), 3 mutes (hash), 4 last post (hash),
--       5 the sender's client_id dedupe key (keys.cid_key: per sender, never shared),
--       6 deleted ids (set), 7 pins (hash), 8 removed (set),
--       9 raid senders of this text (sorted set: member -> ms), or an unused key
-- ARGV: 1 entry body (msgpack, without offset), 2 client_id or '', 3 guard user or '',
--       4 guard role, 5 now (ms), 6 history size (MAXLEN), 7 retention (s),
--       8 epoch to use if the room has none, 9 channel, 10 event name,
--       11 state op, 12 op arg a, 13 op arg b, 14 dedupe ttl (s),
--       15 raid window (ms; 0: not raid-tracked), 16 raid members
-- Returns {'ok', epoch, offset} | {'dup', offset .. '\n' .. body} | {'refused', rule, wait_ms}
--         | {'raid', senders} | {'moved'} (a meeting event whose `after` is out of date)
--
-- The meeting (rooms/meeting.py) lives in meta: `meeting` (its JSON, as the last meeting
-- event carried it), `meeting_at` (that event's offset), and what the guard reads of it:
-- `m_status`, `m_session`, `m_turn`; `ag\t<user>` is the session whose agreement the
-- user accepted, `rx\t<message>\t<reaction>\t<user>` one support reaction, `ck\t<user>` a
-- private check-in open with that member, `nr\t<message>` a message that takes no reactions.
--
-- The guard mirrors rooms/policy.py post_rule rule for rule, in the same order (the one
-- mirror of it): this is where mute, pause, lock, floor and slow mode are enforced for
-- every worker at once. tests/fixtures/post_guard_cases.json holds both to one answer.

local meta, log = KEYS[1], KEYS[2]
local now = tonumber(ARGV[5])

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- No meta: a new room, or its log was lost or expired. Start a new epoch and reset the
  -- log with it, so no client can mistake new offsets for old ones.
  epoch = ARGV[8]
  redis.call('DEL', log, KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8])
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0, 'first', 1)
end

if ARGV[2] ~= '' then
  local first = redis.call('GET', KEYS[5])
  -- Offset 0 marks a held message: approving it appends it now.
  if first and string.sub(first, 1, 2) ~= '0\n' then
    return {'dup', first}
  end
end

if ARGV[3] ~= '' and ARGV[4] ~= 'facilitator' then
  local user = ARGV[3]
  local muted = redis.call('HGET', KEYS[3], user)
  if muted then
    muted = tonumber(muted)
    if muted < 0 then return {'refused', 'muted', -1} end
    if muted > now then return {'refused', 'muted', muted - now} end
  end
  local st = redis.call('HMGET', meta, 'paused', 'locked', 'floor', 'slow_mode_s',
                        'm_status', 'm_session', 'm_turn', 'ag\t' .. user)
  if st[1] == '1' then return {'refused', 'paused', -1} end
  if st[2] == '1' then return {'refused', 'locked', -1} end
  if st[5] == 'ended' then return {'refused', 'ended', -1} end
  if st[5] == 'live' and (st[8] == false or st[8] ~= st[6]) then
    return {'refused', 'agreement', -1}
  end
  if st[7] and st[7] ~= '' and st[7] ~= user then return {'refused', 'turn', -1} end
  if st[3] and st[3] ~= '' and st[3] ~= user then return {'refused', 'floor', -1} end
  local slow = tonumber(st[4] or '0') or 0
  if slow > 0 then
    local last = redis.call('HGET', KEYS[4], user)
    if last then
      local wait = tonumber(last) + slow * 1000 - now
      if wait > 0 then return {'refused', 'slow_mode', wait} end
    end
  end
end

-- Raids: the same text from several members within a window, counted across every
-- worker (each worker's moderation sees only its own members). Mirrors
-- memory_backend._count_raid: record this sender, forget those outside the window.
local raid_window = tonumber(ARGV[15] or '0') or 0
if raid_window > 0 then
  local raid = KEYS[9]
  redis.call('ZREMRANGEBYSCORE', raid, '-inf', now - raid_window)
  redis.call('ZADD', raid, now, ARGV[3])
  redis.call('PEXPIRE', raid, raid_window)
  local senders = redis.call('ZCARD', raid)
  if senders >= tonumber(ARGV[16]) then return {'raid', senders} end
end

-- A meeting event is appended only onto the meeting it was worked out from (compare and
-- set): of two workers moving the same turn on, one wins and the other works it out again.
if ARGV[11] == 'meeting' and (redis.call('HGET', meta, 'meeting_at') or '0') ~= ARGV[12] then
  return {'moved'}
end

local offset = redis.call('HINCRBY', meta, 'offset', 1)
-- The stream id is the offset itself, so recovery is one XRANGE from an offset.
local length = redis.call('XLEN', log)
redis.call('XADD', log, 'MAXLEN', '=', ARGV[6], offset .. '-1', 'e', ARGV[1])
if redis.call('XLEN', log) <= length then
  -- The oldest entries were trimmed: the log now begins at its head. (`first` is kept
  -- because an erased message is taken out of the stream: a head that was erased is not
  -- a trimmed one, and recovery from before it is still whole.)
  local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  redis.call('HSET', meta, 'first', string.match(head[1][1], '^(%d+)'))
end

-- Fold the entry into the room state: (op, a, b) is rooms/state.py state_change, and this
-- mirrors its apply_event (tests/fixtures/room_state_cases.json holds both to one answer).
local op, a, b = ARGV[11], ARGV[12], ARGV[13]
if op == 'message' then
  redis.call('HSET', KEYS[4], a, b)
elseif op == 'locked' or op == 'paused' or op == 'slow_mode_s' then
  redis.call('HSET', meta, op, a)
elseif op == 'floor' then
  redis.call('HSET', meta, 'floor', a)
elseif op == 'muted' then
  redis.call('HSET', KEYS[3], a, b)
elseif op == 'unmuted' then
  redis.call('HDEL', KEYS[3], a)
elseif op == 'pinned' then
  -- Pins show in pin order (the offset kept with each); pinning a pinned message again
  -- keeps its place, as a RoomState's dict does.
  local old = redis.call('HGET', KEYS[7], a)
  local order = old and string.match(old, '^(%d+)\n') or offset
  redis.call('HSET', KEYS[7], a, order .. '\n' .. b)
elseif op == 'unpinned' then
  redis.call('HDEL', KEYS[7], a)
elseif op == 'deleted' then
  redis.call('HDEL', KEYS[7], a)
  redis.call('SADD', KEYS[6], a)
  -- The message's words are erased from the log, not only hidden (b: its offset, which
  -- is its stream id); reads already leave deleted messages out.
  if b ~= '' then
    local id = b .. '-1'
    local found = redis.call('XRANGE', log, id, id)
    if found[1] then
      -- Its sender's retry copy (KEYS[5] is the room's client_id key prefix for a room
      -- event) keeps the entry, without the words.
      local m = cmsgpack.unpack(found[1][2][2])
      if type(m) == 'table' and m.client_id and m.client_id ~= '' and m.user then
        local key = KEYS[5] .. m.client_id .. ':' .. m.user.id
        if redis.call('EXISTS', key) == 1 then
          m.text = ''
          redis.call('SET', key, b .. '\n' .. cmsgpack.pack(m), 'KEEPTTL')
        end
      end
    end
    redis.call('XDEL', log, id)
  end
elseif op == 'cleared' then
  -- The conversation is purged: the log begins again at this event, and what pointed
  -- into it (pins, deleted ids, reactions) goes with it.
  -- Their senders' retry copies too (KEYS[5]: the room's client_id key prefix).
  for _, kept in ipairs(redis.call('XRANGE', log, '-', '(' .. offset .. '-1')) do
    local m = cmsgpack.unpack(kept[2][2])
    if type(m) == 'table' and m.client_id and m.client_id ~= '' and m.user then
      redis.call('DEL', KEYS[5] .. m.client_id .. ':' .. m.user.id)
    end
  end
  redis.call('XTRIM', log, 'MINID', offset .. '-1')
  redis.call('HSET', meta, 'first', offset)
  redis.call('DEL', KEYS[6], KEYS[7])
  for _, field in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(field, 1, 3) == 'rx\t' then
      redis.call('HDEL', meta, field)
    end
  end
elseif op == 'removed' then
  redis.call('SADD', KEYS[8], a)
elseif op == 'readmitted' then
  redis.call('SREM', KEYS[8], a)
elseif op == 'meeting' then
  local m = cjson.decode(b)
  redis.call('HSET', meta, 'meeting', b, 'meeting_at', offset, 'm_status', m.status,
             'm_session', m.session_id, 'm_turn', m.turn)
elseif op == 'agreed' then
  redis.call('HSET', meta, 'ag\t' .. a, b)
elseif op == 'reactions_off' then
  redis.call('HSET', meta, 'nr\t' .. a, '1')
elseif op == 'checkin' then
  if b == '1' then
    redis.call('HSET', meta, 'ck\t' .. a, '1')
  else
    redis.call('HDEL', meta, 'ck\t' .. a)
  end
elseif op == 'reaction' then
  if b == '1' then
    redis.call('HSET', meta, 'rx\t' .. a, '1')
  else
    redis.call('HDEL', meta, 'rx\t' .. a)
  end
end

if ARGV[2] ~= '' then
  redis.call('SET', KEYS[5], offset .. '\n' .. ARGV[1], 'EX', ARGV[14])
end
-- Retention: the room's keys expire `ttl` seconds after its last activity. Refreshing
-- all seven on every message was a third of this script's work; a message only writes
-- keys that already carry a TTL (meta, log, last post: created by a state op or the
-- first refresh), so their TTLs are refreshed at most every tenth of the retention (a
-- minute at most): a room lives at least 90 % of `ttl` after its last activity. State
-- ops (rare) may create a key, so they refresh every key at once.
local ttl = tonumber(ARGV[7])
local refresh_ms = math.min(60000, ttl * 100)
local refreshed = tonumber(redis.call('HGET', meta, 'refreshed') or '0') or 0
if op ~= 'message' or now - refreshed >= refresh_ms or now < refreshed then
  redis.call('HSET', meta, 'refreshed', now)
  for i = 1, 8 do
    if i ~= 5 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
-- PUBLISH is 'PUBLISH', or 'SPUBLISH' on a Redis Cluster (connection.py prepends it).
redis.call(PUBLISH, ARGV[9], 'L' .. epoch .. '\n' .. offset .. '\n' .. ARGV[10] .. '\n' .. ARGV[1])
return {'ok', epoch, offset}
