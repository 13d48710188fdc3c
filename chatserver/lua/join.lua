-- A join, atomically and in one round trip: the joiner's presence (announced to the room
-- on their first connection), then everything the join ack needs.
--
-- KEYS: 1-7 the room's state keys (room.lua), 8 presence, 9 hands, 10 held, 11 alerts,
--       12 facilitator roster (set), 13.. the joiner's client_id keys to look up
-- ARGV: 1 epoch to use if the room has none, 2 since epoch or '', 3 since offset,
--       4 page size, 5 history size, 6 now ms, 7 presence expires ms, 8 connection id,
--       9 user id, 10 name, 11 role, 12 '1': a removed user stays out (no presence),
--       13 '1': list held messages, 14 '1': list open alerts, 15 channel, 16 room id,
--       17 audience of the presence event, 18 retention (s) of the roster
-- Returns {admitted, first, state (room_state), members (flat), hands, held, alerts,
--          client_id values (or false), epoch, offset, recovered, entries, deleted ids,
--          presence sequence number}

local state = {KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
local epoch = room_epoch(state, ARGV[1])
local uid = ARGV[9]
if ARGV[12] == '1' and redis.call('SISMEMBER', KEYS[7], uid) == 1 then
  -- check_join refuses them (rooms/policy.py): change nothing, read only the state.
  return {0, 0, room_state(state)}
end

if ARGV[11] == 'facilitator' then
  -- Who has joined as a facilitator, kept after they leave: the rule that a facilitator
  -- cannot be muted, removed or given the floor needs their role when they are away too.
  redis.call('SADD', KEYS[12], uid)
end
redis.call('EXPIRE', KEYS[12], ARGV[18])  -- kept while the room is in use (no-op if none)

local presence, now, expires = KEYS[8], tonumber(ARGV[6]), ARGV[7]
local alive = presence_purge(presence, now)
local first = presence_add(presence, alive, expires, ARGV[8], uid, ARGV[10], ARGV[11])
presence_touch(presence, now, expires)
local presence_seq
if first == 1 then
  local joined = {id = uid, name = ARGV[10], role = ARGV[11]}
  presence_seq = presence_announce(
    KEYS[1], alive, ARGV[15], ARGV[17], ARGV[16], 'joined', joined)
else
  presence_seq = tonumber(redis.call('HGET', KEYS[1], 'presence_seq') or '0')
end

local held, alerts = {}, {}
-- Held messages before the client_ids: a review takes the hold and then appends, so an
-- entry found unlogged and gone from the holds was taken before this read.
if ARGV[13] == '1' then held = redis.call('HVALS', KEYS[10]) end
if ARGV[14] == '1' then alerts = redis.call('HVALS', KEYS[11]) end
local found = {}
for i = 13, #KEYS do found[#found + 1] = redis.call('GET', KEYS[i]) end
local offset, recovered, entries = read_log(
  state, epoch, ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {
  1, first, room_state(state), presence_flat(alive), redis.call('HVALS', KEYS[9]), held,
  alerts, found, epoch, offset, recovered, entries, redis.call('SMEMBERS', KEYS[3]),
  presence_seq,
}
