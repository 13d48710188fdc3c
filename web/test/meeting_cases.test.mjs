// The meeting's fold against tests/fixtures/room_state_cases.json (the server's answers:
// rooms/meeting.py, rooms/state.py, lua/append.lua): each case's logged events go through
// the web store's reducer as live entries, and the meeting fields are compared.
//
//   session, phase, turn -> state.meeting.meeting.status / .phase / .turn
//   reactions            -> Object.fromEntries(state.meeting.reactions)
//   agreed               -> for each member, their own store: needsAgreement() is false
//                           exactly for those listed (while a session is live)
//   checkins             -> [...state.meeting.checkins] (a facilitator's store), sorted
//   meeting_at           -> not kept (the server's compare and set)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { SHARE_TIMES, clock, describeMeetingEvent, formatAgenda, needsAgreement, parseAgenda, shareLabel, upNext } from "../meeting.js";
import { initialState, reduce } from "../store.js";

const FIXTURE = new URL("../../tests/fixtures/room_state_cases.json", import.meta.url);
const cases = JSON.parse(readFileSync(FIXTURE, "utf8"));

function fold(events, me) {
  let state = initialState(me);
  for (const entry of events) state = reduce(state, { type: "entry", entry, live: true });
  return state;
}

for (const c of cases) {
  test(`meeting: ${c.name}`, () => {
    const state = fold(c.events, { id: "fixture-facilitator", name: "F", role: "facilitator" });
    const m = state.meeting.meeting;
    assert.deepEqual(
      { session: m.status, phase: m.phase, turn: m.turn },
      { session: c.expected.session, phase: c.expected.phase, turn: c.expected.turn },
    );
    assert.deepEqual(Object.fromEntries(state.meeting.reactions), c.expected.reactions);
    assert.deepEqual([...state.meeting.checkins].sort(), c.expected.checkins);
    const people = new Set(c.events.filter((e) => e.kind === "agreed").map((e) => String(e.user_id)));
    for (const id of people) {
      const own = fold(c.events, { id, name: id, role: "member" });
      const agreed = c.expected.session === "live" && !needsAgreement(own.meeting, "member");
      assert.equal(agreed, c.expected.agreed.includes(id), `${id} agreed to this session`);
    }
  });
}

test("a round's line names who is next, and a share's time reads as a clock", () => {
  const round = cases.find((c) => c.name.startsWith("a round: done"));
  const state = fold(round.events, { id: "x", name: "X", role: "member" });
  assert.equal(upNext(state.meeting.meeting), null); // Dana is last: Casey left
  const started = round.events.find((e) => e.kind === "round_started");
  assert.equal(describeMeetingEvent(started), "Check-in round: Alex, then Blake, then Casey.");
  assert.equal(clock(65_000), "1:05");
  assert.equal(clock(-5), "0:00");
});

test("the agenda a facilitator writes, one phase a line, and back", () => {
  const agenda = parseAgenda("Welcome | 5 | Settle in.\n\nCheck-in round | 15 | How are you? | honestly\nClose | 0 |");
  assert.deepEqual(agenda, [
    { name: "Welcome", prompt: "Settle in.", length_s: 300 },
    { name: "Check-in round", prompt: "How are you? | honestly", length_s: 900 },
    { name: "Close", prompt: "", length_s: 0 },
  ]);
  assert.deepEqual(parseAgenda(formatAgenda(agenda)), agenda);
});

test("a share can be 30 s, and goes up in 30 s steps to 5 minutes; each reads as people say it", () => {
  const short = SHARE_TIMES.filter((s) => s > 0 && s <= 300);
  assert.deepEqual(short, Array.from({ length: 10 }, (_, i) => 30 * (i + 1)));
  assert.ok(SHARE_TIMES.every((s) => Number.isInteger(s) && s >= 0 && s <= 1800)); // what the server takes
  assert.equal(SHARE_TIMES.at(-1), 0);
  assert.deepEqual([30, 60, 90, 150, 1800, 0].map(shareLabel), ["30 s", "1 min", "1 min 30 s", "2 min 30 s", "30 min", "No limit"]);
  assert.equal(new Set(SHARE_TIMES.map(shareLabel)).size, SHARE_TIMES.length);
});
