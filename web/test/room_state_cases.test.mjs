// One source of truth for the room-state fold: tests/fixtures/room_state_cases.json (also
// checked by pytest against rooms/state.py and by the backend contract against the Redis
// Lua scripts). Each case's logged events go through the web store's reducer, as live
// entries in offset order, and the fields the client keeps are compared with `expected`.
//
// How the fixture's fields map onto the client's state:
//   locked, paused, slow_mode_s, floor -> state.room.flags.<same name>
//   pinned_ids                         -> [...state.room.pins.keys()] (pin order)
//   mutes (in force at now_ms)         -> state.room.moderation.mutes, read with lib.js's
//                                         mutedUntilOf(mutes, id, now_ms), as the member
//                                         list's "muted until" badge reads it; and, for
//                                         each member, their own banner: state.room.mute
//                                         when the store belongs to that member
//   removed (sorted ids)               -> [...state.room.moderation.removed.keys()].sort()
//   last_post_ms                       -> not kept by the client (slow mode is the server's)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { mutedUntilOf } from "../lib.js";
import { isMuted } from "../room.js";
import { initialState, reduce } from "../store.js";

const FIXTURE = new URL("../../tests/fixtures/room_state_cases.json", import.meta.url);
const cases = JSON.parse(readFileSync(FIXTURE, "utf8"));

function fold(events, me) {
  let state = initialState(me);
  for (const entry of events) state = reduce(state, { type: "entry", entry, live: true });
  return state;
}

/** Everyone a case's events name as a target (muted, removed …). */
function usersIn(c) {
  const ids = new Set(Object.keys(c.expected.mutes));
  for (const e of c.events) {
    const id = e.user_id ?? (e.user && e.user.id);
    if (id != null) ids.add(String(id));
  }
  return [...ids];
}

test("the fixture file has cases", () => {
  assert.ok(cases.length > 0);
});

for (const c of cases) {
  test(`room state: ${c.name}`, () => {
    const facilitator = { id: "fixture-facilitator", name: "F", role: "facilitator" };
    const state = fold(c.events, facilitator);
    const { flags, pins, moderation } = state.room;
    assert.deepEqual(
      { locked: flags.locked, paused: flags.paused, slow_mode_s: flags.slow_mode_s, floor: flags.floor },
      { locked: c.expected.locked, paused: c.expected.paused, slow_mode_s: c.expected.slow_mode_s, floor: c.expected.floor },
    );
    assert.deepEqual([...pins.keys()], c.expected.pinned_ids);
    assert.deepEqual([...moderation.removed.keys()].sort(), [...c.expected.removed].sort());

    const inForce = {};
    for (const id of usersIn(c)) {
      const until = mutedUntilOf(moderation.mutes, id, c.now_ms);
      if (until !== 0) inForce[id] = until;
    }
    assert.deepEqual(inForce, c.expected.mutes);

    // Each member's own banner: the store of that member, reading its own mute.
    for (const id of usersIn(c)) {
      const own = fold(c.events, { id, name: id, role: "member" }).room;
      const expected = Object.hasOwn(c.expected.mutes, id);
      assert.equal(isMuted(own, c.now_ms), expected, `${id} sees themselves ${expected ? "muted" : "not muted"}`);
      if (expected) assert.equal(own.mute.until, c.expected.mutes[id]);
    }
  });
}
