// Unit tests for the client's pure helpers: `npm test` (or `node --test test/`) in web/.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CACHE_LIMIT,
  RoomCache,
  describeEvent,
  describeRoomState,
  formatTime,
  isRoomEvent,
  newClientId,
  parseFragment,
  readClaims,
  typingLine,
} from "../lib.js";

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");

test("parseFragment reads room and token from the fragment", () => {
  assert.deepEqual(parseFragment("#room=circle-1&token=a.b.c"), { room: "circle-1", token: "a.b.c" });
  assert.deepEqual(parseFragment("#room=only"), { room: "only", token: "" });
  assert.deepEqual(parseFragment(""), { room: "", token: "" });
});

test("readClaims decodes the JWT payload, including non-ASCII names", () => {
  const token = `${b64url({ alg: "HS256" })}.${b64url({ sub: "u1", name: "Zoë", rooms: { r: "member" } })}.sig`;
  assert.deepEqual(readClaims(token), { sub: "u1", name: "Zoë", rooms: { r: "member" } });
  assert.deepEqual(readClaims("not a token"), {});
  assert.deepEqual(readClaims(""), {});
});

test("newClientId is a v4 UUID, with or without crypto.randomUUID", () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(newClientId(), uuid);
  const original = crypto.randomUUID;
  try {
    crypto.randomUUID = undefined; // as on plain http outside localhost
    const a = newClientId();
    assert.match(a, uuid);
    assert.notEqual(a, newClientId());
  } finally {
    crypto.randomUUID = original;
  }
});

test("formatTime is local HH:MM", () => {
  const d = new Date(2024, 0, 2, 7, 5);
  assert.equal(formatTime(d.getTime()), "07:05");
});

test("room events are told apart from messages by kind", () => {
  assert.equal(isRoomEvent({ kind: "deleted", id: "m1", offset: 3 }), true);
  assert.equal(isRoomEvent({ id: "m1", text: "hi", offset: 2 }), false);
});

test("describeEvent says what changed in plain words", () => {
  const nameOf = (id) => ({ u2: "Alex" })[id] || "";
  const by = { id: "f", name: "Sam", role: "facilitator" };
  assert.equal(describeEvent({ kind: "pinned", id: "m", by }, nameOf), "Sam pinned a message.");
  assert.equal(describeEvent({ kind: "muted", user_id: "u2", by }, nameOf), "Alex is muted.");
  assert.equal(describeEvent({ kind: "unmuted", user_id: "zz", by }, nameOf), "A member can post again.");
  assert.equal(describeEvent({ kind: "locked", locked: true, by }, nameOf), "The room is locked: only facilitators can post.");
  assert.equal(describeEvent({ kind: "slow_mode", slow_mode_s: 30, by }, nameOf), "Slow mode is on: one message every 30 s.");
  assert.equal(describeEvent({ kind: "floor", user_id: null, by }, nameOf), "Everyone may speak again.");
  assert.equal(describeEvent({ kind: "removed", user_id: "u2", by }, nameOf), "Alex was removed from the room.");
  assert.equal(describeEvent({ kind: "something_new" }, nameOf), "Room update: something_new.");
});

test("describeRoomState and typingLine", () => {
  assert.equal(describeRoomState({ locked: false, slow_mode_s: 0, mutedUntil: 0 }), "");
  assert.equal(describeRoomState({ locked: true, slow_mode_s: 10, mutedUntil: null }),
    "Locked: only facilitators can post · Slow mode: one message every 10 s · You are muted");
  assert.equal(typingLine([]), "");
  assert.equal(typingLine(["Sam"]), "Sam is typing…");
  assert.equal(typingLine(["Sam", "Alex"]), "Sam and Alex are typing…");
  assert.equal(typingLine(["a", "b", "c"]), "Several people are typing…");
});

class MemoryStorage {
  constructor() { this.data = new Map(); }
  getItem(k) { return this.data.has(k) ? this.data.get(k) : null; }
  setItem(k, v) { this.data.set(k, String(v)); }
}

test("RoomCache keeps the position, the latest entries and the outbox", () => {
  const storage = new MemoryStorage();
  const cache = new RoomCache(storage, "r1");
  assert.equal(cache.load(), null);
  const entries = Array.from({ length: CACHE_LIMIT + 5 }, (_, i) => ({ offset: i + 1, id: `m${i}`, text: "x" }));
  const outbox = [{ client_id: "c1", text: "pending", ts: 1, el: {}, timer: 3 }];
  cache.save({ epoch: "e1", offset: 205, entries, outbox });
  const back = cache.load();
  assert.equal(back.epoch, "e1");
  assert.equal(back.offset, 205);
  assert.equal(back.entries.length, CACHE_LIMIT);
  assert.equal(back.entries[0].offset, 6);
  assert.deepEqual(back.outbox, [{ client_id: "c1", text: "pending", ts: 1 }]);
  assert.equal(new RoomCache(storage, "r2").load(), null);
});

test("RoomCache survives broken or full storage", () => {
  const storage = new MemoryStorage();
  storage.setItem("huddle:v1:room:r1", "{not json");
  assert.equal(new RoomCache(storage, "r1").load(), null);
  const full = { getItem: () => null, setItem: () => { throw new Error("QuotaExceededError"); } };
  new RoomCache(full, "r1").save({ epoch: "e", offset: 1, entries: [], outbox: [] });
});
