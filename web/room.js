// The room's state as the client folds it from logged room events: locked, paused, slow
// mode, who has the floor, the pinned messages, my own mute, and (what facilitators see)
// who is muted until when and who is removed. The server folds the same events in
// rooms/state.py and lua/append.lua; tests/fixtures/room_state_cases.json holds all of
// them to the same answers (web/test/room_state_cases.test.mjs). Pure.

import { applyModeration, isRoomEvent } from "./lib.js";
import { entryById } from "./timeline.js";

export function initialRoom() {
  return {
    flags: { locked: false, paused: false, slow_mode_s: 0, floor: null },
    pins: new Map(), // message id -> the pinned message entry, in pin order
    // My own mute: until 0 (not muted), null (until a facilitator unmutes), else ms since the epoch.
    mute: { until: 0, reason: "" },
    // Everyone's mutes and removals, from room events and the audit trail (facilitators show them).
    moderation: { mutes: new Map(), removed: new Map() },
  };
}

/** The room events that change who is muted or removed. */
export const MODERATION_KINDS = new Set(["muted", "unmuted", "removed", "readmitted"]);

/** The moderation view with `e` folded in (lib.js's fold, on copies: the old view stays). */
export function foldModeration(moderation, e) {
  const next = { mutes: new Map(moderation.mutes), removed: new Map(moderation.removed) };
  applyModeration(next, e);
  return next;
}

function targetOf(e) {
  return e.user_id ?? (e.user && e.user.id);
}

function withPin(pins, id, entry) {
  const next = new Map(pins);
  next.set(String(id), entry);
  return next;
}

function withoutPin(pins, id) {
  if (!pins.has(String(id))) return pins;
  const next = new Map(pins);
  next.delete(String(id));
  return next;
}

function applyRoomEvent(room, e, state) {
  const target = targetOf(e);
  const mine = target != null && target === state.self.id;
  let next = room;
  if (MODERATION_KINDS.has(e.kind)) next = { ...next, moderation: foldModeration(next.moderation, e) };
  switch (e.kind) {
    case "locked":
      return { ...next, flags: { ...next.flags, locked: Boolean(e.locked) } };
    case "paused":
      return { ...next, flags: { ...next.flags, paused: Boolean(e.paused) } };
    case "slow_mode":
      return { ...next, flags: { ...next.flags, slow_mode_s: Number(e.slow_mode_s) || 0 } };
    case "floor":
      return { ...next, flags: { ...next.flags, floor: target ?? null } };
    case "pinned": {
      const msg = e.entry || entryById(state.timeline.entries, e.id);
      return msg ? { ...next, pins: withPin(next.pins, e.id, msg) } : next;
    }
    case "unpinned":
    case "deleted":
      return { ...next, pins: withoutPin(next.pins, e.id) };
    case "cleared":
      return next.pins.size ? { ...next, pins: new Map() } : next;
    case "muted":
      return mine
        ? { ...next, mute: { until: Number.isFinite(e.until) ? e.until : null, reason: typeof e.reason === "string" ? e.reason : "" } }
        : next;
    case "unmuted":
      return mine ? { ...next, mute: { until: 0, reason: "" } } : next;
    default:
      return next;
  }
}

export function reduceRoom(room, event, state) {
  switch (event.type) {
    case "entry": {
      const e = event.entry;
      if (isRoomEvent(e)) return applyRoomEvent(room, e, state);
      // A pinned message shown again (a masked text, a repeat): the pin shows it as it is.
      return e.id != null && room.pins.has(String(e.id)) ? { ...room, pins: withPin(room.pins, e.id, e) } : room;
    }
    case "timeline_reset":
      return { ...room, pins: new Map() };
    case "joined": {
      const r = event.ack.room || {};
      const you = r.you || {};
      // `muted` says whether; `muted_until` says until when (null: until a facilitator unmutes).
      const muted = "muted" in you ? Boolean(you.muted) : you.muted_until != null && you.muted_until !== 0;
      const until = muted ? (Number.isFinite(you.muted_until) ? you.muted_until : null) : 0;
      let pins = room.pins;
      if (Array.isArray(r.pinned)) {
        pins = new Map();
        for (const m of r.pinned) if (m && m.id != null) pins.set(String(m.id), m);
      }
      return {
        ...room,
        flags: {
          locked: Boolean(r.locked),
          paused: Boolean(r.paused),
          slow_mode_s: Number(r.slow_mode_s) || 0,
          floor: r.floor ?? null,
        },
        pins,
        mute: { until, reason: muted ? room.mute.reason : "" },
      };
    }
    case "audit_loaded": {
      // The audit trail (newest first) is the record; live events since the request are newer.
      let moderation = { mutes: new Map(), removed: new Map() };
      for (const a of [...event.entries].reverse()) moderation = foldModeration(moderation, a);
      for (const e of event.since) moderation = foldModeration(moderation, e);
      return { ...room, moderation };
    }
    default:
      return room;
  }
}

/** Is my own mute in force at `now`? */
export function isMuted(room, now) {
  return room.mute.until === null || room.mute.until > now;
}
