import assert from "node:assert/strict";
import { test } from "node:test";

import { credentialKey, keepCredential, renewCredential, storedCredential } from "../credential.js";

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
    items,
  };
}

const reply = (status, body) => async () => ({ status, ok: status < 300, json: async () => body });

test("a renewed credential replaces the kept one", async () => {
  const storage = memoryStorage();
  keepCredential(storage, "tuesday", "old");
  const got = await renewCredential({ storage, room: "tuesday", token: "old", fetchImpl: reply(200, { token: "new" }) });
  assert.deepEqual(got, { token: "new" });
  assert.equal(storedCredential(storage, "tuesday"), "new");
});

test("a place that ended forgets the credential", async () => {
  const storage = memoryStorage();
  keepCredential(storage, "tuesday", "old");
  const got = await renewCredential({ storage, room: "tuesday", token: "old", fetchImpl: reply(403, { ended: true }) });
  assert.deepEqual(got, { ended: true });
  assert.equal(storage.items.has(credentialKey("tuesday")), false);
});

test("an unreachable server keeps the old credential for this visit", async () => {
  const storage = memoryStorage();
  keepCredential(storage, "tuesday", "old");
  const failing = async () => {
    throw new TypeError("offline");
  };
  assert.deepEqual(await renewCredential({ storage, room: "tuesday", token: "old", fetchImpl: failing }), { token: "old" });
  assert.deepEqual(await renewCredential({ storage, room: "tuesday", token: "old", fetchImpl: reply(503, {}) }), { token: "old" });
  assert.equal(storedCredential(storage, "tuesday"), "old");
});

test("a credential that ran out is told apart from a place that ended", async () => {
  const storage = memoryStorage();
  keepCredential(storage, "tuesday", "old");
  const got = await renewCredential({ storage, room: "tuesday", token: "old", fetchImpl: reply(401, { expired: true }) });
  assert.deepEqual(got, { ended: true, why: "expired" });
  assert.equal(storedCredential(storage, "tuesday"), "");
});
