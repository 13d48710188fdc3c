// The outbox's pacing and retry rules, on a clock the test moves by hand. What a member
// would notice: their messages go one at a time and in order, none is lost or sent twice
// under a new id, a short rate limit or slow mode is waited out ("waiting N s to send…")
// instead of refused again and again, and what is still waiting survives a reload.
import assert from "node:assert/strict";
import { test } from "node:test";

import { RoomCache } from "../room-cache.js";
import { AUTO_WAIT_MAX_S, Outbox, RETRY_MS, SEND_SLACK_MS } from "../outbox.js";

class Clock {
  constructor(t = 1_800_000_000_000) {
    this.t = t;
  }
  now = () => this.t;
  advance(ms) {
    this.t += ms;
  }
}

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

function outboxWith(texts, clock = new Clock()) {
  const outbox = new Outbox({ now: clock.now });
  texts.forEach((text, i) => outbox.add({ client_id: `c${i + 1}`, text, ts: clock.t + i }));
  return { outbox, clock };
}

/** Send whatever may go now and return its text (or the step when nothing may go). */
function sendNext(outbox) {
  const step = outbox.next({ connected: true });
  if (step.action !== "send") return step;
  outbox.sending(step.item);
  return step.item;
}

test("messages go one at a time, in the order they were written", () => {
  const { outbox } = outboxWith(["first", "second", "third"]);
  const sent = [];
  for (let i = 0; i < 3; i += 1) {
    const item = sendNext(outbox);
    sent.push(item.text);
    // While one is in flight nothing else goes, however often we ask.
    assert.deepEqual(outbox.next({ connected: true }), { action: "idle" });
    outbox.settle(item.client_id);
  }
  assert.deepEqual(sent, ["first", "second", "third"]);
  assert.equal(outbox.size, 0);
});

test("nothing is sent before the join ack; the words wait as 'sending…'", () => {
  const { outbox } = outboxWith(["hello"]);
  assert.deepEqual(outbox.next({ connected: false }), { action: "offline", label: "sending…" });
  assert.equal(outbox.size, 1);
  assert.equal(sendNext(outbox).text, "hello");
});

test("no answer in time: the same message, same client_id, goes again after the retry delay", () => {
  const { outbox, clock } = outboxWith(["are you there?", "next"]);
  const item = sendNext(outbox);
  const firstAttempt = item.attempt;
  outbox.timedOut(item);
  const step = outbox.next({ connected: true });
  assert.equal(step.action, "wait");
  assert.equal(step.ms, RETRY_MS);
  assert.equal(step.label, "sending…"); // not the server's limit: no "waiting N s"
  clock.advance(RETRY_MS);
  const again = sendNext(outbox);
  assert.equal(again.client_id, "c1");
  assert.equal(again.text, "are you there?");
  // A late answer to the first attempt is recognised as superseded.
  assert.equal(outbox.isCurrent(again, firstAttempt), false);
  assert.equal(outbox.isCurrent(again, again.attempt), true);
});

test("a dropped connection frees the in-flight message to be sent again after the next join", () => {
  const { outbox } = outboxWith(["kept"]);
  const item = sendNext(outbox);
  outbox.disconnected();
  assert.equal(outbox.isCurrent(item, item.attempt), false);
  assert.equal(outbox.next({ connected: false }).action, "offline");
  const again = sendNext(outbox);
  assert.equal(again.client_id, item.client_id);
});

test("a short rate limit is waited out, then the backlog keeps that spacing until it is empty", () => {
  const { outbox, clock } = outboxWith(["one", "two", "three"]);
  const one = sendNext(outbox);
  assert.equal(outbox.refused(one, { code: "rate_limited", retry_after_s: 2 }), "retry");
  const wait = outbox.next({ connected: true });
  const gap = 2000 + SEND_SLACK_MS;
  assert.deepEqual(wait, { action: "wait", ms: gap, label: "waiting 3 s to send…" });
  clock.advance(gap - 1);
  assert.equal(outbox.next({ connected: true }).action, "wait"); // not a hair too early
  clock.advance(1);
  assert.equal(sendNext(outbox).text, "one"); // the refused message first, still in order
  outbox.settle("c1");
  // The next one keeps the spacing instead of coming straight back refused.
  const paced = outbox.next({ connected: true });
  assert.equal(paced.action, "wait");
  assert.equal(paced.ms, gap);
  assert.match(paced.label, /^waiting \d+ s to send…$/);
  clock.advance(gap);
  assert.equal(sendNext(outbox).text, "two");
  outbox.settle("c2");
  clock.advance(gap);
  assert.equal(sendNext(outbox).text, "three");
  outbox.settle("c3");
  // Empty: the spacing is over, a new message goes at once.
  outbox.add({ client_id: "c4", text: "later", ts: clock.t });
  assert.equal(sendNext(outbox).text, "later");
});

test("refused again while pacing: the spacing widens", () => {
  const { outbox, clock } = outboxWith(["one", "two"]);
  const gap = 1000 + SEND_SLACK_MS;
  outbox.refused(sendNext(outbox), { code: "rate_limited", retry_after_s: 1 });
  clock.advance(gap);
  outbox.refused(sendNext(outbox), { code: "rate_limited", retry_after_s: 1 });
  // Twice the spacing now, counted from the last attempt.
  assert.equal(outbox.next({ connected: true }).ms, 2 * gap);
  clock.advance(2 * gap);
  assert.equal(sendNext(outbox).text, "one");
  outbox.settle("c1");
  assert.equal(outbox.next({ connected: true }).ms, 2 * gap);
});

test("slow mode: the spacing is at least the room's interval, and ends when a facilitator turns it off", () => {
  const { outbox, clock } = outboxWith(["one", "two"]);
  outbox.refused(sendNext(outbox), { code: "slow_mode", retry_after_s: 4 }, { slowModeS: 30 });
  assert.deepEqual(outbox.next({ connected: true }), { action: "wait", ms: 30_000 + SEND_SLACK_MS, label: "waiting 31 s to send…" });
  clock.advance(30_000 + SEND_SLACK_MS);
  assert.equal(sendNext(outbox).text, "one");
  outbox.settle("c1");
  assert.equal(outbox.next({ connected: true }).ms, 30_000 + SEND_SLACK_MS);
  assert.equal(outbox.slowModeOff(), true);
  assert.equal(sendNext(outbox).text, "two"); // at once, not after the old gap
  assert.equal(outbox.slowModeOff(), false); // nothing was waiting any more
});

test("a refusal the member must act on takes that message out, and the next one goes", () => {
  const { outbox } = outboxWith(["while muted", "after"]);
  const first = sendNext(outbox);
  assert.equal(outbox.refused(first, { code: "muted", message: "You are muted for 15 min more." }), "fail");
  assert.equal(outbox.has("c1"), false);
  assert.equal(sendNext(outbox).text, "after");
});

test("a rate limit longer than the page waits by itself is a refusal, not an endless wait", () => {
  const { outbox } = outboxWith(["one"]);
  const item = sendNext(outbox);
  assert.equal(outbox.refused(item, { code: "rate_limited", retry_after_s: AUTO_WAIT_MAX_S + 1 }), "fail");
  assert.equal(outbox.size, 0);
});

test("a busy server is retried after what it says, at least the retry delay", () => {
  const { outbox } = outboxWith(["one"]);
  assert.equal(outbox.refused(sendNext(outbox), { code: "unavailable", retry_after_s: 10 }), "retry");
  assert.equal(outbox.next({ connected: true }).ms, 10_000);
  const other = outboxWith(["one"]).outbox;
  other.refused(sendNext(other), { code: "unavailable" });
  assert.equal(other.next({ connected: true }).ms, RETRY_MS);
});

test("membership lost: rejoin, and the message stays first", () => {
  const { outbox } = outboxWith(["one", "two"]);
  assert.equal(outbox.refused(sendNext(outbox), { code: "not_in_room" }), "rejoin");
  assert.equal(sendNext(outbox).text, "one");
});

test("an ack of any attempt, or my own live echo, settles a message exactly once", () => {
  const { outbox } = outboxWith(["once"]);
  const item = sendNext(outbox);
  assert.equal(outbox.settle(item.client_id), item);
  assert.equal(outbox.settle(item.client_id), null); // the echo after the ack changes nothing
});

test("waiting and failed messages survive a reload with their words, order and state", () => {
  const { outbox } = outboxWith(["still waiting 1", "still waiting 2"]);
  const storage = new MemoryStorage();
  const failed = { client_id: "f1", text: "refused one", ts: 5, state: "failed", reason: "You are muted." };
  new RoomCache(storage, "circle").save({ epoch: "e1", offset: 7, entries: [], outbox: outbox.snapshot(), own: [failed] });

  const saved = new RoomCache(storage, "circle").load();
  const reloaded = new Outbox({ now: () => 0 });
  for (const m of saved.outbox) reloaded.add(m);
  assert.deepEqual(
    reloaded.items.map((x) => [x.client_id, x.text]),
    [
      ["c1", "still waiting 1"],
      ["c2", "still waiting 2"],
    ],
  );
  assert.deepEqual(saved.own, [failed]);
  assert.equal(saved.offset, 7);
});
