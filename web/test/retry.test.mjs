// The join retry after a busy server: what the server asked, with jitter.
import assert from "node:assert/strict";
import { test } from "node:test";

import { RETRY_MAX_MS, RETRY_MIN_MS, retryDelay } from "../lib.js";

test("a refused join waits what the server asked, spread by up to half again", () => {
  const error = { code: "unavailable", retry_after_s: 4 };
  assert.equal(retryDelay(error, 3000, () => 0), 4000);
  assert.equal(retryDelay(error, 3000, () => 0.999), 5998);
});

test("a server asking for less than the client's own delay is honoured, not rounded up", () => {
  // The admission queue asks for 2 s (chatserver/service/admission.py RETRY_AFTER_S).
  const error = { code: "unavailable", retry_after_s: 2 };
  assert.equal(retryDelay(error, 3000, () => 0), 2000);
  assert.equal(retryDelay(error, 3000, () => 0.999), 2999);
});

test("without a usable retry_after_s the client's own delay is used, still with jitter", () => {
  for (const error of [{}, { retry_after_s: "soon" }, { retry_after_s: 0 }, { retry_after_s: -1 }, null]) {
    assert.equal(retryDelay(error, 3000, () => 0), 3000);
    assert.equal(retryDelay(error, 3000, () => 0.5), 3750);
  }
});

test("a request outside the bounds is held to them", () => {
  assert.equal(retryDelay({ retry_after_s: 0.01 }, 3000, () => 0), RETRY_MIN_MS);
  assert.equal(retryDelay({ retry_after_s: 1e9 }, 3000, () => 0), RETRY_MAX_MS);
  assert.equal(retryDelay({ retry_after_s: Infinity }, 3000, () => 0), 3000);
});

test("many members retrying at once are spread over the window", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const delays = Array.from({ length: 1000 }, () => retryDelay({ retry_after_s: 2 }, 3000, random));
  const distinct = new Set(delays.map((d) => Math.floor(d / 100)));
  assert.ok(Math.min(...delays) >= 2000 && Math.max(...delays) <= 3000);
  assert.ok(distinct.size >= 9, `spread over ${distinct.size} of 10 slots`);
});
