// The log as this tab knows it: where we are in the room's log (epoch and last offset),
// the entries shown (messages and room changes, in offset order, kept across a reload),
// and my own messages that have no place in the log (held for review, not shared, not
// sent). Pure: the reducer returns a new slice and never touches the one it was given.

import { hasOffset, heldReviews, isRoomEvent } from "./lib.js";

export const OWN_STATE_TEXT = {
  held: "waiting for a facilitator to review it",
  "not-shared": "not shared with the group",
  failed: "not sent",
};

export function initialTimeline() {
  return {
    epoch: null, // the room log's epoch we are positioned in
    lastOffset: 0, // highest offset seen in that epoch
    entries: [],
    // client_id -> {client_id, text, ts, state: "held" | "not-shared" | "failed", reason, label}
    own: new Map(),
    // Why the shown history starts afresh: "lost" (the room's earlier history is gone, e.g.
    // the server lost its store), "trimmed" (away longer than the history kept) or
    // "rolled_back" (the server's store lost its last few messages in a failover); null.
    gap: null,
  };
}

const GAPS = new Set(["lost", "trimmed", "rolled_back"]);

/** The join ack's `history`, as the timeline keeps it: "lost", "trimmed", "rolled_back" or null. */
export function historyGap(history) {
  return typeof history === "string" && GAPS.has(history) ? history : null;
}

/** Is a live entry news to us? An entry at or below the last offset was shown already. */
export function isNewEntry(timeline, entry) {
  return !hasOffset(entry) || entry.offset > timeline.lastOffset;
}

export function entryById(entries, id) {
  const key = String(id);
  return entries.find((e) => !isRoomEvent(e) && String(e.id) === key) || null;
}

/** `entries` with `entry` put at its offset (replacing one at the same offset). */
export function upsertEntry(entries, entry) {
  if (!hasOffset(entry)) return entries;
  const next = [...entries];
  let i = next.length - 1;
  while (i >= 0 && next[i].offset > entry.offset) i -= 1;
  if (i >= 0 && next[i].offset === entry.offset) next[i] = entry;
  else next.splice(i + 1, 0, entry);
  return next;
}

/** A deleted message leaves a placeholder entry, so its line survives a reload. */
function deleteMessage(entries, id) {
  const key = String(id);
  const gone = entryById(entries, key);
  const rest = entries.filter((e) => isRoomEvent(e) || String(e.id) !== key);
  return gone && hasOffset(gone) ? upsertEntry(rest, { kind: "message_removed", offset: gone.offset, id: key }) : rest;
}

function withOwn(own, item) {
  const next = new Map(own);
  next.set(item.client_id, item);
  return next;
}

function withoutOwn(own, clientId) {
  if (!own.has(clientId)) return own;
  const next = new Map(own);
  next.delete(clientId);
  return next;
}

/** A facilitator reviewed my held message: approved stays "held" until its log copy arrives. */
function reviewed(own, clientId, approved) {
  const item = own.get(clientId);
  if (!item || item.state !== "held") return own;
  return approved
    ? withOwn(own, { ...item, label: "shared with the group" })
    : withOwn(own, { ...item, state: "not-shared", label: OWN_STATE_TEXT["not-shared"] });
}

function ownFromMessage(timeline, m, state) {
  // My own message (same client_id) reached the log: it takes its placeholder's place.
  if (!m.client_id || !state.self.id || !m.user || m.user.id !== state.self.id) return timeline.own;
  return withoutOwn(timeline.own, m.client_id);
}

export function reduceTimeline(timeline, event, state) {
  switch (event.type) {
    case "position_restored":
      return { ...timeline, epoch: event.epoch, lastOffset: event.epoch ? event.offset : 0 };
    case "timeline_reset":
      // A fresh history page follows; my own unlogged messages stay.
      return { ...timeline, entries: [], lastOffset: 0, gap: historyGap(event.history) };
    case "entry": {
      const e = event.entry;
      let next = timeline;
      if (event.live && hasOffset(e)) {
        next = { ...next, lastOffset: e.offset, epoch: typeof e.epoch === "string" ? e.epoch : next.epoch };
      }
      if (!isRoomEvent(e)) {
        return { ...next, entries: upsertEntry(next.entries, e), own: ownFromMessage(next, e, state) };
      }
      // The deletion itself is not kept: the placeholder in the message's place says it.
      if (e.kind === "deleted") return { ...next, entries: deleteMessage(next.entries, e.id) };
      // A facilitator purged the conversation: nothing before it stays on screen either.
      if (e.kind === "cleared") return { ...next, entries: [e] };
      return { ...next, entries: upsertEntry(next.entries, e) };
    }
    case "joined": {
      const r = event.ack.room || {};
      const list = Array.isArray(event.ack.entries) ? event.ack.entries : [];
      const newest = list.reduce((max, e) => (hasOffset(e) ? Math.max(max, e.offset) : max), 0);
      const own = heldReviews(event.ack.held_status).reduce(
        (acc, [clientId, approved]) => reviewed(acc, clientId, approved),
        timeline.own,
      );
      return {
        ...timeline,
        epoch: typeof r.epoch === "string" ? r.epoch : timeline.epoch,
        lastOffset: Math.max(Number.isInteger(r.offset) ? r.offset : 0, newest, event.continues ? timeline.lastOffset : 0),
        own,
      };
    }
    case "notice": {
      const p = event.payload;
      if (p.kind !== "reviewed" || typeof p.approved !== "boolean") return timeline;
      // The review names the message: mark exactly that one.
      let clientId = p.client_id != null ? String(p.client_id) : null;
      if ((clientId === null || !timeline.own.has(clientId)) && p.id != null) {
        const byId = [...timeline.own.values()].find((x) => x.id != null && String(x.id) === String(p.id));
        if (byId) clientId = byId.client_id;
      }
      return clientId === null ? timeline : { ...timeline, own: reviewed(timeline.own, clientId, p.approved) };
    }
    case "own_state": {
      const item = event.item;
      const label = event.label || OWN_STATE_TEXT[item.state];
      return { ...timeline, own: withOwn(timeline.own, { ...item, reason: item.reason || "", label }) };
    }
    case "own_forgotten":
      return { ...timeline, own: withoutOwn(timeline.own, event.client_id) };
    case "removed_from_room":
      return { ...timeline, own: new Map() };
    default:
      return timeline;
  }
}
