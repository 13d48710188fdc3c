// Unit tests for the client's pure helpers: `npm test` (or `node --test test/`) in web/.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyModeration, describeEvent, describeOwnMute, describeRoomState, formatDuration, formatTime, isRoomEvent, mutedUntilOf, muteLeft, newClientId, parseFragment, postingState, readClaims, typingLine, arrivalLine } from "../lib.js";
import { alertKey, alertTitle, describeAudit, sortAlerts } from "../review-text.js";
import { CACHE_LIMIT, RoomCache } from "../room-cache.js";

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

test("formatDuration and muteLeft say how long in plain words", () => {
  assert.equal(formatDuration(30), "30 s");
  assert.equal(formatDuration(300), "5 min");
  assert.equal(formatDuration(3600), "60 min");
  assert.equal(formatDuration(7200), "2 h");
  assert.equal(formatDuration(9000), "2 h 30 min");
  const now = 1_000_000;
  assert.equal(muteLeft(now + 15 * 60_000, now), "15 min");
  assert.equal(muteLeft(now + 14 * 60_000 + 1, now), "15 min"); // rounded up: never says less
  assert.equal(muteLeft(now + 20_000, now), "less than a minute");
  assert.equal(muteLeft(now - 1, now), "");
  assert.equal(muteLeft(null, now), "");
});

test("describeOwnMute tells a muted member kindly, with the time and the note", () => {
  const now = new Date(2024, 0, 2, 10, 0).getTime();
  const until = now + 15 * 60_000;
  assert.equal(
    describeOwnMute(until, "", now),
    "A facilitator has muted you until 10:15 (15 min left). You can keep reading along.",
  );
  assert.match(describeOwnMute(until, "Let's pause for a bit", now), /Their note: Let's pause for a bit$/);
  assert.match(describeOwnMute(null, "", now), /muted you for now/);
  assert.equal(describeOwnMute(0, "", now), "");
  assert.equal(describeOwnMute(now - 1, "", now), "");
});

test("describeRoomState says when you have the floor", () => {
  assert.equal(describeRoomState({ floorIsYou: true, floorName: "Alex", mutedUntil: 0 }), "You have the floor");
  assert.equal(describeRoomState({ floorName: "Alex", mutedUntil: 0 }), "Alex has the floor");
  assert.equal(describeRoomState({ slow_mode_s: 120, mutedUntil: 0 }), "Slow mode: one message every 2 min");
});

test("alerts: crisis first, then held, then reports, then the rest; newest first within", () => {
  const list = [
    { kind: "report", received: 5 },
    { kind: "flood", received: 9 },
    { kind: "held", received: 3 },
    { kind: "crisis", received: 1 },
    { kind: "held", received: 4 },
    { kind: "abuse", received: 2, priority: true },
  ];
  assert.deepEqual(
    sortAlerts(list).map((a) => `${a.kind}${a.received}`),
    ["abuse2", "crisis1", "held4", "held3", "report5", "flood9"],
  );
  assert.equal(alertTitle("crisis"), "Someone may need support");
  assert.equal(alertTitle("contact"), "Contact details were hidden");
  assert.equal(alertTitle("medication"), "Medication offer");
  assert.equal(alertTitle("something-new"), "Moderation alert: something-new");
});

test("alertKey lists the same thing once", () => {
  const entry = { id: "m1", user: { id: "alex" } };
  assert.equal(alertKey({ kind: "held", entry }), "held:m1");
  assert.equal(alertKey({ kind: "crisis", entry, user: { id: "alex" } }), "crisis:m1");
  assert.notEqual(
    alertKey({ kind: "report", entry, user: { id: "robin" } }),
    alertKey({ kind: "report", entry, user: { id: "bea" } }),
  );
  assert.equal(
    alertKey({ kind: "flood", entry: null, user: { id: "alex" }, received: 1 }),
    alertKey({ kind: "flood", entry: null, user: { id: "alex" }, received: 2 }),
  );
});

test("applyModeration folds room events and audit entries into who is muted or removed", () => {
  const state = { mutes: new Map(), removed: new Map() };
  // Audit entries (oldest first), as a facilitator reads them after joining.
  applyModeration(state, { action: "muted", user_id: "alex", duration_s: 900, ts: 1000 });
  applyModeration(state, { action: "muted", user_id: "bea", ts: 1000 }); // until unmuted
  applyModeration(state, { action: "removed", user_id: "robin", ts: 1000 });
  applyModeration(state, { action: "locked", locked: true, ts: 1000 }); // not about a member
  assert.equal(state.mutes.get("alex"), 1000 + 900_000);
  assert.equal(state.mutes.get("bea"), null);
  assert.deepEqual([...state.removed.keys()], ["robin"]);
  // Live room events.
  applyModeration(state, { kind: "muted", user_id: "alex", until: 5000, user: { id: "alex", name: "Alex" } });
  applyModeration(state, { kind: "unmuted", user_id: "bea" });
  applyModeration(state, { kind: "readmitted", user_id: "robin" });
  applyModeration(state, { kind: "removed", user_id: "cy", user: { id: "cy", name: "Cy", role: "member" } });
  assert.equal(state.mutes.get("alex"), 5000);
  assert.equal(state.mutes.has("bea"), false);
  assert.deepEqual([...state.removed.entries()], [["cy", { id: "cy", name: "Cy", role: "member" }]]);
  assert.equal(mutedUntilOf(state.mutes, "alex", 4999), 5000);
  assert.equal(mutedUntilOf(state.mutes, "alex", 5000), 0); // over
  assert.equal(mutedUntilOf(state.mutes, "nobody", 0), 0);
});

test("describeAudit names who did what, never message text", () => {
  const nameOf = (id) => ({ alex: "Alex" })[id] || "";
  const by = { id: "sam", name: "Sam", role: "facilitator" };
  const line = (a) => describeAudit({ ts: 1, by, ...a }, nameOf);
  assert.equal(line({ action: "muted", user_id: "alex", duration_s: 900 }), "Sam muted Alex for 15 min");
  assert.equal(line({ action: "muted", user_id: "alex", duration_s: null }), "Sam muted Alex until unmuted");
  assert.equal(line({ action: "removed", user_id: "zed" }), "Sam removed zed from the room");
  assert.equal(line({ action: "readmitted", user_id: "alex" }), "Sam let Alex back in");
  assert.equal(line({ action: "floor", user_id: null }), "Sam took the floor back");
  assert.equal(line({ action: "slow_mode", slow_mode_s: 30 }), "Sam set slow mode to one message every 30 s");
  assert.equal(line({ action: "hands_lowered" }), "Sam lowered all hands");
  assert.equal(line({ action: "denied", id: "m1", user_id: "alex" }), "Sam did not share a held message from Alex");
  assert.equal(
    describeAudit({ action: "reported", by: { id: "robin", name: "Robin" }, user_id: "alex" }, nameOf),
    "Robin reported a message by Alex",
  );
});

test("RoomCache keeps a facilitator's open alerts", () => {
  const storage = new MemoryStorage();
  const cache = new RoomCache(storage, "r1");
  const alerts = [{ kind: "crisis", entry: { id: "m1", text: "…" }, received: 3 }, { nonsense: true }];
  cache.save({ epoch: "e", offset: 1, entries: [], outbox: [], alerts });
  assert.deepEqual(cache.load().alerts, [alerts[0]]);
  cache.save({ epoch: "e", offset: 1, entries: [], outbox: [] });
  assert.deepEqual(cache.load().alerts, []);
});

test("postingState says why a member cannot post now, in the server's order, and what happens to a draft", () => {
  const base = { role: "member", muteUntil: 0, paused: false, locked: false, floor: null, floorName: "", selfId: "alex", slowModeS: 0 };
  const now = 1_000_000;
  assert.deepEqual(postingState(base, now), { rule: "", blocks: false, text: "" });
  assert.equal(postingState({ ...base, muteUntil: now + 60_000, paused: true }, now).rule, "muted");
  assert.equal(postingState({ ...base, muteUntil: null }, now).blocks, true);
  assert.equal(postingState({ ...base, muteUntil: now - 1 }, now).rule, ""); // a mute that ended
  assert.equal(postingState({ ...base, paused: true, locked: true }, now).rule, "paused");
  assert.match(postingState({ ...base, locked: true }, now).text, /only facilitators can post/);
  const floor = postingState({ ...base, floor: "bea", floorName: "Bea" }, now);
  assert.equal(floor.blocks, true);
  assert.match(floor.text, /^Bea has the floor\. You can keep writing/);
  assert.equal(postingState({ ...base, floor: "alex" }, now).rule, ""); // my own floor
  const slow = postingState({ ...base, slowModeS: 30 }, now);
  assert.equal(slow.blocks, false);
  assert.match(slow.text, /one message every 30 s/);
  assert.equal(postingState({ ...base, role: "facilitator", locked: true, muteUntil: null }, now).rule, "");
  // The meeting: an ended session, then the agreement, then whose turn it is, then the floor.
  assert.equal(postingState({ ...base, locked: true, session: "ended" }, now).rule, "locked");
  assert.match(postingState({ ...base, session: "ended" }, now).text, /session has ended.*draft stays here/);
  const unagreed = postingState({ ...base, session: "live", agreed: false, turn: "bea", turnName: "Bea" }, now);
  assert.equal(unagreed.rule, "agreement");
  assert.match(unagreed.text, /^Send waits until you accept the group agreement/);
  const turn = postingState({ ...base, session: "live", turn: "bea", turnName: "Bea", floor: "cara" }, now);
  assert.deepEqual([turn.rule, turn.blocks], ["turn", true]);
  assert.match(turn.text, /^It's Bea's turn in the round\. Your draft stays here until your turn/);
  assert.equal(postingState({ ...base, session: "live", turn: "alex" }, now).rule, ""); // my turn
  assert.equal(postingState({ ...base, role: "facilitator", session: "live", agreed: false, turn: "bea" }, now).rule, "");
});

test("arrivalLine names one, two or three arrivals, then two and a count", () => {
  assert.equal(arrivalLine([]), "");
  assert.equal(arrivalLine(["Bea"]), "Bea joined the room.");
  assert.equal(arrivalLine(["Bea", "Cara"]), "Bea and Cara joined the room.");
  assert.equal(arrivalLine(["Bea", "Cara", "Dan"]), "Bea, Cara and Dan joined the room.");
  assert.equal(arrivalLine(["Bea", "Cara", "Dan", "Eve", "Fay"]), "Bea, Cara and 3 others joined the room.");
});
