// Pure helpers for the huddle browser client: no DOM, no socket. Kept apart from app.js
// so they can be read (and tested with `node --test web/test/`) on their own.

export const MAX_TEXT = 2000;
export const CACHE_LIMIT = 200;

/** Room and token from the link's fragment: `#room=<id>&token=<JWT>`. */
export function parseFragment(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  return { room: params.get("room") || "", token: params.get("token") || "" };
}

/**
 * The claims of a JWT, read without verifying (the server verifies; the client only
 * wants its own user id and name). Returns {} when the token cannot be read.
 */
export function readClaims(token) {
  try {
    const part = String(token).split(".")[1];
    if (!part) return {};
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

/** A UUID v4; crypto.randomUUID only exists in secure contexts (https or localhost). */
export function newClientId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Local time as HH:MM (24 h) for a timestamp in ms since the epoch. */
export function formatTime(ms) {
  const d = new Date(typeof ms === "number" && Number.isFinite(ms) ? ms : Date.now());
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** A log entry is a room change when it has a `kind`, else it is a message. */
export function isRoomEvent(entry) {
  return entry != null && typeof entry === "object" && "kind" in entry;
}

export function hasOffset(entry) {
  return entry != null && Number.isInteger(entry.offset) && entry.offset > 0;
}

/**
 * One sentence (plain text, rendered with textContent) for a room change.
 * `nameOf(userId)` turns a user id into a display name.
 */
export function describeEvent(e, nameOf) {
  const by = (e.by && e.by.name) || "A facilitator";
  const targetId = e.user_id ?? (e.user && e.user.id);
  const target = (e.user && e.user.name) || e.name || (targetId ? nameOf(targetId) : "") || "A member";
  switch (e.kind) {
    case "pinned":
      return `${by} pinned a message.`;
    case "unpinned":
      return `${by} unpinned a message.`;
    case "muted":
      return Number.isFinite(e.until) && e.until > 0
        ? `${target} is muted until ${formatTime(e.until)}.`
        : `${target} is muted.`;
    case "unmuted":
      return `${target} can post again.`;
    case "locked":
      return e.locked ? "The room is locked: only facilitators can post." : "The room is open again.";
    case "paused":
      return e.paused ? "The room is paused for a moment." : "The room is no longer paused.";
    case "slow_mode":
      return e.slow_mode_s > 0
        ? `Slow mode is on: one message every ${e.slow_mode_s} s.`
        : "Slow mode is off.";
    case "removed":
      return `${target} was removed from the room.`;
    case "readmitted":
      return `${target} may rejoin the room.`;
    case "floor":
      return targetId ? `${target} has the floor.` : "Everyone may speak again.";
    default:
      return `Room update: ${String(e.kind)}.`;
  }
}

/** What the room state line says, or "" when there is nothing special. */
export function describeRoomState(state, now = Date.now()) {
  const parts = [];
  if (state.paused) parts.push("Paused");
  if (state.locked) parts.push("Locked: only facilitators can post");
  if (state.slow_mode_s > 0) parts.push(`Slow mode: one message every ${state.slow_mode_s} s`);
  if (state.floorName) parts.push(`${state.floorName} has the floor`);
  if (state.mutedUntil === null) parts.push("You are muted");
  else if (state.mutedUntil > now) parts.push(`You are muted until ${formatTime(state.mutedUntil)}`);
  return parts.join(" · ");
}

/** Who is typing, as one line. */
export function typingLine(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

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
      };
    } catch {
      return null;
    }
  }

  save({ epoch, offset, entries, outbox }) {
    const data = {
      epoch,
      offset,
      entries: entries.slice(-CACHE_LIMIT),
      outbox: outbox.map(({ client_id, text, ts }) => ({ client_id, text, ts })),
    };
    try {
      this.storage && this.storage.setItem(this.key, JSON.stringify(data));
    } catch {
      // Storage full or disabled: recovery then starts from a fresh page, which is fine.
    }
  }
}
