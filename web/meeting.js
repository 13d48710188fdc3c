// The meeting as the client holds it: the session, its phase, the round, quiet statuses,
// the session's wins, support reactions, and whether I accepted this session's group
// agreement. The server works the meeting out (rooms/meeting.py) and every meeting event
// carries it whole (`meeting`), so this slice only keeps the latest; reactions and
// agreements are folded one by one, as rooms/state.py folds them.
// tests/fixtures/room_state_cases.json holds this fold to the server's answers
// (web/test/meeting_cases.test.mjs). Pure: no DOM.

/** Room events that change the meeting (each carries `meeting`: the meeting after it). */
export const MEETING_KINDS = new Set([
  "session_started",
  "session_ended",
  "phase",
  "time_notice",
  "agenda",
  "guidelines",
  "round_started",
  "turn",
  "round_ended",
  "status",
  "win",
  "history",
]);

/** Room events the conversation does not draw as a line (shown in the meeting panel). */
export const QUIET_KINDS = new Set(["reaction", "agreed", "status", "agenda", "guidelines", "win", "checkin", "reactions_off"]);

export const REACTIONS = Object.freeze([
  // Short words (and a heart every font has) rather than emoji, which some systems draw
  // as empty boxes and screen readers read out at length.
  { id: "heart", emoji: "♥", label: "Sending love" },
  { id: "me_too", emoji: "Me too", label: "Me too" },
  { id: "celebrate", emoji: "Yay!", label: "Celebrate" },
  { id: "hug", emoji: "Hug", label: "Hug" },
]);

/** A room's history setting (rooms/meeting.py HISTORY). */
export const HISTORY = Object.freeze({
  kept: "Kept between sessions (until a week with no message)",
  each_session: "Cleared when each session starts",
});

export const STATUSES = Object.freeze({
  away: "Stepping away",
  flare: "In a flare, listening",
  moment: "Needs a moment",
});

export function emptyMeeting() {
  return {
    session_id: "",
    status: "none",
    agenda: [],
    phase: -1,
    phase_ends_ms: 0,
    ends_ms: 0,
    warned: false,
    guidelines: "",
    round: null,
    turn: "",
    statuses: {},
    wins: [],
  };
}

export function initialMeeting() {
  return {
    meeting: emptyMeeting(),
    // message id -> reaction -> [user id] (sorted)
    reactions: new Map(),
    // the session whose agreement I accepted ("" for none)
    agreed: "",
    // private check-ins: the members with one open, and each thread's messages by offset
    checkins: new Set(),
    threads: new Map(), // member id -> [message] in offset order
  };
}

/** One person's reaction added or taken away, on a copy (the old Map stays as it was). */
export function foldReaction(reactions, e) {
  const id = String(e.id);
  const next = new Map(reactions);
  const kinds = { ...(next.get(id) || {}) };
  const who = new Set(kinds[e.reaction] || []);
  if (e.on) who.add(String(e.user_id));
  else who.delete(String(e.user_id));
  if (who.size) kinds[e.reaction] = [...who].sort();
  else delete kinds[e.reaction];
  if (Object.keys(kinds).length) next.set(id, kinds);
  else next.delete(id);
  return next;
}

function reactionsFrom(raw) {
  const out = new Map();
  if (raw && typeof raw === "object") {
    for (const [id, kinds] of Object.entries(raw)) if (kinds && typeof kinds === "object") out.set(String(id), { ...kinds });
  }
  return out;
}

export function reduceMeeting(slice, event, state) {
  switch (event.type) {
    case "joined": {
      const r = event.ack.room || {};
      const meeting = r.meeting && typeof r.meeting === "object" ? r.meeting : emptyMeeting();
      const agreed = r.you && r.you.agreed ? String(meeting.session_id) : "";
      let checkins = new Set();
      if (Array.isArray(event.ack.checkins)) checkins = new Set(event.ack.checkins.map(String));
      else if (r.you && r.you.checkin && state) checkins = new Set([state.self.id]);
      return { ...slice, meeting, reactions: reactionsFrom(r.reactions), agreed, checkins };
    }
    case "entry": {
      const e = event.entry;
      if (e && typeof e.thread === "string" && typeof e.kind !== "string") return { ...slice, threads: withThreadMessage(slice.threads, e) };
      if (!e || typeof e.kind !== "string") return slice;
      if (e.kind === "checkin") {
        const checkins = new Set(slice.checkins);
        if (e.on) checkins.add(String(e.user_id));
        else checkins.delete(String(e.user_id));
        return { ...slice, checkins };
      }
      if (MEETING_KINDS.has(e.kind) && e.meeting && typeof e.meeting === "object") {
        return { ...slice, meeting: e.meeting };
      }
      if (e.kind === "agreed" && state && String(e.user_id) === state.self.id) {
        return { ...slice, agreed: String(e.session_id) };
      }
      if (e.kind === "reaction") return { ...slice, reactions: foldReaction(slice.reactions, e) };
      if (e.kind === "cleared") return slice.reactions.size ? { ...slice, reactions: new Map() } : slice;
      return slice;
    }
    default:
      return slice;
  }
}

/** A private check-in's message added to its thread (once, in offset order), on a copy. */
export function withThreadMessage(threads, m) {
  const id = String(m.thread);
  const list = threads.get(id) || [];
  if (list.some((x) => x.offset === m.offset)) return threads;
  const next = new Map(threads);
  next.set(id, [...list, m].sort((a, b) => a.offset - b.offset));
  return next;
}

/** Whether I still have to accept the group agreement before posting. */
export function needsAgreement(slice, role) {
  const m = slice.meeting;
  return role !== "facilitator" && m.status === "live" && slice.agreed !== m.session_id;
}

/** The current phase ({name, prompt, length_s}) or null. */
export function currentPhase(m) {
  return m.status === "live" && m.phase >= 0 ? m.agenda[m.phase] || null : null;
}

/** Who speaks after the current speaker ({id, name} or null). */
export function upNext(m) {
  const r = m.round;
  if (!r || r.over) return null;
  for (const s of r.order.slice(r.index + 1)) if (!(s.id in r.outcomes)) return s;
  return null;
}

/**
 * The per-share times a facilitator picks from, in seconds (0: no limit): 30 s steps up to
 * 5 minutes, as groups' shares mostly run, then a few longer ones. The server takes any
 * whole number of seconds up to 30 minutes (docs/protocol.md, round_start).
 */
export const SHARE_TIMES = Object.freeze([30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 420, 600, 900, 1200, 1800, 0]);

/** A share's time for people: "30 s", "1 min", "1 min 30 s", "No limit". */
export function shareLabel(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s === 0) return "No limit";
  const min = Math.floor(s / 60);
  const rest = s % 60;
  if (!min) return `${rest} s`;
  return rest ? `${min} min ${rest} s` : `${min} min`;
}

/** "4:05" for a number of milliseconds (never below 0:00). */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

const OUTCOME = { done: "finished", passed: "passed", timed_out: "ran out of time", left: "left", joined: "joined the round" };

/** The line the conversation shows for a meeting event, or null for another kind. */
export function describeMeetingEvent(e) {
  const m = e.meeting || emptyMeeting();
  const by = (e.by && e.by.name) || "A facilitator";
  switch (e.kind) {
    case "session_started": {
      const p = currentPhase(m);
      return `${by} started the session${p ? `: ${p.name}` : ""}.`;
    }
    case "session_ended":
      return e.reason === "time" ? "The session has ended on time. Thank you for being here." : "The session has ended. Thank you for being here.";
    case "phase": {
      const p = currentPhase(m);
      return p ? `Now: ${p.name}${p.prompt ? ` — ${p.prompt}` : ""}` : "The session moved on.";
    }
    case "time_notice":
      return "5 minutes left in this session.";
    case "round_started": {
      const names = (m.round ? m.round.order : []).map((s) => s.name);
      return `${m.round ? m.round.name : "A"} round${m.round && m.round.shuffled ? " (shuffled)" : ""}: ${names.join(", then ")}.`;
    }
    case "turn": {
      const who = e.user_id && m.round ? (m.round.order.find((s) => s.id === e.user_id) || {}).name : (e.by && e.by.name);
      const what = OUTCOME[e.reason] || "finished";
      const next = m.round && !m.round.over ? m.round.order[m.round.index] : null;
      const first = who && e.reason !== "timed_out" ? `${who} ${what}.` : e.reason === "timed_out" ? "Time is up for that share." : "";
      return `${first} ${next ? `${next.name}'s turn.` : "The round is complete."}`.trim();
    }
    case "round_ended":
      return "The round has ended.";
    case "history":
      return m.history === "each_session"
        ? `${by} set the conversation to be cleared when each session starts.`
        : `${by} set the conversation to be kept between sessions (until a week with no message).`;
    default:
      return null;
  }
}

/** The agenda as a facilitator edits it: "name | minutes | prompt", one phase a line. */
export function formatAgenda(agenda) {
  return (agenda || []).map((p) => `${p.name} | ${Math.round((p.length_s || 0) / 60)} | ${p.prompt || ""}`).join("\n");
}

/** The lines a facilitator wrote, as the `agenda` request's phases (blank lines skipped). */
export function parseAgenda(text) {
  const phases = [];
  for (const line of String(text || "").split("\n")) {
    if (!line.trim()) continue;
    const [name = "", minutes = "0", ...rest] = line.split("|").map((part) => part.trim());
    const m = Number.parseFloat(minutes);
    phases.push({ name: name.slice(0, 60), prompt: rest.join(" | ").slice(0, 300), length_s: Number.isFinite(m) && m > 0 ? Math.round(m * 60) : 0 });
  }
  return phases.filter((p) => p.name);
}
