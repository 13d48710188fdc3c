-- A room's state for a new subscriber: meta, mutes, pins, removed members.
-- KEYS: 1 meta, 2 log, 3 deleted, 4 mutes, 5 last post, 6 pins, 7 removed
-- ARGV: 1 epoch to use if the room has none
room_epoch(KEYS, ARGV[1])
return room_state(KEYS)
