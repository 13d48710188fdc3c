// What facilitators read about alerts and the audit: each alert kind's title and rank in the
// panel, what else a held message was about, and the audit's lines in plain words. Pure:
// no DOM, no socket, no state.

import { formatDuration } from "./lib.js";

/** Alerts for facilitators: what each kind is called, and the order of the panel. */
export const ALERT_KINDS = {
  crisis: { title: "Someone may need support", rank: 0 },
  support: { title: "A member asked for support", rank: 0 },
  held: { title: "Waiting for your review", rank: 1 },
  report: { title: "A member reported a message", rank: 2 },
  flood: { title: "Many messages at once", rank: 3 },
  abuse: { title: "Possibly hurtful message", rank: 3 },
  contact: { title: "Contact details were hidden", rank: 3 },
  medication: { title: "Medication offer", rank: 3 },
  link: { title: "A link was shared", rank: 3 },
  raid: { title: "The same message from several people", rank: 3 },
};

export function alertTitle(kind) {
  return (ALERT_KINDS[kind] && ALERT_KINDS[kind].title) || `Moderation alert: ${String(kind || "other").replace(/[_.]/g, " ")}`;
}

/** Crisis first, then held messages, then reports, then the rest; newest first within each. */
export function alertRank(a) {
  if (a && a.kind !== "crisis" && a.priority === true) return 0;
  const known = a && ALERT_KINDS[a.kind];
  return known ? known.rank : 4;
}

export function sortAlerts(list) {
  return [...list].sort((x, y) => alertRank(x) - alertRank(y) || (y.received || 0) - (x.received || 0));
}

/**
 * A stable key per alert so the same thing is listed once: an alert the server keeps by
 * its alert id; otherwise (held messages, older servers) a held message by its id, a
 * report by message and reporter, a crisis by message, anything else by kind and user (a
 * second flood alert about the same person updates the first instead of adding one).
 */
export function alertKey(a) {
  // Alerts the server keeps have an id: that is the card (a reconnect lists it again).
  if (a && a.kind !== "held" && a.id != null && a.id !== "") return `id:${a.id}`;
  const entry = (a && a.entry) || {};
  const user = (a && a.user) || {};
  const id = entry.id != null ? String(entry.id) : "";
  switch (a && a.kind) {
    case "held":
      return `held:${id}`;
    case "report":
      return `report:${id}:${user.id ?? ""}`;
    default:
      return id ? `${a.kind}:${id}` : `${a && a.kind}:user:${user.id ?? ""}`;
  }
}

/** What a held message's other concerns (`kinds` of its alert) are called. */
export const CONCERN_LABELS = {
  crisis: "crisis language",
  medication: "medication offer",
  contact: "contact details",
  link: "a link",
  abuse: "hurtful language",
  raid: "the same text from several people",
  flood: "many messages at once",
};

/** "Also: crisis language, medication offer" for a held card, or "" without other concerns. */
export function alsoLine(kinds) {
  if (!Array.isArray(kinds)) return "";
  const names = [...new Set(kinds.map((k) => String(k)).filter(Boolean))].map(
    (k) => CONCERN_LABELS[k] || k.replace(/[_.]/g, " "),
  );
  return names.length ? `Also: ${names.join(", ")}` : "";
}

/** Audit entries written by the moderation system itself ("verdict.block" …). */
export function isAutomaticAudit(a) {
  return Boolean(a) && (String(a.action || "").startsWith("verdict.") || (a.by && a.by.role === "system"));
}

const GATE_LABELS = {
  muted: "muted",
  locked: "room locked",
  paused: "room paused",
  floor: "someone else has the floor",
};
const SHAPE_LABELS = { too_long: "message too long", empty: "message empty" };
const STAGE_LABELS = {
  rate: "sending too fast",
  duplicate: "repeated message",
  gate: "muted/locked/paused/floor",
  contact: "contact details hidden",
  crisis: "crisis support offered",
  link: "link held",
  links: "link held",
  abuse: "abusive language",
  medication: "medication offer held",
  shape: "message too long/empty",
};

/** A short human label for a moderation rule ("rate.limited") or its stage. */
export function verdictLabel(rule, stage) {
  const [family, detail = ""] = String(rule || "").split(".", 2);
  const key = family || String(stage || "");
  if (key === "duplicate" && detail === "raid") return "the same message from several people";
  if (key === "gate" && GATE_LABELS[detail]) return GATE_LABELS[detail];
  if (key === "shape" && SHAPE_LABELS[detail]) return SHAPE_LABELS[detail];
  return STAGE_LABELS[key] || STAGE_LABELS[String(stage || "")] || "automatic check";
}

const VERDICT_VERBS = {
  block: "refused a message from",
  hold: "held a message from",
  flag: "flagged a message from",
  modify: "changed a message from",
};

/**
 * One line of the audit trail, for people. `nameOf(userId)` names a member; entries carry
 * ids and never message text.
 */
export function describeAudit(a, nameOf) {
  const by = (a.by && a.by.name) || "A facilitator";
  const action = String(a.action || "");
  if (action.startsWith("verdict.")) {
    const verb = VERDICT_VERBS[action.slice(8)] || "checked a message from";
    const who = (a.user_id != null && nameOf(String(a.user_id))) || "a member";
    return `${by} ${verb} ${who}: ${verdictLabel(a.rule, a.stage)}`;
  }
  const target = a.user_id != null ? nameOf(String(a.user_id)) || String(a.user_id) : "a member";
  switch (a.action) {
    case "muted":
      return Number.isFinite(a.duration_s)
        ? `${by} muted ${target} for ${formatDuration(a.duration_s)}`
        : `${by} muted ${target} until unmuted`;
    case "unmuted":
      return `${by} unmuted ${target}`;
    case "removed":
      return `${by} removed ${target} from the room`;
    case "readmitted":
      return `${by} let ${target} back in`;
    case "floor":
      return a.user_id != null ? `${by} gave ${target} the floor` : `${by} took the floor back`;
    case "locked":
      return a.locked ? `${by} locked the room` : `${by} unlocked the room`;
    case "paused":
      return a.paused ? `${by} paused the room` : `${by} resumed the room`;
    case "slow_mode":
      return a.slow_mode_s > 0
        ? `${by} set slow mode to one message every ${formatDuration(a.slow_mode_s)}`
        : `${by} turned slow mode off`;
    case "pinned":
      return `${by} pinned a message`;
    case "unpinned":
      return `${by} unpinned a message`;
    case "deleted":
      return a.user_id != null ? `${by} deleted a message by ${target}` : `${by} deleted a message`;
    case "hands_lowered":
      return `${by} lowered all hands`;
    case "approved":
      return `${by} shared a held message from ${target}`;
    case "denied":
      return `${by} did not share a held message from ${target}`;
    case "reported":
      return `${by} reported a message by ${target}`;
    case "alert_dismissed":
      return `${by} marked an alert as done`;
    default:
      return `${by}: ${String(a.action || "update")}`;
  }
}
