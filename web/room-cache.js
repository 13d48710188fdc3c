// The per-room position and recent entries a reload needs (sessionStorage): what the page
// keeps of a room between loads, and how much of it.

export const CACHE_LIMIT = 200;
export const ALERT_CACHE_LIMIT = 50;
export const OWN_CACHE_LIMIT = 30; // own held / not-shared / failed messages kept across a reload

/**
 * The per-room position and recent entries, kept in sessionStorage so a reload can
 * rejoin with `since` and still show what was on screen.
 */
export class RoomCache {
  constructor(storage, room) {
    this.storage = storage;
    this.key = `huddle:v1:room:${room}`;
  }

  load() {
    try {
      const raw = this.storage && this.storage.getItem(this.key);
      if (!raw) return null;
      const data = JSON.parse(raw);
      if (!data || typeof data !== "object") return null;
      return {
        epoch: typeof data.epoch === "string" ? data.epoch : null,
        offset: Number.isInteger(data.offset) ? data.offset : 0,
        entries: Array.isArray(data.entries) ? data.entries.filter((e) => e && typeof e === "object") : [],
        outbox: Array.isArray(data.outbox)
          ? data.outbox.filter((m) => m && typeof m.client_id === "string" && typeof m.text === "string")
          : [],
        alerts: Array.isArray(data.alerts)
          ? data.alerts.filter((a) => a && typeof a === "object" && typeof a.kind === "string")
          : [],
        own: Array.isArray(data.own)
          ? data.own.filter(
              (m) =>
                m &&
                typeof m.client_id === "string" &&
                typeof m.text === "string" &&
                ["held", "not-shared", "failed"].includes(m.state),
            )
          : [],
      };
    } catch {
      return null;
    }
  }

  save({ epoch, offset, entries, outbox, alerts = [], own = [] }) {
    const data = {
      epoch,
      offset,
      entries: entries.slice(-CACHE_LIMIT),
      outbox: outbox.map(({ client_id, text, ts }) => ({ client_id, text, ts })),
      // Own messages held for review, not shared, or refused ("not sent"): the server
      // does not list them for us, so a reload would lose them.
      own: own
        .slice(-OWN_CACHE_LIMIT)
        .map(({ client_id, text, ts, state, reason }) => ({ client_id, text, ts, state, reason: reason || "" })),
      // A facilitator's open alerts: they are not logged, so a reload would lose them.
      alerts: alerts.slice(0, ALERT_CACHE_LIMIT),
    };
    try {
      this.storage && this.storage.setItem(this.key, JSON.stringify(data));
    } catch {
      // Storage full or disabled: recovery then starts from a fresh page, which is fine.
    }
  }

  /** The facilitator's note when this person was removed: kept so a reload still shows it. */
  saveRemoved(reason) {
    try {
      this.storage && this.storage.setItem(`${this.key}:removed`, JSON.stringify({ reason: String(reason || "") }));
    } catch {
      // not kept: the page then shows the note without their words
    }
  }

  loadRemoved() {
    try {
      const raw = this.storage && this.storage.getItem(`${this.key}:removed`);
      const data = raw ? JSON.parse(raw) : null;
      return data && typeof data.reason === "string" ? data.reason : null;
    } catch {
      return null;
    }
  }

  clearRemoved() {
    try {
      this.storage && this.storage.removeItem(`${this.key}:removed`);
    } catch {
      // nothing to forget
    }
  }
}
