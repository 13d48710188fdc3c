// Why Send waits, against the server's post guard: tests/fixtures/post_guard_cases.json
// (also checked by pytest against rooms/policy.py and by the backend contract against the
// Redis Lua scripts). Each case's logged events go through the web store's reducer as
// live entries, in the store of the member making the request, and the composer's
// postingFor() must block for exactly the rule the server refuses with, by that name.
//
// Slow mode is the one difference: the server refuses a post that comes too soon; the
// client never blocks for it (the message waits its turn and goes out by itself), and
// says "Slow mode: …" whenever it is on, so a slow_mode case expects no block here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { postingFor } from "../composer.js";
import { initialState, reduce } from "../store.js";

const FIXTURE = new URL("../../tests/fixtures/post_guard_cases.json", import.meta.url);
const cases = JSON.parse(readFileSync(FIXTURE, "utf8"));
const BLOCKING = new Set(["muted", "paused", "locked", "ended", "agreement", "turn", "floor"]);

test("the fixture file has a case for every rule that stops a member's post", () => {
  const rules = new Set(cases.map((c) => c.rule));
  for (const rule of BLOCKING) assert.ok(rules.has(rule), rule);
});

for (const c of cases) {
  test(`posting: ${c.name}`, () => {
    const me = { id: c.request.user_id, name: c.request.user_id, role: c.request.role };
    let state = initialState(me);
    for (const entry of c.events) state = reduce(state, { type: "entry", entry, live: true });
    const posting = postingFor(state, c.now_ms);
    const expected = BLOCKING.has(c.rule) ? c.rule : "";
    assert.equal(posting.blocks ? posting.rule : "", expected);
    if (posting.blocks) assert.match(posting.text, /draft stays here|keep writing/);
  });
}
