// After Redis restarts empty (or the room's log is otherwise gone), the join ack says
// `history: "lost"`: the page starts afresh with one calm line saying why, instead of an
// empty page and no word. The line itself is drawn by conversation.js (the browser test
// tests/system/test_browser_history_lost.py); here, what the store keeps.
import assert from "node:assert/strict";
import { test } from "node:test";

import { HISTORY_GAP_TEXT } from "../lib.js";
import { initialState, reduce } from "../store.js";
import { historyGap } from "../timeline.js";

const alex = { id: "alex", name: "Alex", role: "member" };
const msg = (offset, text) => ({ room: "r1", id: `m${offset}`, offset, user: alex, text, ts: 1000 + offset });

function rejoin(state, ack) {
  let s = reduce(state, { type: "timeline_reset", history: ack.history });
  for (const entry of ack.entries) s = reduce(s, { type: "entry", entry, live: false });
  return reduce(s, { type: "joined", ack, continues: false, at: 5000 });
}

const ack = (epoch, entries, extra = {}) => ({
  ok: true,
  recovered: false,
  entries,
  room: { epoch, offset: entries.length ? entries[entries.length - 1].offset : 0, members: [alex] },
  ...extra,
});

test("a lost history is kept as the timeline's gap, with the new page after it", () => {
  let s = rejoin(initialState({ id: "alex" }), ack("e1", [msg(1, "before the restart")]));
  assert.equal(s.timeline.gap, null);
  s = rejoin(s, ack("e2", [msg(1, "after the restart")], { history: "lost" }));
  assert.equal(s.timeline.gap, "lost");
  assert.equal(s.timeline.epoch, "e2");
  assert.deepEqual(
    s.timeline.entries.map((e) => e.text),
    ["after the restart"],
  );
  // Live entries and a recovered rejoin keep the note; the next fresh page decides again.
  s = reduce(s, { type: "entry", entry: msg(2, "and more"), live: true });
  assert.equal(s.timeline.gap, "lost");
  s = rejoin(s, ack("e2", [msg(2, "and more")]));
  assert.equal(s.timeline.gap, null);
});

test("only the protocol's reasons become a note", () => {
  assert.equal(historyGap("lost"), "lost");
  assert.equal(historyGap("trimmed"), "trimmed");
  assert.equal(historyGap("rolled_back"), "rolled_back");
  for (const gap of ["lost", "trimmed", "rolled_back"]) assert.ok(HISTORY_GAP_TEXT[gap]);
  for (const other of [undefined, null, "", "LOST", 1, {}, "<b>lost</b>"]) assert.equal(historyGap(other), null);
});

test("the note's words are calm and plain", () => {
  assert.equal(HISTORY_GAP_TEXT.lost, "Earlier messages from this session are no longer available.");
  assert.match(HISTORY_GAP_TEXT.trimmed, /no longer available/);
});
