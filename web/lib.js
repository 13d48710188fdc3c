// Pure helpers for the huddle browser client: no DOM, no socket, no state. Used by the
// store's slice owners and the views; tested with `npm test` in web/.

import { describeMeetingEvent } from "./meeting.js";

export const MAX_HELD_QUERY = 30; // own held messages a join asks about (the server's limit)

/** client_ids of own messages shown as held for review, the newest MAX_HELD_QUERY: `join {held}`. */
export function heldQuery(items) {
  return [...items]
    .filter((x) => x && x.state === "held" && typeof x.client_id === "string" && x.client_id !== "")
    .map((x) => x.client_id)
    .slice(-MAX_HELD_QUERY);
}

/**
 * The reviews in a join ack's `held_status` {client_id: "waiting" | "shared" | "not_shared"}
 * as [client_id, approved] pairs; "waiting" (and anything unknown) is left out.
 */
export function heldReviews(status) {
  if (!status || typeof status !== "object" || Array.isArray(status)) return [];
  return Object.entries(status)
    .filter(([, outcome]) => outcome === "shared" || outcome === "not_shared")
    .map(([clientId, outcome]) => [clientId, outcome === "shared"]);
}

/** Length as the server counts it: code points of the trimmed text (an emoji is one). */
export function textLength(text) {
  let n = 0;
  for (const _ of String(text || "").trim()) n += 1;
  return n;
}

/**
 * Where a draft stands against the limit `max` (the server's, from the join ack):
 * {length, over (characters too many, 0 when it fits), left, message} where `message` is
 * "" while far from the limit.
 */
export function lengthState(text, max) {
  const length = textLength(text);
  const over = Math.max(0, length - max);
  const left = Math.max(0, max - length);
  let message = "";
  if (over > 0) message = `Too long by ${over.toLocaleString("en")} character${over === 1 ? "" : "s"}: shorten it to send (at most ${max.toLocaleString("en")}).`;
  else if (left <= 200) message = `${left} character${left === 1 ? "" : "s"} left`;
  return { length, over, left, message };
}

/**
 * A refused connection (connect_error message from the server) in plain words. Codes we
 * have no better words for are passed through.
 */
export function refusalText(message) {
  const text = String(message || "").trim();
  if (/^unauthorized: token expired\b/i.test(text)) {
    return "This link has expired — ask your facilitator for a new one.";
  }
  if (/^unauthorized: token (malformed|missing)\b/i.test(text)) {
    return "This link doesn't work — check you copied all of it, or ask your facilitator for a new one.";
  }
  return text || "The server refused the connection.";
}

/**
 * Plain words for each error code the server sends (the list is rooms/codes.py;
 * tests/test_error_codes.py checks this copy covers it), for an error ack that comes
 * without a message of its own: a member never reads a bare code.
 */
export const ERROR_TEXT = Object.freeze({
  unauthorized: "Your link has expired or is not valid. Ask your facilitator for a new one.",
  forbidden: "You can't do that in this room.",
  not_in_room: "You're not in this room right now. Rejoin it and try again.",
  invalid_payload: "Something went wrong sending that. Please try again.",
  too_long: "That message is too long. Please shorten it or split it in two.",
  rate_limited: "You're sending messages quickly. Please wait a moment, then send again.",
  slow_mode: "Slow mode is on. Please wait a little before your next message.",
  muted: "A facilitator has muted you. You can still read along.",
  room_locked: "Only facilitators can post right now.",
  blocked: "That message can't be posted here.",
  duplicate: "You've just sent that message.",
  unavailable: "The chat is briefly unavailable. Please try again in a moment.",
  session_ended: "This session has ended. The room opens again at the next session.",
  agreement_required: "Please read and accept the group agreement before you post.",
  not_your_turn: "It's someone else's turn in the round. You can still react.",
  no_session: "That needs a session to be running.",
  not_reactable: "Reactions are off for that message.",
});

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

/** The one-line note where a fresh history page starts, by the join ack's `history`. */
export const HISTORY_GAP_TEXT = Object.freeze({
  lost: "Earlier messages from this session are no longer available.",
  trimmed: "Some messages from while you were away are no longer available.",
  rolled_back:
    "The server recovered from a fault and lost the last few messages. If you sent something just now, check it is here.",
});

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
        ? `Slow mode is on: one message every ${formatDuration(e.slow_mode_s)}.`
        : "Slow mode is off.";
    case "removed":
      return `${target} was removed from the room.`;
    case "readmitted":
      return `${target} may rejoin the room.`;
    case "floor":
      return targetId ? `${target} has the floor.` : "Everyone may speak again.";
    case "cleared":
      return `${by} cleared the conversation. What was said before is no longer kept.`;
    default:
      return describeMeetingEvent(e) ?? `Room update: ${String(e.kind)}.`;
  }
}

/** What the room state line says, or "" when there is nothing special. */
export function describeRoomState(state, now = Date.now()) {
  const parts = [];
  if (state.paused) parts.push("Paused");
  if (state.locked) parts.push("Locked: only facilitators can post");
  if (state.slow_mode_s > 0) parts.push(`Slow mode: one message every ${formatDuration(state.slow_mode_s)}`);
  if (state.floorIsYou) parts.push("You have the floor");
  else if (state.floorName) parts.push(`${state.floorName} has the floor`);
  if (state.mutedUntil === null) parts.push("You are muted");
  else if (state.mutedUntil > now) parts.push(`You are muted until ${formatTime(state.mutedUntil)}`);
  return parts.join(" · ");
}

/**
 * Why this person cannot post now, in the server's order (rooms/policy.py's post guard:
 * muted, paused, locked, an ended session, the group agreement not yet accepted, someone
 * else's turn in a round, someone else's floor), and what happens to a message typed
 * meanwhile; slow mode does not stop a post, it paces it. Facilitators may always post.
 * `session` is the meeting's status ("none", "live", "ended"), `agreed` whether I accepted
 * this session's agreement, `turn` whose turn it is in a round ("" when none).
 * Returns {rule, blocks, text} with rule "" and text "" when nothing stands in the way;
 * the rules are named as the server's (tests/fixtures/post_guard_cases.json).
 */
export function postingState(
  { role, muteUntil, paused, locked, floor, floorName, selfId, slowModeS, session = "none", agreed = true, turn = "", turnName = "" },
  now = Date.now(),
) {
  const none = { rule: "", blocks: false, text: "" };
  if (role === "facilitator") return none;
  const keep = "You can keep writing: your message stays here";
  if (muteUntil === null || muteUntil > now) {
    // The mute itself (until when, their note) is said just above, in #mute-state.
    return { rule: "muted", blocks: true, text: "Your draft stays here until then." };
  }
  if (paused) return { rule: "paused", blocks: true, text: `The room is paused for a moment. ${keep} until it resumes.` };
  if (locked) return { rule: "locked", blocks: true, text: `The room is locked: only facilitators can post. ${keep} until it opens again.` };
  if (session === "ended") {
    return { rule: "ended", blocks: true, text: "This session has ended: the room opens again at the next session. Your draft stays here." };
  }
  if (session === "live" && !agreed) {
    return { rule: "agreement", blocks: true, text: "Send waits until you accept the group agreement above. Your draft stays here." };
  }
  if (turn && turn !== selfId) {
    const who = turnName ? `${turnName}'s` : "someone else's";
    return { rule: "turn", blocks: true, text: `It's ${who} turn in the round. Your draft stays here until your turn or the round ends.` };
  }
  if (floor != null && floor !== selfId) {
    const who = floorName || "Someone else";
    return { rule: "floor", blocks: true, text: `${who} has the floor. ${keep} until everyone may speak again.` };
  }
  if (slowModeS > 0) {
    return {
      rule: "slow_mode",
      blocks: false,
      text: `Slow mode: one message every ${formatDuration(slowModeS)}. A message you send sooner waits its turn and goes out by itself.`,
    };
  }
  return none;
}

/** A span of seconds for people: "45 s", "15 min", "2 h", "1 h 30 min". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  const rest = min % 60;
  return rest ? `${h} h ${rest} min` : `${h} h`;
}

/** How long a mute has left, for people: "15 min", "less than a minute", or "" when over. */
export function muteLeft(until, now = Date.now()) {
  if (until === null) return "";
  const left = (until - now) / 1000;
  if (!(left > 0)) return "";
  if (left < 60) return "less than a minute";
  return formatDuration(Math.ceil(left / 60) * 60);
}

/**
 * What a muted member is told about their own mute, or "" when not muted.
 * `until`: ms since the epoch, null for "until a facilitator unmutes you", 0 for not muted.
 */
export function describeOwnMute(until, reason = "", now = Date.now()) {
  let text;
  if (until === null) {
    text = "A facilitator has muted you for now. You can keep reading along, and they can unmute you.";
  } else if (until > now) {
    text = `A facilitator has muted you until ${formatTime(until)} (${muteLeft(until, now)} left). You can keep reading along.`;
  } else {
    return "";
  }
  const why = String(reason || "").trim();
  return why ? `${text} Their note: ${why}` : text;
}

/**
 * Fold one moderation change into the facilitator's view of members: who is muted until
 * when, and who was removed. Takes logged room events (`kind`, `until`) and audit entries
 * (`action`, `duration_s`, `ts`) alike. `state`: {mutes: Map(id -> until|null), removed:
 * Map(id -> user)}.
 */
export function applyModeration(state, e) {
  if (!e || typeof e !== "object") return;
  const kind = e.kind || e.action;
  const id = e.user_id ?? (e.user && e.user.id);
  if (id == null) return;
  const key = String(id);
  switch (kind) {
    case "muted": {
      let until = null;
      if (Number.isFinite(e.until)) until = e.until;
      else if (e.until === undefined && Number.isFinite(e.duration_s) && Number.isFinite(e.ts)) {
        until = e.ts + e.duration_s * 1000;
      }
      state.mutes.set(key, until);
      break;
    }
    case "unmuted":
      state.mutes.delete(key);
      break;
    case "removed":
      state.removed.set(key, e.user && e.user.id != null ? e.user : { id: key, name: "" });
      break;
    case "readmitted":
      state.removed.delete(key);
      break;
    default:
      break;
  }
}

/** Is this member muted now, per the facilitator's view? Returns the until (null: open-ended) or 0. */
export function mutedUntilOf(mutes, userId, now = Date.now()) {
  if (!mutes.has(String(userId))) return 0;
  const until = mutes.get(String(userId));
  if (until !== null && until <= now) return 0;
  return until;
}

/** Who is typing, as one line. */
export function typingLine(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

/** A polite announcement of arrivals: one, two or three names, else two and a count. */
export function arrivalLine(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} joined the room.`;
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} joined the room.`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others joined the room.`;
}

// How long to wait before asking again after the server said "busy" (`unavailable`,
// `rate_limited`): what it asked for (`retry_after_s`), or `fallbackMs` when it asked
// nothing usable, spread by up to half again at random, so that members a dying worker
// sent back all at once do not all come back at the same moment. A request shorter than
// RETRY_MIN_MS or longer than RETRY_MAX_MS is held to those bounds.
export const RETRY_MIN_MS = 200;
export const RETRY_MAX_MS = 60_000;

export function retryDelay(error, fallbackMs, random = Math.random) {
  const asked = Number(error && error.retry_after_s) * 1000;
  const base =
    Number.isFinite(asked) && asked > 0 ? Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, asked)) : fallbackMs;
  return Math.round(base * (1 + 0.5 * random()));
}
