// The group space panel's pure part: the next session's time, shown in the group's zone.
import assert from "node:assert/strict";
import { test } from "node:test";

import { sessionTime } from "../space-panel.js";

test("the next session is shown in the group's own time zone, named", () => {
  // 2026-12-15 19:00 in London is 19:00 UTC (winter).
  const next = { starts_at_ms: Date.UTC(2026, 11, 15, 19, 0), time_zone: "Europe/London" };
  const text = sessionTime(next, "en-GB");
  assert.match(text, /Tuesday/);
  assert.match(text, /15 December/);
  assert.match(text, /19:00/);
  assert.match(text, /\(Europe\/London\)$/);
  const sydney = sessionTime({ ...next, time_zone: "Australia/Sydney" }, "en-GB");
  assert.match(sydney, /Wednesday/); // 06:00 the next morning there
  assert.match(sydney, /06:00/);
});

test("no time set, or a zone the browser does not know, never throws", () => {
  assert.equal(sessionTime(null), "");
  assert.equal(sessionTime({ starts_at_ms: "soon" }), "");
  const odd = sessionTime({ starts_at_ms: 0, time_zone: "Mars/Base" });
  assert.ok(odd.length > 0);
});
