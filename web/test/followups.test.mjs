// Unit tests for the helpers added with the follow-up fixes (length limit, refused links,
// the activity log's moderation entries, held-card concerns, alert keys, the tab cache).
import assert from "node:assert/strict";
import { test } from "node:test";

import { lengthState, refusalText, textLength } from "../lib.js";
import { alertKey, alsoLine, describeAudit, isAutomaticAudit, sortAlerts, verdictLabel } from "../review-text.js";
import { OWN_CACHE_LIMIT, RoomCache } from "../room-cache.js";

class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

test("lengthState counts code points and says by how much a draft is too long", () => {
  const MAX_TEXT = 2000; // what the server's join ack says by default (limits.max_message_chars)
  assert.equal(textLength("  héllo 👋  "), 7); // trimmed; the emoji is one character
  assert.deepEqual(lengthState("hi", MAX_TEXT), { length: 2, over: 0, left: MAX_TEXT - 2, message: "" });
  assert.equal(lengthState("a".repeat(1900), MAX_TEXT).message, "100 characters left");
  const over = lengthState("a".repeat(2100), MAX_TEXT);
  assert.equal(over.over, 100);
  assert.match(over.message, /^Too long by 100 characters/);
  assert.equal(lengthState("a".repeat(2001), MAX_TEXT).over, 1);
  assert.match(lengthState("a".repeat(2001), MAX_TEXT).message, /^Too long by 1 character:/);
  assert.equal(lengthState("👋".repeat(2000), MAX_TEXT).over, 0); // 4000 UTF-16 units, 2000 characters
  assert.equal(lengthState("x".repeat(12), 10).over, 2);
});

test("refusalText turns token codes into plain words", () => {
  assert.equal(
    refusalText("unauthorized: token expired"),
    "This link has expired — ask your facilitator for a new one.",
  );
  assert.equal(
    refusalText("unauthorized: token malformed"),
    "This link doesn't work — check you copied all of it, or ask your facilitator for a new one.",
  );
  assert.equal(refusalText("unauthorized: token signature invalid"), "unauthorized: token signature invalid");
  assert.equal(refusalText(""), "The server refused the connection.");
});

test("moderation audit entries are described with the member and a short reason", () => {
  const nameOf = (id) => ({ alex: "Alex" })[id] || "";
  const system = { id: "moderation", name: "Moderation", role: "system" };
  const v = (action, rule, user_id = "alex") => ({
    ts: 1,
    by: system,
    action,
    rule,
    stage: rule.split(".")[0],
    user_id,
  });
  assert.equal(describeAudit(v("verdict.block", "rate.limited"), nameOf), "Moderation refused a message from Alex: sending too fast");
  assert.equal(describeAudit(v("verdict.block", "rate.slow_mode"), nameOf), "Moderation refused a message from Alex: sending too fast");
  assert.equal(describeAudit(v("verdict.hold", "link.unknown"), nameOf), "Moderation held a message from Alex: link held");
  assert.equal(describeAudit(v("verdict.flag", "crisis.self", "zz"), nameOf), "Moderation flagged a message from a member: crisis support offered");
  assert.equal(describeAudit(v("verdict.modify", "contact.phone"), nameOf), "Moderation changed a message from Alex: contact details hidden");
  assert.equal(describeAudit(v("verdict.block", "duplicate.repeat"), nameOf), "Moderation refused a message from Alex: repeated message");
  assert.equal(describeAudit(v("verdict.block", "abuse.swearing"), nameOf), "Moderation refused a message from Alex: abusive language");
  assert.equal(describeAudit(v("verdict.hold", "medication.offer"), nameOf), "Moderation held a message from Alex: medication offer held");
  assert.equal(describeAudit(v("verdict.block", "gate.muted"), nameOf), "Moderation refused a message from Alex: muted");
  assert.equal(describeAudit(v("verdict.block", "shape.too_long"), nameOf), "Moderation refused a message from Alex: message too long");
  assert.equal(verdictLabel("gate.something_new", "gate"), "muted/locked/paused/floor");
  assert.equal(verdictLabel("shape.control_chars", "shape"), "message too long/empty");
  assert.equal(verdictLabel("", "rate"), "sending too fast");
  assert.equal(verdictLabel("odd.rule", "odd"), "automatic check");
  assert.equal(isAutomaticAudit(v("verdict.block", "rate.limited")), true);
  assert.equal(isAutomaticAudit({ action: "muted", by: { name: "Sam", role: "facilitator" } }), false);
  assert.equal(
    describeAudit({ action: "alert_dismissed", by: { name: "Sam" }, id: "a1" }, nameOf),
    "Sam marked an alert as done",
  );
});

test("a held card names its other concerns", () => {
  assert.equal(alsoLine(["crisis", "medication"]), "Also: crisis language, medication offer");
  assert.equal(alsoLine(["contact", "contact"]), "Also: contact details");
  assert.equal(alsoLine([]), "");
  assert.equal(alsoLine(undefined), "");
  assert.equal(alsoLine(["new_kind"]), "Also: new kind");
});

test("alerts the server keeps are listed by their id; held priority sorts first", () => {
  const entry = { id: "m1", user: { id: "alex" } };
  assert.equal(alertKey({ kind: "crisis", id: "a7", entry }), "id:a7");
  assert.equal(alertKey({ kind: "report", id: "a8", entry, user: { id: "robin" } }), "id:a8");
  assert.equal(alertKey({ kind: "report", entry, user: { id: "robin" } }), "report:m1:robin");
  assert.equal(alertKey({ kind: "held", id: "whatever", entry }), "held:m1");
  const sorted = sortAlerts([
    { kind: "report", received: 3 },
    { kind: "held", received: 1, priority: true },
    { kind: "held", received: 2 },
  ]);
  assert.deepEqual(sorted.map((a) => [a.kind, a.received]), [["held", 1], ["held", 2], ["report", 3]]);
});

test("RoomCache keeps own held and failed messages and the removal note", () => {
  const storage = new MemoryStorage();
  const cache = new RoomCache(storage, "r1");
  const own = [
    { client_id: "c1", text: "held one", ts: 1, state: "held", el: {} },
    { client_id: "c2", text: "refused", ts: 2, state: "failed", reason: "You are muted.", el: {} },
    { client_id: "c3", text: "no", ts: 3, state: "not-shared", el: {} },
  ];
  cache.save({ epoch: "e", offset: 4, entries: [], outbox: [], own });
  const back = cache.load();
  assert.deepEqual(back.own, [
    { client_id: "c1", text: "held one", ts: 1, state: "held", reason: "" },
    { client_id: "c2", text: "refused", ts: 2, state: "failed", reason: "You are muted." },
    { client_id: "c3", text: "no", ts: 3, state: "not-shared", reason: "" },
  ]);
  const many = Array.from({ length: OWN_CACHE_LIMIT + 5 }, (_, i) => ({ client_id: `c${i}`, text: "t", ts: i, state: "failed" }));
  cache.save({ epoch: "e", offset: 4, entries: [], outbox: [], own: many });
  assert.equal(cache.load().own.length, OWN_CACHE_LIMIT);
  storage.setItem("huddle:v1:room:r1", JSON.stringify({ own: [{ client_id: "x", text: "t", state: "weird" }] }));
  assert.deepEqual(cache.load().own, []);

  assert.equal(cache.loadRemoved(), null);
  cache.saveRemoved("Please take a break today.");
  assert.equal(cache.loadRemoved(), "Please take a break today.");
  storage.removeItem("huddle:v1:room:r1"); // the history is forgotten on removal …
  assert.equal(cache.loadRemoved(), "Please take a break today."); // … the note is not
  cache.clearRemoved();
  assert.equal(cache.loadRemoved(), null);
});
