// The store: server events in, what the page shows out. Each test feeds events as the
// session module hands them over (join ack, live entries, notices …) and checks what a
// member or facilitator would see: which lines are in the log, whether a repeat is shown
// twice, what became of their own held message, the room's state, the alert cards.
import assert from "node:assert/strict";
import { test } from "node:test";

import { nameOf } from "../people.js";
import { createStore, initialState, reduce } from "../store.js";
import { isNewEntry } from "../timeline.js";

const sam = { id: "sam", name: "Sam", role: "facilitator" };
const alex = { id: "alex", name: "Alex", role: "member" };
const bea = { id: "bea", name: "Bea", role: "member" };

const msg = (offset, user, text, extra = {}) => ({ room: "r1", id: `m${offset}`, offset, user, text, ts: 1000 + offset, ...extra });
const ev = (offset, kind, fields = {}) => ({ room: "r1", offset, kind, by: sam, ts: 1000 + offset, ...fields });

function joinAck({ entries = [], room = {}, ...rest } = {}) {
  return {
    ok: true,
    recovered: false,
    entries,
    room: { epoch: "e1", offset: entries.length ? entries[entries.length - 1].offset : 0, members: [alex, sam], ...room },
    ...rest,
  };
}

/** Run events through reduce, as the session dispatches them for a join ack. */
function joined(state, ack) {
  let s = reduce(state, { type: "timeline_reset" });
  for (const entry of ack.entries) s = reduce(s, { type: "entry", entry, live: false });
  return reduce(s, { type: "joined", ack, continues: false, at: 5000 });
}

function live(state, entry) {
  return isNewEntry(state.timeline, entry) ? reduce(state, { type: "entry", entry, live: true }) : state;
}

const messageTexts = (state) => state.timeline.entries.filter((e) => !("kind" in e)).map((e) => e.text);

test("a line already shown is not shown twice, whichever way it comes again", () => {
  let s = joined(initialState(alex), joinAck({ entries: [msg(1, sam, "Welcome"), msg(2, alex, "Hi")] }));
  assert.equal(s.timeline.lastOffset, 2);
  s = live(s, msg(2, alex, "Hi")); // the live echo of what the join ack had
  s = live(s, msg(3, sam, "How is everyone?"));
  s = live(s, msg(3, sam, "How is everyone?"));
  assert.deepEqual(messageTexts(s), ["Welcome", "Hi", "How is everyone?"]);
  assert.equal(s.timeline.lastOffset, 3);
});

test("my own message confirmed by its ack does not move the position: earlier lines may still come", () => {
  let s = joined(initialState(alex), joinAck({ entries: [msg(1, sam, "Welcome")] }));
  s = reduce(s, { type: "entry", entry: msg(5, alex, "mine", { client_id: "c1" }), live: false });
  assert.equal(s.timeline.lastOffset, 1);
  s = live(s, msg(3, bea, "sent before mine"));
  assert.deepEqual(messageTexts(s), ["Welcome", "sent before mine", "mine"]);
});

test("a fresh history page keeps my own unsent and held messages but not the old lines or pins", () => {
  let s = joined(initialState(alex), joinAck({ entries: [msg(1, sam, "old")], room: { pinned: [msg(1, sam, "old")] } }));
  s = reduce(s, { type: "own_state", item: { client_id: "c9", text: "not sent yet", ts: 9, state: "failed", reason: "muted" } });
  s = joined(s, joinAck({ entries: [msg(1, bea, "new epoch")], room: { epoch: "e2" } }));
  assert.deepEqual(messageTexts(s), ["new epoch"]);
  assert.equal(s.room.pins.size, 0);
  assert.equal(s.timeline.own.get("c9").label, "not sent");
  assert.equal(s.timeline.epoch, "e2");
});

test("a deleted message leaves its placeholder, loses its pin, and settles reports and other alerts about it", () => {
  let s = joined(initialState(sam), joinAck({ entries: [msg(1, alex, "regret"), msg(2, bea, "fine")], room: { you: sam } }));
  s = live(s, ev(3, "pinned", { id: "m1", entry: msg(1, alex, "regret") }));
  const report = { kind: "report", id: "a1", user: bea, entry: msg(1, alex, "regret") };
  const crisis = { kind: "crisis", id: "a2", user: alex, entry: msg(1, alex, "regret"), reason: "support lines" };
  s = reduce(s, { type: "alert", payload: report, at: 6000 });
  s = reduce(s, { type: "alert", payload: crisis, at: 6001 });
  s = reduce(s, { type: "alert", payload: { kind: "contact", id: "a3", user: alex, entry: msg(1, alex, "regret") }, at: 6002 });
  const before = s;
  s = live(s, ev(4, "deleted", { id: "m1" }));
  assert.deepEqual(messageTexts(s), ["fine"]);
  assert.deepEqual(s.timeline.entries[0], { kind: "message_removed", offset: 1, id: "m1" });
  assert.equal(s.room.pins.size, 0);
  assert.deepEqual(s.review.alerts.map((a) => a.kind), ["crisis"]); // the crisis card stays
  // The state before the event is untouched (subscribers compare the two).
  assert.equal(before.room.pins.size, 1);
  assert.equal(before.review.alerts.length, 3);
});

test("a cleared conversation leaves only the line that says so; my unsent words stay mine", () => {
  let s = joined(initialState(alex), joinAck({ entries: [msg(1, bea, "last week's news"), msg(2, alex, "hi")] }));
  s = live(s, ev(3, "pinned", { id: "m1", entry: msg(1, bea, "last week's news") }));
  s = reduce(s, { type: "own_state", item: { client_id: "c9", text: "typed offline", ts: 9, state: "failed", reason: "offline" } });
  s = live(s, ev(4, "cleared"));
  assert.deepEqual(messageTexts(s), []);
  assert.deepEqual(s.timeline.entries.map((e) => e.kind), ["cleared"]);
  assert.equal(s.room.pins.size, 0);
  assert.equal(s.timeline.own.get("c9").text, "typed offline");
  s = live(s, msg(5, bea, "a fresh start"));
  assert.deepEqual(messageTexts(s), ["a fresh start"]);
});

test("my held message: a review marks exactly that one, and the approved copy takes its place", () => {
  let s = joined(initialState(alex), joinAck());
  s = reduce(s, { type: "own_state", item: { client_id: "h1", text: "first", ts: 1, state: "held" } });
  s = reduce(s, { type: "own_state", item: { client_id: "h2", text: "second", ts: 2, state: "held" } });
  assert.equal(s.timeline.own.get("h1").label, "waiting for a facilitator to review it");
  s = reduce(s, { type: "notice", payload: { kind: "reviewed", client_id: "h2", approved: false, text: "…" } });
  assert.equal(s.timeline.own.get("h2").state, "not-shared");
  assert.equal(s.timeline.own.get("h2").label, "not shared with the group");
  assert.equal(s.timeline.own.get("h1").state, "held"); // the other one is still waiting
  s = reduce(s, { type: "notice", payload: { kind: "reviewed", client_id: "h1", approved: true, text: "…" } });
  assert.equal(s.timeline.own.get("h1").label, "shared with the group");
  s = live(s, msg(4, alex, "first", { client_id: "h1" }));
  assert.equal(s.timeline.own.has("h1"), false);
  assert.deepEqual(messageTexts(s), ["first"]);
});

test("a review made while I was away comes with the next join ack's held_status", () => {
  let s = joined(initialState(alex), joinAck());
  s = reduce(s, { type: "own_state", item: { client_id: "h1", text: "a", ts: 1, state: "held" } });
  s = reduce(s, { type: "own_state", item: { client_id: "h2", text: "b", ts: 2, state: "held" } });
  s = joined(s, joinAck({ held_status: { h1: "not_shared", h2: "waiting" } }));
  assert.equal(s.timeline.own.get("h1").label, "not shared with the group");
  assert.equal(s.timeline.own.get("h2").label, "waiting for a facilitator to review it");
});

test("my mute is mine: someone else's mute changes only the facilitators' view", () => {
  let s = joined(initialState(alex), joinAck());
  s = live(s, ev(1, "muted", { user_id: "bea", until: 9000 }));
  assert.deepEqual(s.room.mute, { until: 0, reason: "" });
  assert.equal(s.room.moderation.mutes.get("bea"), 9000);
  s = live(s, ev(2, "muted", { user_id: "alex", until: 8000, reason: "take a breath" }));
  assert.deepEqual(s.room.mute, { until: 8000, reason: "take a breath" });
  s = live(s, ev(3, "unmuted", { user_id: "alex" }));
  assert.deepEqual(s.room.mute, { until: 0, reason: "" });
  // The join ack says so too: muted until a facilitator unmutes.
  s = joined(s, joinAck({ room: { you: { id: "alex", muted: true, muted_until: null } } }));
  assert.equal(s.room.mute.until, null);
});

test("the length limit comes from the join ack, and is unknown (nothing blocked) before it", () => {
  let s = initialState(alex);
  assert.equal(s.self.maxMessageChars, null);
  s = joined(s, joinAck({ limits: { max_message_chars: 500 } }));
  assert.equal(s.self.maxMessageChars, 500);
  // A later ack without limits (an older worker) keeps what we know.
  s = joined(s, joinAck());
  assert.equal(s.self.maxMessageChars, 500);
});

test("the join ack's role makes the facilitator view; a member's store never holds alerts", () => {
  const alert = { kind: "flood", id: "a1", user: bea };
  let member = joined(initialState({ id: "bea", name: "Bea" }), joinAck());
  member = reduce(member, { type: "alert", payload: alert, at: 1 });
  assert.equal(member.review.alerts.length, 0);
  let facil = joined(initialState({ id: "sam", name: "Sam" }), joinAck({ room: { you: sam } }));
  assert.equal(facil.self.role, "facilitator");
  facil = reduce(facil, { type: "alert", payload: alert, at: 1 });
  assert.equal(facil.review.alerts.length, 1);
});

test("alerts: crisis first, one card per alert id, and the server's open list replaces the rest", () => {
  let s = joined(initialState(sam), joinAck({ room: { you: sam } }));
  const report = { kind: "report", id: "r1", user: bea, entry: msg(1, alex, "x") };
  const crisis = { kind: "crisis", id: "c1", user: alex, entry: msg(2, alex, "y") };
  s = reduce(s, { type: "alert", payload: report, at: 100 });
  s = reduce(s, { type: "alert", payload: crisis, at: 50 });
  s = reduce(s, { type: "alert", payload: report, at: 200 }); // a reconnect lists it again
  assert.deepEqual(s.review.alerts.map((a) => a.kind), ["crisis", "report"]);
  s = reduce(s, { type: "alert", payload: { kind: "dismissed", id: "c1", by: sam } });
  assert.deepEqual(s.review.alerts.map((a) => a.kind), ["report"]);
  // The next join ack: the report was dealt with elsewhere; a held message waits.
  const held = { ...msg(7, alex, "held text"), held_reason: "a link", kinds: ["crisis"], priority: true };
  s = joined(s, joinAck({ room: { you: sam }, alerts: [], held: [held] }));
  assert.deepEqual(s.review.alerts.map((a) => [a.kind, a.key, a.priority]), [["held", "held:m7", true]]);
  s = reduce(s, { type: "alert", payload: { kind: "reviewed", id: "m7", by: { id: "kim", name: "Kim" } } });
  assert.equal(s.review.alerts.length, 0);
});

test("who is here, whose hand is up, who is typing", () => {
  let s = joined(initialState(alex), joinAck({ room: { members: [alex], hands: [] } }));
  s = reduce(s, { type: "presence", payload: { joined: bea } });
  s = reduce(s, { type: "presence", payload: { joined: sam } });
  assert.deepEqual(s.people.members.map((m) => m.name), ["Sam", "Alex", "Bea"]); // facilitators first
  s = reduce(s, { type: "hand", payload: { hands: [bea, alex] } });
  assert.deepEqual(s.people.hands.map((u) => u.id), ["bea", "alex"]);
  s = reduce(s, { type: "typing", payload: { user: bea, active: true } });
  s = reduce(s, { type: "typing", payload: { user: alex, active: true } }); // my own echo: not shown
  assert.deepEqual([...s.people.typing.values()], ["Bea"]);
  s = reduce(s, { type: "presence", payload: { left: bea } });
  assert.equal(s.people.typing.size, 0);
  assert.equal(nameOf(s, "bea"), "Bea"); // gone, but still named in the log
  s = reduce(s, { type: "hand", payload: { cleared: true, by: sam } });
  assert.equal(s.people.hands.length, 0);
});

test("subscribers hear every event with the state before and after", () => {
  const store = createStore(initialState(alex));
  const heard = [];
  const stop = store.subscribe((state, event, previous) => heard.push([event.type, previous.people.members.length, state.people.members.length]));
  store.dispatch({ type: "presence", payload: { members: [alex, bea] } });
  store.dispatch({ type: "something nobody owns" });
  stop();
  store.dispatch({ type: "presence", payload: { members: [] } });
  assert.deepEqual(heard, [
    ["presence", 0, 2],
    ["something nobody owns", 2, 2],
  ]);
  // An event nobody owns leaves the state as it was: views can compare slices by identity.
  const s = store.getState();
  assert.equal(reduce(s, { type: "something nobody owns" }), s);
});

test("once stopped (refused or removed), the status line says so and later status events do not change it", () => {
  let s = reduce(initialState(alex), { type: "stopped", state: "removed", text: "You have been removed from this room." });
  s = reduce(s, { type: "status", state: "reconnecting", text: "reconnecting…" });
  assert.equal(s.self.status, "removed");
  assert.equal(s.self.stopped, true);
});

test("a refusal reads as words: the server's message, else the words for its code, never a bare code", async () => {
  const { errorText } = await import("../feedback.js");
  assert.equal(errorText({ code: "muted", message: "You are muted for 15 min more." }, "x"), "You are muted for 15 min more.");
  assert.equal(errorText({ code: "room_locked" }, "x"), "Only facilitators can post right now.");
  assert.equal(errorText({ code: "something_new" }, "The message was not sent."), "The message was not sent.");
});
