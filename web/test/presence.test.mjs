// People coming and going, as a facilitator sees them: arrivals, a reconnect within the
// grace (not an arrival, no "left"), someone who left (shown a while, then gone), and
// anyone with an open alert about them kept in the list and marked.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LEFT_SHOWN_MS, RECONNECT_GRACE_MS, roster, rosterChangesAt } from "../people.js";
import { initialState, reduce } from "../store.js";

const sam = { id: "sam", name: "Sam", role: "facilitator" };
const alex = { id: "alex", name: "Alex", role: "member" };
const bea = { id: "bea", name: "Bea", role: "member" };

function start() {
  const s = reduce(initialState(sam), { type: "timeline_reset" });
  return reduce(s, { type: "joined", ack: { ok: true, entries: [], room: { epoch: "e1", offset: 0, members: [sam, alex], you: sam } }, at: 0 });
}

const presence = (s, payload, at) => reduce(s, { type: "presence", payload: { room: "r1", ...payload }, at });
const view = (s, now) => roster(s, now).map((m) => `${m.id}:${m.presence}${m.since != null && m.presence === "here" ? "+new" : ""}${m.alert ? "!" : ""}`);

test("an arrival is marked for a while; those here when I came are not", () => {
  let s = start();
  s = presence(s, { joined: bea, members: [sam, alex, bea] }, 1000);
  assert.deepEqual(view(s, 2000), ["sam:here", "alex:here", "bea:here+new"]);
  assert.equal(rosterChangesAt(s, 2000) > 2000, true);
});

test("a quick reconnect is neither a departure nor an arrival", () => {
  let s = start();
  s = presence(s, { left: alex, members: [sam] }, 1000);
  assert.deepEqual(view(s, 2000), ["sam:here", "alex:reconnecting"]);
  s = presence(s, { joined: alex, members: [sam, alex] }, 5000);
  assert.deepEqual(view(s, 6000), ["sam:here", "alex:here"]);
  assert.equal(s.people.arrived.has("alex"), false);
});

test("someone who left shows as left after the grace, and goes after a while", () => {
  let s = start();
  s = presence(s, { left: alex, members: [sam] }, 1000);
  assert.deepEqual(view(s, 1000 + RECONNECT_GRACE_MS + 1), ["sam:here", "alex:left"]);
  assert.deepEqual(view(s, 1000 + LEFT_SHOWN_MS + 1), ["sam:here"]);
});

test("someone with an open alert stays listed and marked, here or gone", () => {
  let s = start();
  s = reduce(s, { type: "alert", payload: { kind: "crisis", id: "a1", user: alex, entry: { id: "m1", user: alex, text: "…" } }, at: 500 });
  assert.deepEqual(view(s, 600), ["sam:here", "alex:here!"]);
  s = presence(s, { left: alex, members: [sam] }, 1000);
  assert.deepEqual(view(s, 1000 + LEFT_SHOWN_MS * 3), ["sam:here", "alex:left!"]);
  // A report is about the message's author, not the reporter.
  s = reduce(s, { type: "alert", payload: { kind: "report", id: "a2", user: sam, entry: { id: "m2", user: bea, text: "…" } }, at: 1200 });
  assert.deepEqual(roster(s, 1300).filter((m) => m.alert).map((m) => m.id), ["alex"]);
});

test("a removed member is listed under Removed, not as left", () => {
  let s = start();
  s = reduce(s, { type: "entry", entry: { room: "r1", offset: 1, kind: "removed", user_id: "alex", by: sam, ts: 900 }, live: true });
  s = presence(s, { left: alex, members: [sam] }, 1000);
  assert.deepEqual(view(s, 1500), ["sam:here"]);
});

test("comings and goings gathered into one event are each seen, in order", () => {
  let s = start();
  const cara = { id: "cara", name: "Cara", role: "member" };
  const dan = { id: "dan", name: "Dan", role: "member" };
  // Bea arrived, Alex left, Dan arrived and left again, Cara arrived: one event.
  s = presence(s, { left: dan, members: [sam, bea, cara], earlier: [{ joined: bea }, { left: alex }, { joined: dan }, { joined: cara }] }, 1000);
  assert.deepEqual(s.people.members.map((m) => m.id), ["sam", "bea", "cara"]);
  assert.deepEqual(view(s, 2000), ["sam:here", "bea:here+new", "cara:here+new", "alex:reconnecting", "dan:reconnecting"]);
  // Alex back within the grace, gathered with Bea leaving: a reconnect, not an arrival.
  s = presence(s, { left: bea, members: [sam, alex, cara], earlier: [{ joined: alex }] }, 3000);
  assert.deepEqual(view(s, 3500), ["sam:here", "alex:here", "cara:here+new", "bea:reconnecting", "dan:reconnecting"]);
  assert.equal(s.people.arrived.has("alex"), false);
});
