// The outbox: my messages not acknowledged yet, and when each may go. Pure pacing and
// retry logic: no socket, no timers, no DOM. The clock is injected (`now()`, ms), so the
// same rules run in the page and in node tests. The page's sending.js asks `next()` what
// to do, does it, and reports back (`sending`, `settle`, `timedOut`, `refused`).
//
// The rules: one message in flight at a time, in order. No ack in time: the same message
// again (same client_id, the server answers a repeat like the first) after RETRY_MS. A
// short rate-limit or slow-mode refusal: wait what the server said, then keep at least
// that spacing (widened by each further refusal) until the outbox is empty, so a queue
// does not come back refused again and again and the member is not flagged for flooding.

export const RETRY_MS = 3_000; // retry delay while still connected
export const AUTO_WAIT_MAX_S = 30; // rate limit / slow mode waits up to this resend by themselves
export const SEND_SLACK_MS = 150; // added to a server-given wait, so we are not a hair too early

export class Outbox {
  constructor({ now = () => Date.now() } = {}) {
    this.now = now;
    this.items = []; // {client_id, text, ts, attempt}, oldest first
    this.inFlight = null; // the item whose ack we are waiting for
    this.holdUntil = 0; // nothing goes before this (ms)
    this.holdRate = false; // the wait is the server's rate limit or slow mode: say so
    this.paceMs = 0; // after a rate refusal: at least this long between sends
    this.lastSentAt = 0;
  }

  add({ client_id, text, ts }) {
    const item = { client_id, text, ts, attempt: 0 };
    this.items.push(item);
    return item;
  }

  has(clientId) {
    return this.items.some((item) => item.client_id === clientId);
  }

  get size() {
    return this.items.length;
  }

  /** What to keep across a reload: the words and their ids, in order. */
  snapshot() {
    return this.items.map(({ client_id, text, ts }) => ({ client_id, text, ts }));
  }

  /**
   * What to do now. `connected`: joined and connected (never send before the join ack).
   * {action: "idle"} nothing to send or one is in flight; {action: "offline"} wait for the
   * next join; {action: "wait", ms, label}; {action: "send", item}.
   */
  next({ connected }) {
    if (this.items.length === 0) {
      this.paceMs = 0;
      return { action: "idle" };
    }
    if (this.inFlight) return { action: "idle" };
    if (!connected) return { action: "offline", label: "sending…" };
    const now = this.now();
    const due = Math.max(this.holdUntil, this.paceMs > 0 ? this.lastSentAt + this.paceMs : 0);
    if (now < due) {
      const label = this.holdRate || this.paceMs > 0 ? `waiting ${Math.ceil((due - now) / 1000)} s to send…` : "sending…";
      return { action: "wait", ms: due - now, label };
    }
    this.holdRate = false;
    return { action: "send", item: this.items[0] };
  }

  /** The item goes out now; returns this attempt's number (to spot superseded answers). */
  sending(item) {
    item.attempt += 1;
    this.inFlight = item;
    this.lastSentAt = this.now();
    return item.attempt;
  }

  /** Is this the answer to the attempt we are waiting for? */
  isCurrent(item, attempt) {
    return this.inFlight === item && item.attempt === attempt;
  }

  /** An ack (any attempt's) or my own live echo settled it: out of the outbox. */
  settle(clientId) {
    const i = this.items.findIndex((item) => item.client_id === clientId);
    if (i < 0) return null;
    const [item] = this.items.splice(i, 1);
    if (this.inFlight === item) this.inFlight = null;
    if (this.items.length === 0) this.paceMs = 0;
    return item;
  }

  /** No answer in time: the same message again later (or after the next join). */
  timedOut(item) {
    if (this.inFlight === item) this.inFlight = null;
    this.hold(RETRY_MS);
  }

  /** The connection dropped: the in-flight ack may never come; the next join sends it again. */
  disconnected() {
    this.inFlight = null;
  }

  /**
   * The server refused the current attempt with `error` {code, retry_after_s}. Returns
   * "retry" (it stays first and goes when allowed), "rejoin" (membership lost: join, then
   * resend) or "fail" (out of the outbox: the member decides what to do with it).
   */
  refused(item, error, { slowModeS = 0 } = {}) {
    if (this.inFlight === item) this.inFlight = null;
    const code = error && error.code;
    const wait = Number(error && error.retry_after_s);
    if (code === "unavailable") {
      this.hold(Math.max(RETRY_MS, Number.isFinite(wait) ? wait * 1000 : 0));
      return "retry";
    }
    if ((code === "rate_limited" || code === "slow_mode") && wait > 0 && wait <= AUTO_WAIT_MAX_S) {
      const ms = wait * 1000 + SEND_SLACK_MS;
      this.hold(ms, { rate: true });
      const slow = code === "slow_mode" ? slowModeS * 1000 + SEND_SLACK_MS : 0;
      // Refused again while pacing: the spacing was too short, so widen it.
      this.paceMs = Math.max(this.paceMs > 0 ? this.paceMs + ms : ms, slow);
      return "retry";
    }
    if (code === "not_in_room") return "rejoin";
    this.settle(item.client_id);
    return "fail";
  }

  /**
   * A facilitator turned slow mode off: a message waiting out its slow-mode gap may go now
   * (if the rate limit was what held it, the server says so and it waits again). Returns
   * whether anything was waiting.
   */
  slowModeOff() {
    if (!(this.holdUntil > this.now() || this.paceMs > 0)) return false;
    this.holdUntil = 0;
    this.paceMs = 0;
    this.holdRate = false;
    return true;
  }

  /** Nothing will be sent any more (removed from the room). */
  clear() {
    this.items = [];
    this.inFlight = null;
  }

  hold(ms, { rate = false } = {}) {
    this.holdUntil = Math.max(this.holdUntil, this.now() + ms);
    this.holdRate = this.holdRate || rate;
  }
}
