// What facilitators review: the open alerts (crisis first, then held messages, then
// reports, then the rest; one card per thing) and the audit trail. Only a facilitator's
// state ever holds alerts. Pure: "now" comes with the event (`at`, ms since the epoch).

import { isRoomEvent } from "./lib.js";
import { alertKey, sortAlerts } from "./review-text.js";

export const MAX_ALERTS = 30;

export function initialReview() {
  return {
    alerts: [], // {id, kind, user, entry, reason, priority, kinds, ts, received, key}
    audit: [], // newest first, as the server returns it
    auditLoaded: false,
  };
}

/** An alert payload (live, from the join ack or the cache) as a card's data. */
export function alertItem(a, now) {
  const item = {
    id: a.id != null && a.kind !== "held" ? String(a.id) : null,
    kind: String(a.kind || "alert"),
    user: a.user || null,
    entry: a.entry || null,
    reason: typeof a.reason === "string" ? a.reason : "",
    priority: a.priority === true,
    kinds: Array.isArray(a.kinds) ? a.kinds.map(String) : [],
    ts: Number.isFinite(a.ts) ? a.ts : null,
    received: Number.isFinite(a.received) ? a.received : Number.isFinite(a.ts) ? a.ts : now,
  };
  item.key = alertKey(item);
  return item;
}

function addAlert(alerts, a, now) {
  const item = alertItem(a, now);
  const i = alerts.findIndex((x) => x.key === item.key);
  const next = [...alerts];
  if (i >= 0) next[i] = { ...item, received: alerts[i].received };
  else next.push(item);
  return sortAlerts(next).slice(0, MAX_ALERTS);
}

/**
 * The join ack lists the messages still held (`held`) and, from servers that keep them,
 * the open alerts (`alerts`, oldest first): together they replace what this tab had.
 */
export function joinAlerts(alerts, list, open, now) {
  const held = (Array.isArray(list) ? list : []).filter((e) => e && e.id != null);
  const ids = new Set(held.map((e) => String(e.id)));
  const heldCards = new Map(alerts.filter((a) => a.kind === "held").map((a) => [a.key, a]));
  let next = alerts.filter((a) => a.kind !== "held" || (a.entry && ids.has(String(a.entry.id))));
  if (Array.isArray(open)) {
    // The server is the record: cards it no longer has were dealt with elsewhere.
    const fresh = open.filter((a) => a && typeof a === "object" && a.kind !== "held").map((a) => alertItem(a, now));
    next = next.filter((a) => a.kind === "held");
    for (const item of fresh) if (!next.some((x) => x.key === item.key)) next.push(item);
  }
  for (const entry of held) {
    // A held card we already have (from the live alert) keeps its other concerns.
    const old = heldCards.get(`held:${entry.id}`);
    if (old && !next.includes(old)) next.push(old);
  }
  for (const entry of held) {
    const key = `held:${entry.id}`;
    if (!next.some((a) => a.key === key)) {
      next.push({
        id: null,
        kind: "held",
        user: entry.user || null,
        entry,
        reason: entry.held_reason || "",
        priority: entry.priority === true,
        kinds: Array.isArray(entry.kinds) ? entry.kinds.map(String) : [],
        ts: null,
        received: Number.isFinite(entry.ts) ? entry.ts : now,
        key,
      });
    }
  }
  return sortAlerts(next).slice(0, MAX_ALERTS);
}

function drop(review, test) {
  const alerts = review.alerts.filter((a) => !test(a));
  return alerts.length === review.alerts.length ? review : { ...review, alerts };
}

export function reduceReview(review, event, state) {
  const facilitator = state.self.role === "facilitator";
  const now = Number.isFinite(event.at) ? event.at : Date.now();
  switch (event.type) {
    case "alert": {
      const a = event.payload;
      if (!facilitator || !a || typeof a !== "object") return review;
      // A facilitator marked it done (or the server settled it, e.g. the message was deleted).
      if (a.kind === "dismissed") return drop(review, (x) => x.id != null && String(x.id) === String(a.id));
      // Another facilitator reviewed a held message: it leaves this panel.
      if (a.kind === "reviewed") return drop(review, (x) => x.kind === "held" && x.entry && String(x.entry.id) === String(a.id));
      return { ...review, alerts: addAlert(review.alerts, a, now) };
    }
    case "alert_closed":
      return drop(review, (x) => x.key === event.key);
    case "joined": {
      const you = (event.ack.room && event.ack.room.you) || {};
      if ((you.role || state.self.role) !== "facilitator") return review;
      return { ...review, alerts: joinAlerts(review.alerts, event.ack.held, event.ack.alerts, now) };
    }
    case "entry": {
      const e = event.entry;
      if (!isRoomEvent(e) || e.kind !== "deleted") return review;
      // Alerts about a deleted message are settled (reports, contact details …); a
      // crisis stays, since its author may still need someone to check in.
      return drop(
        review,
        (a) => a.kind !== "crisis" && a.kind !== "held" && !a.priority && a.entry && String(a.entry.id) === String(e.id),
      );
    }
    case "audit_loaded":
      return { ...review, audit: event.entries, auditLoaded: true };
    default:
      return review;
  }
}
