// Unit tests for asking about own held messages on join and reading `held_status`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { heldQuery, heldReviews, MAX_HELD_QUERY } from "../lib.js";

test("heldQuery asks about own messages shown as held only, newest 30", () => {
  const items = [
    { client_id: "a", state: "held" },
    { client_id: "b", state: "not-shared" },
    { client_id: "c", state: "failed" },
    { client_id: "d", state: "held" },
    { client_id: "", state: "held" },
    null,
  ];
  assert.deepEqual(heldQuery(items), ["a", "d"]);
  assert.deepEqual(heldQuery(new Map(items.filter(Boolean).map((x) => [x.client_id, x])).values()), ["a", "d"]);
  const many = Array.from({ length: MAX_HELD_QUERY + 5 }, (_, i) => ({ client_id: `id${i}`, state: "held" }));
  const asked = heldQuery(many);
  assert.equal(asked.length, MAX_HELD_QUERY);
  assert.equal(asked[0], "id5");
  assert.equal(asked.at(-1), `id${MAX_HELD_QUERY + 4}`);
  assert.deepEqual(heldQuery([]), []);
});

test("heldReviews turns held_status into [client_id, approved], leaving waiting alone", () => {
  assert.deepEqual(heldReviews({ a: "not_shared", b: "shared", c: "waiting", d: "other", e: 5 }), [
    ["a", false],
    ["b", true],
  ]);
  for (const bad of [undefined, null, "x", 3, ["shared"]]) assert.deepEqual(heldReviews(bad), []);
});
