// The join retry after a busy server: what the server asked, with jitter.
import assert from "node:assert/strict";
import { test } from "node:test";

import { retryDelay } from "../lib.js";

test("a refused join waits what the server asked, spread by up to half again", () => {
  const error = { code: "unavailable", retry_after_s: 4 };
  assert.equal(retryDelay(error, 3000, () => 0), 4000);
  assert.equal(retryDelay(error, 3000, () => 0.999), 5998);
});

test("without a usable retry_after_s the floor is used, still with jitter", () => {
  for (const error of [{}, { retry_after_s: "soon" }, { retry_after_s: 0.1 }, null]) {
    assert.equal(retryDelay(error, 3000, () => 0), 3000);
    assert.equal(retryDelay(error, 3000, () => 0.5), 3750);
  }
});

test("many members retrying at once are spread over the window", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const delays = Array.from({ length: 1000 }, () => retryDelay({ retry_after_s: 1 }, 1000, random));
  const distinct = new Set(delays.map((d) => Math.floor(d / 50)));
  assert.ok(Math.min(...delays) >= 1000 && Math.max(...delays) <= 1500);
  assert.ok(distinct.size >= 9, `spread over ${distinct.size} of 10 slots`);
});
