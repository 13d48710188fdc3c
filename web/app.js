// huddle browser client: one room per tab, driven by the link's fragment
// (#room=<id>&token=<JWT>). Protocol: /work/shared/DESIGN.md section 3, summary in
// docs/web-client.md. All user-supplied text is rendered with textContent, never as HTML.
//
// Everyone gets the chat (members, hands, pins, notices, reporting a message). People whose
// token makes them a facilitator of the room also get the facilitator view: actions on
// members and messages, room controls, the alerts panel and the activity log.

import { io } from "/vendor/socket.io.esm.min.js";
import {
  MAX_TEXT,
  RoomCache,
  alertKey,
  alertTitle,
  alsoLine,
  applyModeration,
  describeAudit,
  describeEvent,
  describeOwnMute,
  describeRoomState,
  formatDuration,
  formatTime,
  hasOffset,
  heldQuery,
  heldReviews,
  isAutomaticAudit,
  isRoomEvent,
  lengthState,
  muteLeft,
  mutedUntilOf,
  newClientId,
  parseFragment,
  readClaims,
  refusalText,
  sortAlerts,
  typingLine,
} from "/web/lib.js";

const ACK_TIMEOUT_MS = 10_000; // no ack by then: keep "sending…" and retry (same client_id)
const RETRY_MS = 3_000; // retry delay while still connected
const TYPING_EVERY_MS = 2_000; // at most one typing:true per this while typing
const TYPING_IDLE_MS = 3_000; // typing:false after this long without input
const TYPING_EXPIRE_MS = 5_000; // others' "is typing" disappears without an update
const NEAR_BOTTOM_PX = 80;
const MAX_NOTICES = 5;
const MAX_ALERTS = 30;
const AUTO_WAIT_MAX_S = 30; // rate limit / slow mode waits up to this resend by themselves
const TICK_MS = 15_000; // mute countdowns are redrawn this often (expiries have their own timer)
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's longest delay
const SEND_SLACK_MS = 150; // added to a server-given wait, so we are not a hair too early
const AUDIT_FETCH = 500; // audit entries read to know who is muted or removed
const AUDIT_SHOWN = 100; // of which the activity log shows this many
const MUTE_CHOICES = [5, 15, 60]; // minutes
const STATUS_MS = 7_000; // how long an action's confirmation stays

const $ = (id) => document.getElementById(id);
const ui = {
  roomName: $("room-name"),
  status: $("status"),
  members: $("members"),
  memberCount: $("member-count"),
  hand: $("hand"),
  handsBox: $("hands"),
  handsEmpty: $("hands-empty"),
  handList: $("hand-list"),
  lowerHands: $("lower-hands"),
  removedBox: $("removed"),
  removedList: $("removed-list"),
  actionStatus: $("action-status"),
  notices: $("notices"),
  muteState: $("mute-state"),
  pinned: $("pinned"),
  pinnedList: $("pinned-list"),
  roomstate: $("roomstate"),
  messages: $("messages"),
  jump: $("jump"),
  gone: $("gone"),
  typing: $("typing"),
  error: $("error"),
  form: $("compose"),
  composer: $("composer"),
  send: $("send"),
  counter: $("counter"),
  skipAlerts: $("skip-alerts"),
  facil: $("facilitator"),
  alerts: $("alerts"),
  alertList: $("alert-list"),
  alertCount: $("alert-count"),
  alertsEmpty: $("alerts-empty"),
  lockState: $("lock-state"),
  lockButton: $("ctl-lock"),
  pauseState: $("pause-state"),
  pauseButton: $("ctl-pause"),
  slowSelect: $("ctl-slow"),
  slowSet: $("ctl-slow-set"),
  floorRow: $("floor-row"),
  floorState: $("floor-state"),
  floorBack: $("ctl-floor-back"),
  audit: $("audit"),
  auditRefresh: $("audit-refresh"),
  auditStatus: $("audit-status"),
  auditList: $("audit-list"),
  auditAuto: $("audit-auto"),
  lengthLive: $("length-live"),
};

// ---------------------------------------------------------------------------------------
// The link: room and token. The token is moved from the address bar into this tab's
// sessionStorage, so it is not shown on a shared screen or kept in the history, and a
// reload still finds it.

function resolveLink() {
  const { room, token: fromHash } = parseFragment(location.hash);
  if (!room) return { room, token: fromHash };
  const key = `huddle:v1:token:${room}`;
  let token = fromHash;
  try {
    if (fromHash) {
      sessionStorage.setItem(key, fromHash);
      history.replaceState(null, "", `${location.pathname}${location.search}#room=${encodeURIComponent(room)}`);
    } else {
      token = sessionStorage.getItem(key) || "";
    }
  } catch {
    // No sessionStorage: keep the token in the fragment so a reload still works.
  }
  return { room, token };
}

const { room, token } = resolveLink();
const claims = readClaims(token);
const me = {
  id: claims.sub != null ? String(claims.sub) : "",
  name: claims.name != null ? String(claims.name) : "",
  role: (claims.rooms && claims.rooms[room]) || "member",
};
const cache = new RoomCache(globalThis.sessionStorage, room);

const isFacilitator = () => me.role === "facilitator";

// ---------------------------------------------------------------------------------------
// State

let epoch = null; // the room log's epoch we are positioned in
let lastOffset = 0; // highest offset seen in that epoch
let entries = []; // the shown log entries (messages and room changes), in offset order
const outbox = []; // own messages not acknowledged yet, in order: {client_id, text, ts, attempt, el, timer}
// Own messages without a place in the log: held for review ("held"), reviewed and not
// shared ("not-shared"), or refused ("failed"). client_id -> {client_id, text, ts, state, reason, el}
const ownItems = new Map();
let members = []; // [{id, name, role}] present now
const known = new Map(); // user id -> {id, name, role}: everyone seen, for names
let handQueue = []; // users with a raised hand, in the order they raised it
const typers = new Map(); // user id -> {name, timer}
const pinned = new Map(); // message id -> message entry
let roomState = { locked: false, paused: false, slow_mode_s: 0, floor: null };
let mutedUntil = 0; // 0: not muted; null: muted until unmuted; else ms since the epoch
let muteReason = "";

// Facilitators only
const moderation = { mutes: new Map(), removed: new Map() }; // who is muted / removed
let alerts = []; // open alerts: {kind, user, entry, reason, priority, received, key}
let auditEntries = []; // newest first, as the server returns them
let auditSeq = 0;
let liveModeration = null; // room events that arrive while the audit is being read
let auditTimer = null;

let joined = false; // the current connection has a successful join ack
let joinSeq = 0; // invalidates acks of superseded join attempts
let buffered = []; // live events received before the join ack: [name, payload]
let stopped = false; // refused, removed or no link: do not reconnect
let serverKicks = 0; // consecutive "io server disconnect" without a join in between
let typingSentAt = 0;
let typingActive = false;
let typingIdleTimer = null;
let handRaised = false;
let saveTimer = null;
let holdUntil = 0; // rate limited, slow mode, busy: the outbox waits until then (ms since the epoch)
let holdRate = false; // the wait is a rate limit or slow mode (shown as "waiting N s to send…")
let holdTimer = null;
let inFlight = null; // the outbox item whose ack we are waiting for (one at a time)
let paceMs = 0; // after a rate refusal: at least this long between sends until the outbox empties
let lastSentAt = 0;
let errorCause = ""; // the refusal code behind #error, so it can go when its reason ends
let muteTimer = null; // fires when your own timed mute ends
let mutesTimer = null; // facilitators: fires when the next member's timed mute ends
let statusTimer = null;

// ---------------------------------------------------------------------------------------
// Rendering helpers (textContent only)

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

function button(text, className = "secondary small", label = "") {
  const node = el("button", className, text);
  node.type = "button";
  if (label) node.setAttribute("aria-label", label);
  return node;
}

/** Put `nodes` into `box` in this order, moving as little as possible (keeps focus). */
function reconcile(box, nodes) {
  const keep = new Set(nodes);
  for (const child of [...box.children]) if (!keep.has(child)) child.remove();
  nodes.forEach((node, i) => {
    if (box.children[i] !== node) box.insertBefore(node, box.children[i] || null);
  });
}

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  document.body.dataset.connection = state;
}

function showError(message, cause = "") {
  ui.error.textContent = message || "";
  errorCause = message ? cause : "";
}

function clearError() {
  ui.error.textContent = "";
  errorCause = "";
}

/** The refusal in #error described a situation (muted, locked …) that has ended: clear it. */
function clearStaleError() {
  if (!errorCause || !ui.error.textContent) return;
  const mutedNow = mutedUntil === null || mutedUntil > Date.now();
  const floorElsewhere = roomState.floor != null && roomState.floor !== me.id;
  const ended = {
    muted: !mutedNow,
    room_locked: !roomState.locked && !roomState.paused && !floorElsewhere,
    slow_mode: !(roomState.slow_mode_s > 0),
  };
  if (ended[errorCause]) clearError();
}

/** A short confirmation (or a refusal) after an action, announced politely. */
function say(text, { error = false } = {}) {
  clearTimeout(statusTimer);
  ui.actionStatus.textContent = text || "";
  ui.actionStatus.classList.toggle("is-error", error);
  if (text) statusTimer = setTimeout(() => say(""), error ? STATUS_MS * 2 : STATUS_MS);
}

function errorText(error, fallback) {
  if (!error) return fallback;
  let text = error.message || error.code || fallback;
  if (Number.isFinite(error.retry_after_s) && error.retry_after_s > 0 && !/\d/.test(text)) {
    text += ` (try again in ${Math.ceil(error.retry_after_s)} s)`;
  }
  return text;
}

function remember(user) {
  if (!user || user.id == null) return;
  const id = String(user.id);
  const old = known.get(id);
  if (!old || (user.name && user.name !== old.name) || (user.role && user.role !== old.role)) {
    known.set(id, { id, name: user.name || (old && old.name) || "", role: user.role || (old && old.role) || "" });
  }
}

function nameOf(userId) {
  const id = String(userId);
  const member = members.find((m) => m.id === id);
  if (member && member.name) return member.name;
  const seen = known.get(id);
  if (seen && seen.name) return seen.name;
  if (id === me.id) return me.name || "You";
  return "";
}

function isNearBottom() {
  const box = ui.messages;
  return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.jump.hidden = true;
}

/** Run a change to the message list, keeping the view at the bottom if it was there. */
function withScroll(change, { force = false } = {}) {
  const stick = force || isNearBottom();
  change();
  if (stick) scrollToBottom();
  else ui.jump.hidden = false;
}

function offsetOf(node) {
  const value = node.dataset.offset;
  return value ? Number(value) : null;
}

/**
 * The node a logged entry with `offset` goes after (null: first in the log). Pending
 * ("sending…") nodes always stay below the log. A member's own settled message without an
 * offset (held, not shared, not sent) stays where it was written: later entries go after
 * it, older ones before it.
 */
function anchorFor(offset, exclude) {
  let prev = ui.messages.lastElementChild;
  while (prev) {
    if (prev !== exclude) {
      const at = offsetOf(prev);
      if (at !== null) {
        if (at <= offset) return prev;
      } else if (!prev.classList.contains("pending")) {
        let before = prev.previousElementSibling;
        while (before && (before === exclude || offsetOf(before) === null)) {
          before = before.previousElementSibling;
        }
        if (!before || offsetOf(before) <= offset) return prev;
      }
    }
    prev = prev.previousElementSibling;
  }
  return null;
}

/** Is `node` in offset order, before every pending ("sending…") node? */
function isPlaced(node, offset) {
  return node.previousElementSibling === anchorFor(offset, node);
}

/** Put a node with an offset in order, before any pending ("sending…") messages. */
function insertByOffset(node, offset) {
  const box = ui.messages;
  const anchor = anchorFor(offset, node);
  box.insertBefore(node, anchor ? anchor.nextElementSibling : box.firstElementChild);
}

function place(node, offset) {
  if (node.parentNode === ui.messages && isPlaced(node, offset)) return;
  node.remove();
  insertByOffset(node, offset);
}

function fillMessage(node, m, { state = "" } = {}) {
  const user = m.user || {};
  remember(user);
  const own = Boolean(me.id) && user.id === me.id;
  node.className = "msg";
  node.classList.toggle("own", own);
  node.classList.toggle("by-facilitator", user.role === "facilitator");
  node.classList.toggle("held", Boolean(m.held));
  if (hasOffset(m)) node.dataset.offset = String(m.offset);
  else delete node.dataset.offset;
  if (m.id != null) node.dataset.id = String(m.id);
  else delete node.dataset.id;
  if (Number.isFinite(m.ts)) node.dataset.ts = String(m.ts);
  if (m.client_id) node.dataset.clientId = String(m.client_id);
  if (user.id != null) node.dataset.userId = String(user.id);

  const meta = el("div", "meta");
  meta.append(el("span", "name", user.name || "Someone"));
  if (own) meta.append(el("span", "you", "(you)"));
  if (user.role === "facilitator") meta.append(el("span", "badge", "facilitator"));
  const time = el("time", "time", formatTime(m.ts));
  if (Number.isFinite(m.ts)) time.dateTime = new Date(m.ts).toISOString();
  meta.append(time);
  if (m.held) meta.append(el("span", "badge held-badge", "held for review"));
  if (m.id != null && pinned.has(String(m.id))) meta.append(el("span", "badge pin-badge", "pinned"));
  const stateNode = el("span", "state", state);
  meta.append(stateNode);

  const text = el("p", "text", typeof m.text === "string" ? m.text : "");
  text.dir = "auto";
  node.replaceChildren(meta, text);
  const actions = messageActions(node, m);
  if (actions) node.append(actions);
  return node;
}

/** The row under a message's text for a confirmation or the report form. */
function messagePanel(node) {
  let panel = node.querySelector(":scope > .msg-panel");
  if (!panel) {
    panel = el("div", "msg-panel");
    node.append(panel);
  }
  return panel;
}

function setPendingState(item, state) {
  item.el.classList.add("pending");
  const stateNode = item.el.querySelector(".state");
  if (stateNode) stateNode.textContent = state;
}

function findMessageNode(m) {
  if (hasOffset(m)) {
    const node = ui.messages.querySelector(`.msg[data-offset="${m.offset}"]`);
    if (node) return node;
  }
  if (m.id != null) return messageNodeById(m.id);
  return null;
}

function messageNodeById(id) {
  return ui.messages.querySelector(`.msg[data-id="${CSS.escape(String(id))}"]`);
}

function entryById(id) {
  const key = String(id);
  return entries.find((e) => !isRoomEvent(e) && String(e.id) === key) || null;
}

// ---------------------------------------------------------------------------------------
// Requests: facilitator controls and reports. Every one has an ack; `act` shows the outcome.

function request(event, payload = {}) {
  return new Promise((resolve) => {
    if (!joined || !socket || !socket.connected) {
      resolve({ ok: false, error: { code: "offline", message: "You are not connected right now. Please try again in a moment." } });
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, { room, ...payload }, (err, ack) => {
      if (err) resolve({ ok: false, error: { code: "timeout", message: "The server did not answer. Please try again." } });
      else if (ack && typeof ack === "object") resolve(ack);
      else resolve({ ok: false, error: { code: "invalid", message: "The server gave an unexpected answer." } });
    });
  });
}

/**
 * Send a control from a button. The button is marked busy (aria-disabled, so a keyboard
 * user keeps focus on it) until the ack; the outcome goes to the status line.
 */
async function act(btn, event, payload, done) {
  if (btn && btn.getAttribute("aria-disabled") === "true") return null;
  if (btn) btn.setAttribute("aria-disabled", "true");
  const ack = await request(event, payload);
  if (btn) btn.removeAttribute("aria-disabled");
  if (ack.ok) {
    const text = typeof done === "function" ? done(ack) : done;
    if (text) say(text);
  } else {
    say(errorText(ack.error, "That did not work. Please try again."), { error: true });
  }
  return ack;
}

// ---------------------------------------------------------------------------------------
// Message actions: pin and delete for facilitators, report for members

function messageActions(node, m) {
  if (m.id == null || !hasOffset(m)) return null; // pending, held or failed: nothing to act on
  const user = m.user || {};
  const own = Boolean(me.id) && user.id === me.id;
  const id = String(m.id);
  const box = el("div", "msg-actions");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", `Message from ${own ? "you" : user.name || "someone"}`);
  if (isFacilitator()) {
    const isPinned = pinned.has(id);
    const pin = button(isPinned ? "Unpin" : "Pin", "act act-pin");
    pin.dataset.action = isPinned ? "unpin" : "pin";
    pin.addEventListener("click", () => {
      const unpin = pinned.has(id);
      act(pin, unpin ? "unpin" : "pin", { id }, unpin ? "Message unpinned." : "Message pinned for everyone.");
    });
    const del = button("Delete…", "act act-delete");
    del.dataset.action = "delete";
    del.addEventListener("click", () =>
      confirmInline(messagePanel(node), del, "Delete this message for everyone?", "Delete", (yes) =>
        act(yes, "delete", { id }, "Message deleted."),
      ),
    );
    box.append(pin, del);
    return box;
  }
  if (own) return null;
  const report = button("Report…", "act act-report");
  report.dataset.action = "report";
  report.addEventListener("click", () => reportForm(messagePanel(node), report, id));
  box.append(report);
  return box;
}

/**
 * Ask before a step that cannot be undone: `panel` shows the question with confirm and
 * cancel; either way it empties again and focus goes back to `origin`.
 */
function confirmInline(panel, origin, question, confirmLabel, onConfirm) {
  const ask = el("span", "confirm-question", question);
  const yes = button(confirmLabel, "small danger");
  const no = button("Cancel", "secondary small");
  const close = () => {
    panel.replaceChildren();
    if (origin.isConnected) origin.focus();
  };
  yes.addEventListener("click", async () => {
    const ack = await onConfirm(yes);
    if (ack && ack.ok) panel.replaceChildren();
    else close();
  });
  no.addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  panel.replaceChildren(ask, yes, no);
  (panel.closest(".msg") || panel).scrollIntoView({ block: "nearest" });
  no.focus();
}

/** A labelled one-line field for an optional reason (the server takes up to 300 characters). */
function reasonField(idPrefix, labelClass, inputClass, labelText) {
  const id = `${idPrefix}-${Math.random().toString(36).slice(2, 8)}`;
  const label = el("label", labelClass, labelText);
  label.htmlFor = id;
  const input = el("input", inputClass);
  input.id = id;
  input.maxLength = 300;
  input.autocomplete = "off";
  return { label, input };
}

function reportForm(panel, origin, id) {
  const form = el("form", "report-form");
  const { label, input } = reasonField(
    `report-${id}`,
    "report-label",
    "report-reason",
    "What worries you about it? (optional)",
  );
  const send = el("button", "small", "Send report");
  send.type = "submit";
  const cancel = button("Cancel");
  const close = () => {
    panel.replaceChildren();
    if (origin.isConnected) origin.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = input.value.trim();
    const ack = await act(send, "report", reason ? { id, reason } : { id }, null);
    if (ack && ack.ok) {
      const thanks = el("span", "reported", "Thank you. The facilitators have been told.");
      thanks.tabIndex = -1;
      panel.replaceChildren(thanks);
      thanks.focus();
      say("Thank you. The facilitators have been told.");
    }
  });
  form.append(label, input, send, cancel);
  panel.replaceChildren(form);
  (panel.closest(".msg") || panel).scrollIntoView({ block: "nearest" });
  input.focus();
}

/** Pins changed: update every message's Pin/Unpin button and pinned badge. */
function refreshPinMarks() {
  for (const node of ui.messages.querySelectorAll(".msg[data-id]")) {
    const id = node.dataset.id;
    const isPinned = pinned.has(id);
    const pin = node.querySelector(".act-pin");
    if (pin) {
      pin.textContent = isPinned ? "Unpin" : "Pin";
      pin.dataset.action = isPinned ? "unpin" : "pin";
    }
    const badge = node.querySelector(".pin-badge");
    if (isPinned && !badge) {
      const meta = node.querySelector(".meta");
      const state = meta && meta.querySelector(".state");
      if (meta) meta.insertBefore(el("span", "badge pin-badge", "pinned"), state);
    } else if (!isPinned && badge) {
      badge.remove();
    }
  }
}

/** The role became known (join ack): redraw the actions of messages already shown. */
function refreshAllMessageActions() {
  for (const node of ui.messages.querySelectorAll(".msg[data-offset]")) {
    const entry = entries.find((e) => !isRoomEvent(e) && String(e.offset) === node.dataset.offset);
    if (!entry) continue;
    const old = node.querySelector(".msg-actions");
    if (old) old.remove();
    const actions = messageActions(node, entry);
    if (actions) node.insertBefore(actions, node.querySelector(":scope > .msg-panel"));
  }
}

/** Bring a message into view and focus it (from a pin or an alert). */
function showMessage(id) {
  const node = messageNodeById(id);
  if (!node) {
    say("That message is no longer in the conversation.", { error: true });
    return;
  }
  for (const old of ui.messages.querySelectorAll(".msg.spotlight")) old.classList.remove("spotlight");
  node.classList.add("spotlight");
  node.tabIndex = -1;
  node.scrollIntoView({ block: "center" });
  node.focus({ preventScroll: true });
  setTimeout(() => node.classList.remove("spotlight"), 6000);
}

// ---------------------------------------------------------------------------------------
// The log: messages and room changes

function upsertEntry(entry) {
  if (!hasOffset(entry)) return;
  let i = entries.length - 1;
  while (i >= 0 && entries[i].offset > entry.offset) i -= 1;
  if (i >= 0 && entries[i].offset === entry.offset) entries[i] = entry;
  else entries.splice(i + 1, 0, entry);
}

function takeOutbox(clientId) {
  const i = outbox.findIndex((item) => item.client_id === clientId);
  if (i < 0) return null;
  const [item] = outbox.splice(i, 1);
  clearTimeout(item.timer);
  if (inFlight === item) {
    inFlight = null;
    queueMicrotask(pumpOutbox); // the next one may go now
  }
  if (outbox.length === 0) paceMs = 0;
  return item;
}

/** Show a message entry; `own` is the outbox item when it comes from our ack. */
function applyMessage(m, own = null) {
  let node = findMessageNode(m);
  let ownNode = own ? own.el : null;
  if (!own && m.client_id && me.id && m.user && m.user.id === me.id) {
    const item = takeOutbox(m.client_id);
    if (item) ownNode = item.el;
    else if (ownItems.has(m.client_id)) {
      // A facilitator approved our held message: it now has its place in the log.
      ownNode = ownItems.get(m.client_id).el;
      ownItems.delete(m.client_id);
      scheduleSave();
    }
  }
  if (node && ownNode && node !== ownNode) ownNode.remove();
  node = node || ownNode || document.createElement("div");
  fillMessage(node, m);
  if (hasOffset(m)) place(node, m.offset);
  else if (!node.parentNode) ui.messages.append(node);
  upsertEntry(m);
  if (pinned.has(String(m.id))) {
    pinned.set(String(m.id), m);
    renderPinned();
  }
}

const REMOVED_TEXT = "A facilitator removed this message.";

/** The line left where a deleted message was, so its author knows it was not a glitch. */
function removedLine(offset, id) {
  const line = el("div", "sys removed-msg", REMOVED_TEXT);
  line.dataset.kind = "message_removed";
  line.dataset.offset = String(offset);
  if (id != null) line.dataset.removedId = String(id);
  return line;
}

function removeMessage(id) {
  const key = String(id);
  const node = messageNodeById(key);
  const offset = node ? offsetOf(node) : null;
  if (node && offset !== null) {
    node.replaceWith(removedLine(offset, key));
    // A placeholder entry keeps the line across a reload (from this tab's cache).
    upsertEntry({ kind: "message_removed", offset, id: key });
  } else if (node) {
    node.remove();
  }
  entries = entries.filter((e) => isRoomEvent(e) || String(e.id) !== key);
  if (pinned.delete(key)) renderPinned();
  // A report about a deleted message is settled; other alerts (crisis) stay.
  dropAlerts((a) => a.kind === "report" && a.entry && String(a.entry.id) === key);
}

function applyRoomEvent(e, { live }) {
  const target = e.user_id ?? (e.user && e.user.id);
  remember(e.by);
  remember(e.user);
  switch (e.kind) {
    case "deleted":
      removeMessage(e.id);
      noteModeration(e);
      return; // its placeholder line says what happened
    case "message_removed": {
      // Our own placeholder for a deleted message (from this tab's cache).
      const old = ui.messages.querySelector(`[data-offset="${e.offset}"]`);
      if (old) old.remove();
      insertByOffset(removedLine(e.offset, e.id), e.offset);
      upsertEntry(e);
      return;
    }
    case "pinned": {
      const msg = e.entry || entryById(e.id);
      if (msg) pinned.set(String(e.id), msg);
      renderPinned();
      break;
    }
    case "unpinned":
      pinned.delete(String(e.id));
      renderPinned();
      break;
    case "muted":
      if (target === me.id) {
        mutedUntil = Number.isFinite(e.until) ? e.until : null;
        muteReason = typeof e.reason === "string" ? e.reason : "";
        renderOwnMute();
      }
      break;
    case "unmuted":
      if (target === me.id) {
        mutedUntil = 0;
        muteReason = "";
        renderOwnMute();
        clearStaleError();
      }
      break;
    case "locked":
      roomState.locked = Boolean(e.locked);
      break;
    case "paused":
      roomState.paused = Boolean(e.paused);
      break;
    case "slow_mode":
      roomState.slow_mode_s = Number(e.slow_mode_s) || 0;
      if (live && roomState.slow_mode_s === 0 && (holdUntil > Date.now() || paceMs > 0)) {
        // Slow mode is off: a message waiting out its slow-mode gap goes now (if the
        // rate limit was what held it, the server says so and it waits again).
        holdUntil = 0;
        paceMs = 0;
        holdRate = false;
        clearTimeout(holdTimer);
        setTimeout(pumpOutbox, 0);
      }
      break;
    case "floor":
      roomState.floor = target ?? null;
      renderMembers();
      break;
    case "removed":
      if (live && target === me.id) removedFromRoom(typeof e.reason === "string" ? e.reason : "");
      break;
    default:
      break;
  }
  noteModeration(e);
  renderRoomState();
  clearStaleError();
  // A mute is between the member and the facilitators: announcing it to the whole group
  // would feel like being told off in public (the member's own banner says it to them).
  if ((e.kind === "muted" || e.kind === "unmuted") && !isFacilitator() && target !== me.id) {
    upsertEntry(e);
    return;
  }
  const line = el("div", "sys", describeEvent(e, nameOf));
  line.dataset.kind = String(e.kind);
  if (Number.isFinite(e.ts)) line.dataset.ts = String(e.ts);
  if (hasOffset(e)) {
    line.dataset.offset = String(e.offset);
    const old = ui.messages.querySelector(`.sys[data-offset="${e.offset}"]`);
    if (old) old.remove();
    insertByOffset(line, e.offset);
  } else {
    ui.messages.append(line);
  }
  upsertEntry(e);
}

/** Facilitators keep who is muted and removed, from room events and the audit trail. */
function noteModeration(e) {
  if (!isFacilitator()) return;
  if (["muted", "unmuted", "removed", "readmitted"].includes(e.kind)) {
    applyModeration(moderation, e);
    if (liveModeration) liveModeration.push(e);
    renderMembers();
    renderRemoved();
  }
  scheduleAuditRefresh();
}

function applyEntry(entry, { live }) {
  if (!entry || typeof entry !== "object") return;
  if (isRoomEvent(entry)) applyRoomEvent(entry, { live });
  else applyMessage(entry);
}

/** Forget what is shown (a fresh history page follows); pending own messages stay. */
function resetTimeline() {
  const keep = new Set([...outbox.map((item) => item.el), ...[...ownItems.values()].map((item) => item.el)]);
  for (const node of [...ui.messages.children]) if (!keep.has(node)) node.remove();
  entries = [];
  pinned.clear();
}

function scheduleSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(saveNow, 250);
}

function saveNow() {
  clearTimeout(saveTimer);
  if (!room || stopped) return;
  const keep = isFacilitator()
    ? alerts.map(({ id, kind, user, entry, reason, priority, kinds, ts, received }) => ({ id, kind, user, entry, reason, priority, kinds, ts, received }))
    : [];
  cache.save({ epoch, offset: lastOffset, entries, outbox, alerts: keep, own: [...ownItems.values()] });
}

// ---------------------------------------------------------------------------------------
// Members, hands, typing

function sortMembers(list) {
  return [...list].sort(
    (a, b) => (a.role !== "facilitator") - (b.role !== "facilitator") || String(a.name).localeCompare(String(b.name)),
  );
}

const memberNodes = new Map(); // user id -> {li, name, badges, actions}

function hasHand(userId) {
  return handQueue.some((u) => u.id === userId);
}

function memberNode(m) {
  let n = memberNodes.get(m.id);
  if (!n) {
    const li = el("li", "member");
    li.dataset.userId = String(m.id);
    const row = el("div", "member-row");
    const dot = el("span", "presence-dot");
    dot.setAttribute("aria-hidden", "true");
    const name = el("span", "member-name");
    const badges = el("span", "member-badges");
    row.append(dot, name, badges);
    li.append(row);
    n = { li, name, badges, actions: null };
    memberNodes.set(m.id, n);
  }
  const own = m.id === me.id;
  n.li.classList.toggle("facilitator", m.role === "facilitator");
  n.li.classList.toggle("own", own);
  n.name.textContent = m.name || "Someone";

  const badges = [];
  if (own) badges.push(el("span", "you", "(you)"));
  if (m.role === "facilitator") badges.push(el("span", "badge", "facilitator"));
  if (hasHand(m.id)) badges.push(el("span", "badge hand-up", "hand raised"));
  if (roomState.floor === m.id) badges.push(el("span", "badge floor-badge", "has the floor"));
  if (isFacilitator() && m.role !== "facilitator") {
    const until = mutedUntilOf(moderation.mutes, m.id);
    if (until !== 0) {
      badges.push(el("span", "badge muted-badge", until === null ? "muted" : `muted until ${formatTime(until)}`));
    }
  }
  n.badges.replaceChildren(...badges);

  const canAct = isFacilitator() && !own && m.role !== "facilitator";
  if (canAct && !n.actions) {
    n.actions = memberActions(m);
    n.li.append(n.actions.box);
  } else if (!canAct && n.actions) {
    n.actions.box.remove();
    n.actions = null;
  }
  if (n.actions) n.actions.update(m);
  return n.li;
}

/** A facilitator's actions on one member, in a disclosure so the list stays calm. */
function memberActions(m) {
  const userId = m.id;
  const who = () => nameOf(userId) || "this member";
  const box = el("details", "member-actions");
  const summary = el("summary", "member-actions-toggle");
  summary.append("Actions");
  const forWhom = el("span", "visually-hidden");
  summary.append(forWhom);
  const body = el("div", "member-actions-body");

  const { label: reasonLabel, input: reason } = reasonField(
    `reason-${CSS.escape(userId)}`,
    "reason-label",
    "reason",
    "Reason (optional)",
  );
  const reasonValue = () => reason.value.trim();

  const muteGroup = el("div", "mute-group");
  muteGroup.setAttribute("role", "group");
  const muteLabel = el("span", "group-label", "Mute for");
  muteLabel.id = `${reason.id}-mute`;
  muteGroup.setAttribute("aria-labelledby", muteLabel.id);
  muteGroup.append(muteLabel);
  const muteButtons = MUTE_CHOICES.map((min) => {
    const b = button(`${min} min`, "secondary small mute-button");
    b.dataset.action = `mute-${min}`;
    b.addEventListener("click", () => {
      const payload = { user_id: userId, duration_s: min * 60 };
      if (reasonValue()) payload.reason = reasonValue();
      act(b, "mute", payload, `${who()} is muted for ${min} min.`).then((ack) => {
        if (ack && ack.ok) reason.value = "";
      });
    });
    muteGroup.append(b);
    return b;
  });

  const unmute = button("Unmute", "secondary small");
  unmute.dataset.action = "unmute";
  unmute.addEventListener("click", () => act(unmute, "unmute", { user_id: userId }, `${who()} can post again.`));

  const floorButton = button("Give the floor", "secondary small");
  floorButton.dataset.action = "floor";
  floorButton.addEventListener("click", () => {
    const has = roomState.floor === userId;
    act(floorButton, "floor", { user_id: has ? null : userId }, has ? "Everyone may speak again." : `${who()} has the floor.`);
  });

  const remove = button("Remove from room…", "secondary small caution");
  remove.dataset.action = "remove";
  const removeRow = el("div", "remove-row");
  removeRow.append(remove);
  const removePanel = el("div", "remove-panel");
  remove.addEventListener("click", () =>
    confirmInline(removePanel, remove, `Remove ${who()} from this room?`, "Remove", (yes) => {
      const payload = { user_id: userId };
      if (reasonValue()) payload.reason = reasonValue();
      return act(yes, "remove", payload, `${who()} was removed. You can let them back in from “Removed from this room”.`);
    }),
  );

  const row = el("div", "member-actions-row");
  row.append(unmute, floorButton);
  body.append(reasonLabel, reason, muteGroup, row, removeRow, removePanel);
  box.append(summary, body);

  function update(current) {
    forWhom.textContent = ` for ${current.name || "this member"}`;
    muteButtons.forEach((b, i) => b.setAttribute("aria-label", `Mute ${current.name || "this member"} for ${MUTE_CHOICES[i]} min`));
    unmute.hidden = mutedUntilOf(moderation.mutes, userId) === 0;
    floorButton.textContent = roomState.floor === userId ? "Take the floor back" : "Give the floor";
  }
  return { box, update };
}

/** Facilitators: redraw the member list when the next member's timed mute ends. */
function scheduleMuteExpiry() {
  clearTimeout(mutesTimer);
  const now = Date.now();
  const next = Math.min(...[...moderation.mutes.values()].filter((u) => Number.isFinite(u) && u > now));
  if (Number.isFinite(next)) mutesTimer = setTimeout(renderMembers, Math.min(MAX_TIMER_MS, next - now + 50));
}

function renderMembers() {
  if (isFacilitator()) scheduleMuteExpiry();
  const nodes = members.map(memberNode);
  const present = new Set(members.map((m) => m.id));
  for (const id of [...memberNodes.keys()]) if (!present.has(id)) memberNodes.delete(id);
  reconcile(ui.members, nodes);
  ui.memberCount.textContent = members.length ? `(${members.length})` : "";
  renderHands();
}

function setMembers(list) {
  members = sortMembers((Array.isArray(list) ? list : []).filter((m) => m && m.id != null));
  for (const m of members) remember(m);
  renderMembers();
  renderRoomState();
}

function onPresence(p) {
  if (Array.isArray(p.members)) {
    setMembers(p.members);
  } else {
    let list = members;
    if (p.left) list = list.filter((m) => m.id !== p.left.id);
    if (p.joined && !list.some((m) => m.id === p.joined.id)) list = [...list, p.joined];
    setMembers(list);
  }
  if (p.left) stopTyper(p.left.id);
}

function renderTyping() {
  ui.typing.textContent = typingLine([...typers.values()].map((t) => t.name));
}

function stopTyper(userId) {
  const t = typers.get(userId);
  if (!t) return;
  clearTimeout(t.timer);
  typers.delete(userId);
  renderTyping();
}

function onTyping(p) {
  const user = p.user || {};
  if (user.id == null || user.id === me.id) return;
  if (!p.active) {
    stopTyper(user.id);
    return;
  }
  const old = typers.get(user.id);
  if (old) clearTimeout(old.timer);
  typers.set(user.id, {
    name: user.name || nameOf(user.id) || "Someone",
    timer: setTimeout(() => stopTyper(user.id), TYPING_EXPIRE_MS),
  });
  renderTyping();
}

function clearTypers() {
  for (const t of typers.values()) clearTimeout(t.timer);
  typers.clear();
  renderTyping();
}

function setHandQueue(list) {
  handQueue = (Array.isArray(list) ? list : []).filter((u) => u && u.id != null).map((u) => ({ ...u, id: String(u.id) }));
  for (const u of handQueue) remember(u);
  setHand(me.id ? hasHand(me.id) : handRaised);
  renderMembers();
}

function onHand(p) {
  if (p.cleared) {
    setHandQueue([]);
    if (!isFacilitator()) say(`${(p.by && p.by.name) || "A facilitator"} lowered all hands.`);
    scheduleAuditRefresh();
    return;
  }
  if (Array.isArray(p.hands)) {
    setHandQueue(p.hands);
    return;
  }
  // Without the queue (an older server): add or remove this one hand.
  const user = p.user || {};
  if (user.id == null) return;
  const rest = handQueue.filter((u) => u.id !== user.id);
  setHandQueue(p.raised ? [...rest, user] : rest);
}

function setHand(raised) {
  handRaised = raised;
  ui.hand.setAttribute("aria-pressed", String(raised));
  ui.hand.textContent = raised ? "Lower hand" : "Raise hand";
}

/** The facilitator's queue of raised hands, in order, each with "Give the floor". */
function renderHands() {
  if (!isFacilitator()) {
    ui.handsBox.hidden = true;
    return;
  }
  ui.handsBox.hidden = false;
  const present = new Set(members.map((m) => m.id));
  const items = handQueue.map((u) => {
    const li = el("li", "hand-item");
    li.dataset.userId = u.id;
    const name = el("span", "hand-name", nameOf(u.id) || u.name || "Someone");
    li.append(name);
    if (!present.has(u.id)) li.append(el("span", "you", "(not here)"));
    if (roomState.floor === u.id) {
      li.append(el("span", "badge floor-badge", "has the floor"));
    } else if (u.role !== "facilitator" && u.id !== me.id) {
      const give = button("Give the floor", "secondary small", `Give ${name.textContent} the floor`);
      give.addEventListener("click", () => act(give, "floor", { user_id: u.id }, `${name.textContent} has the floor.`));
      li.append(give);
    }
    return li;
  });
  ui.handList.replaceChildren(...items);
  ui.handsEmpty.hidden = items.length > 0;
  ui.lowerHands.setAttribute("aria-disabled", String(items.length === 0));
}

// ---------------------------------------------------------------------------------------
// Pins, room state, your mute, notices

function renderPinned() {
  const items = [...pinned.values()].map((m) => {
    const li = el("li", "pin");
    li.dataset.id = String(m.id);
    const body = el("div", "pin-body");
    body.append(el("span", "name", (m.user && m.user.name) || "Someone"));
    const text = el("span", "text", m.text || "");
    text.dir = "auto";
    body.append(text);
    const actions = el("div", "pin-actions");
    const show = button("Show", "secondary small", `Show the pinned message from ${(m.user && m.user.name) || "someone"}`);
    show.addEventListener("click", () => showMessage(m.id));
    actions.append(show);
    if (isFacilitator()) {
      const unpin = button("Unpin", "secondary small", `Unpin the message from ${(m.user && m.user.name) || "someone"}`);
      unpin.addEventListener("click", () => act(unpin, "unpin", { id: String(m.id) }, "Message unpinned."));
      actions.append(unpin);
    }
    li.append(body, actions);
    return li;
  });
  ui.pinnedList.replaceChildren(...items);
  ui.pinned.hidden = items.length === 0;
  refreshPinMarks();
}

function renderRoomState() {
  const line = describeRoomState({
    ...roomState,
    floorIsYou: Boolean(me.id) && roomState.floor === me.id,
    floorName: roomState.floor ? nameOf(roomState.floor) || "Someone" : "",
    mutedUntil: 0, // your own mute has its own, fuller line (#mute-state)
  });
  ui.roomstate.textContent = line;
  ui.roomstate.hidden = line === "";
  renderControls();
}

function renderOwnMute() {
  // A timed mute ends at its exact time, not at the next tick.
  clearTimeout(muteTimer);
  if (Number.isFinite(mutedUntil) && mutedUntil > Date.now()) {
    muteTimer = setTimeout(() => {
      renderOwnMute();
      clearStaleError();
    }, Math.min(MAX_TIMER_MS, mutedUntil - Date.now() + 50));
  }
  const text = describeOwnMute(mutedUntil, muteReason);
  ui.muteState.textContent = text;
  document.body.classList.toggle("is-muted", text !== "");
  ui.composer.placeholder = text
    ? mutedUntil === null
      ? "You are muted for now"
      : `You are muted for ${muteLeft(mutedUntil)} more`
    : "Write a message…";
}

function dismissible(node, label = "Dismiss") {
  const close = button("×", "dismiss", label);
  close.addEventListener("click", () => node.remove());
  node.append(close);
  return node;
}

function showNotice(kind, text) {
  const node = el("div", "notice");
  node.dataset.kind = String(kind || "info");
  const body = el("p", "notice-text", text || "");
  body.dir = "auto";
  node.append(body);
  ui.notices.append(dismissible(node, "Dismiss this note"));
  while (ui.notices.children.length > MAX_NOTICES) ui.notices.firstElementChild.remove();
}

function onNotice(p) {
  showNotice(p.kind, p.text);
  if (p.kind !== "reviewed" || typeof p.approved !== "boolean") return;
  // The review names the message: mark exactly that one.
  let item = p.client_id != null ? ownItems.get(String(p.client_id)) : null;
  if (!item && p.id != null) item = [...ownItems.values()].find((x) => x.id != null && String(x.id) === String(p.id));
  markReviewed(item, p.approved);
}

/** A facilitator reviewed our held message (live notice, or `held_status` in a join ack). */
function markReviewed(item, approved) {
  if (!item || item.state !== "held") return;
  if (approved) {
    // Its entry (same client_id) takes this one's place in the log when it arrives.
    setOwnState(item, "held", "shared with the group");
  } else {
    setOwnState(item, "not-shared");
  }
}

/**
 * The join ack's `held_status`: reviews that happened while we were away (no live notice
 * reached us), marked as the notice would have. "waiting" stays as it is.
 */
function applyHeldStatus(status) {
  for (const [clientId, approved] of heldReviews(status)) markReviewed(ownItems.get(clientId), approved);
}

const OWN_STATE_TEXT = {
  held: "waiting for a facilitator to review it",
  "not-shared": "not shared with the group",
  failed: "not sent",
};

/** Mark an own message held, not shared or failed (classes, state text, kept in the cache). */
function setOwnState(item, state, text = OWN_STATE_TEXT[state]) {
  item.state = state;
  ownItems.set(item.client_id, item);
  const node = item.el;
  node.classList.remove("pending", "held", "not-shared", "failed");
  node.classList.add(state);
  const stateNode = node.querySelector(".state");
  if (stateNode) stateNode.textContent = text;
  if (state === "failed" && !node.querySelector(":scope > .actions")) node.append(failedActions(item));
  scheduleSave();
}

/** "Edit and resend" and "Discard" under a message that was not sent. */
function failedActions(item) {
  const node = item.el;
  const forget = () => {
    ownItems.delete(item.client_id);
    node.remove();
    scheduleSave();
  };
  const actions = el("div", "actions");
  const edit = button("Edit and resend", "secondary");
  edit.addEventListener("click", () => {
    if (ui.composer.value.trim() === "") ui.composer.value = item.text;
    else ui.composer.value = `${ui.composer.value}\n${item.text}`;
    forget();
    updateCounter();
    ui.composer.focus();
  });
  const discard = button("Discard", "secondary");
  discard.addEventListener("click", () => {
    forget();
    ui.composer.focus();
  });
  actions.append(edit, discard);
  return actions;
}

/** Draw an own held / not-shared / failed message kept from before a reload. */
function restoreOwn(m) {
  if (ownItems.has(m.client_id) || outbox.some((x) => x.client_id === m.client_id)) return;
  const item = { client_id: m.client_id, text: m.text, ts: m.ts, state: m.state, reason: m.reason || "", el: null };
  item.el = pendingNode(item);
  // Back where it was written: after the last logged line sent before it (pending
  // messages stay below the log).
  let prev = ui.messages.lastElementChild;
  while (prev && (prev.classList.contains("pending") || Number(prev.dataset.ts || 0) > (m.ts || 0))) {
    prev = prev.previousElementSibling;
  }
  ui.messages.insertBefore(item.el, prev ? prev.nextElementSibling : ui.messages.firstElementChild);
  setOwnState(item, m.state);
}

// ---------------------------------------------------------------------------------------
// Facilitators: alerts (crisis first, then held messages, then reports)

const alertNodes = new Map(); // key -> li
const CRISIS_GUIDE =
  "They were shown support lines privately. A gentle, personal check-in can help; you don't have to fix anything.";

function addAlert(a) {
  if (!isFacilitator() || !a || typeof a !== "object") return;
  if (a.kind === "dismissed") {
    // A facilitator marked it done (or the server settled it, e.g. the message was deleted).
    const gone = dropAlerts((x) => x.id != null && String(x.id) === String(a.id));
    if (gone && a.by && a.by.id !== me.id) say(`${a.by.name || "Another facilitator"} dealt with an alert.`);
    scheduleAuditRefresh();
    return;
  }
  if (a.kind === "reviewed") {
    // Another facilitator reviewed a held message: it leaves this panel.
    const gone = dropAlerts((x) => x.kind === "held" && x.entry && String(x.entry.id) === String(a.id));
    if (gone) say(`${(a.by && a.by.name) || "Another facilitator"} already reviewed a held message.`);
    scheduleAuditRefresh();
    return;
  }
  remember(a.user);
  remember(a.entry && a.entry.user);
  const item = alertItem(a);
  const i = alerts.findIndex((x) => x.key === item.key);
  if (i >= 0) alerts[i] = { ...item, received: alerts[i].received };
  else alerts.push(item);
  alerts = sortAlerts(alerts).slice(0, MAX_ALERTS);
  if (i >= 0) alertNodes.delete(item.key); // redraw it with what is new
  renderAlerts();
  scheduleSave();
  if (i < 0 && a.fromCache !== true) {
    const who = alertWho(item);
    say(`New: ${alertTitle(item.kind)}${who ? ` (${who})` : ""}.`);
  }
  if (item.kind === "report") scheduleAuditRefresh();
}

/** An alert payload (live, from the join ack or the cache) as a card's data. */
function alertItem(a) {
  const item = {
    id: a.id != null && a.kind !== "held" ? String(a.id) : null,
    kind: String(a.kind || "alert"),
    user: a.user || null,
    entry: a.entry || null,
    reason: typeof a.reason === "string" ? a.reason : "",
    priority: a.priority === true,
    kinds: Array.isArray(a.kinds) ? a.kinds.map(String) : [],
    ts: Number.isFinite(a.ts) ? a.ts : null,
    received: Number.isFinite(a.received) ? a.received : Number.isFinite(a.ts) ? a.ts : Date.now(),
  };
  item.key = alertKey(item);
  return item;
}

/** Remove alerts matching `test`; returns how many went. Keeps keyboard focus in the panel. */
function dropAlerts(test) {
  const before = alerts.length;
  const focusInside = ui.alertList.contains(document.activeElement);
  alerts = alerts.filter((a) => !test(a));
  if (alerts.length === before) return 0;
  renderAlerts();
  scheduleSave();
  if (focusInside && !ui.alertList.contains(document.activeElement)) {
    const next = ui.alertList.querySelector("button");
    (next || ui.alerts).focus();
  }
  return before - alerts.length;
}

function alertWho(a) {
  const subject = (a.entry && a.entry.user) || a.user || {};
  return subject.name || (subject.id != null ? nameOf(subject.id) : "");
}

function alertNode(a) {
  const li = el("li", "alert");
  li.dataset.kind = a.kind;
  li.dataset.key = a.key;
  if (a.priority || a.kind === "crisis") li.classList.add("priority");
  const head = el("div", "alert-head");
  head.append(el("strong", "alert-kind", alertTitle(a.kind)));
  const time = el("time", "time", formatTime(a.received));
  time.dateTime = new Date(a.received).toISOString();
  head.append(time);
  li.append(head);

  const entry = a.entry || {};
  if (a.kind === "report" && a.user) {
    li.append(el("p", "alert-by", `Reported by ${a.user.name || "a member"}`));
  }
  if (entry.text != null) {
    const quote = el("blockquote", "alert-message");
    quote.append(el("span", "alert-who", `${(entry.user && entry.user.name) || alertWho(a) || "Someone"}:`));
    const text = el("span", "alert-text", entry.text);
    text.dir = "auto";
    quote.append(" ", text);
    li.append(quote);
  } else if (alertWho(a)) {
    li.append(el("p", "alert-message", alertWho(a)));
  }
  const reason = a.reason || entry.held_reason || "";
  if (a.kind === "crisis") {
    li.append(
      el("p", "alert-guide", CRISIS_GUIDE),
    );
    if (reason) {
      // The support note the sender got: there if wanted, folded so the alert stays short.
      const more = el("details", "alert-more");
      more.append(el("summary", "", "What they were shown"));
      const why = el("p", "alert-reason", reason);
      why.dir = "auto";
      more.append(why);
      li.append(more);
    }
  } else if (reason) {
    const why = el("p", "alert-reason", reason);
    why.dir = "auto";
    li.append(why);
  }
  const also = alsoLine(a.kinds);
  if (also) li.append(el("p", "alert-also", also));
  if (a.kind === "held" && (a.kinds || []).includes("crisis")) li.append(el("p", "alert-guide", CRISIS_GUIDE));

  const actions = el("div", "alert-actions");
  if (a.kind === "held" && entry.id != null) {
    const approve = button("Share with the group", "small", `Share ${alertWho(a) || "the"} held message with the group`);
    approve.dataset.action = "approve";
    const deny = button("Don't share", "secondary small", `Don't share ${alertWho(a) || "the"} held message`);
    deny.dataset.action = "deny";
    const review = (yes, btn) =>
      act(btn, "review", { id: String(entry.id), approve: yes }, yes ? "Shared with the group." : "Not shared. They have been told privately.").then((ack) => {
        if (ack && (ack.ok || (ack.error && ack.error.code === "invalid_payload"))) {
          dropAlerts((x) => x.key === a.key);
        }
      });
    approve.addEventListener("click", () => review(true, approve));
    deny.addEventListener("click", () => review(false, deny));
    actions.append(approve, deny);
  } else {
    if (entry.id != null && entry.offset) {
      const show = button("Show message", "secondary small");
      show.dataset.action = "show";
      show.addEventListener("click", () => showMessage(entry.id));
      actions.append(show);
    }
    const done = button("Done", "secondary small", `Done with this: ${alertTitle(a.kind)}`);
    done.dataset.action = "done";
    done.addEventListener("click", async () => {
      if (a.id == null) {
        dropAlerts((x) => x.key === a.key); // only this tab knew of it
        return;
      }
      // Kept by the server: closing it closes it for every facilitator.
      const ack = await act(done, "dismiss_alert", { id: a.id }, "Marked as done.");
      if (ack && (ack.ok || (ack.error && ack.error.code === "invalid_payload"))) {
        dropAlerts((x) => x.key === a.key);
      }
    });
    actions.append(done);
  }
  li.append(actions);
  return li;
}

function renderAlerts() {
  const keys = new Set(alerts.map((a) => a.key));
  for (const key of [...alertNodes.keys()]) if (!keys.has(key)) alertNodes.delete(key);
  const nodes = alerts.map((a) => {
    let node = alertNodes.get(a.key);
    if (!node) {
      node = alertNode(a);
      alertNodes.set(a.key, node);
    }
    return node;
  });
  reconcile(ui.alertList, nodes);
  ui.alertsEmpty.hidden = nodes.length > 0;
  ui.alertCount.textContent = nodes.length ? `(${nodes.length})` : "";
  const crisis = alerts.some((a) => a.kind === "crisis" || a.priority);
  ui.alerts.classList.toggle("has-priority", crisis);
  document.title = `${nodes.length ? `(${nodes.length}) ` : ""}huddle · ${room}`;
}

/**
 * The join ack lists the messages still held (`held`) and, from servers that keep them,
 * the open alerts (`alerts`, oldest first): together they replace what this tab had.
 */
function setJoinAlerts(list, open) {
  const held = (Array.isArray(list) ? list : []).filter((e) => e && e.id != null);
  const ids = new Set(held.map((e) => String(e.id)));
  const heldCards = new Map(alerts.filter((a) => a.kind === "held").map((a) => [a.key, a]));
  alerts = alerts.filter((a) => a.kind !== "held" || (a.entry && ids.has(String(a.entry.id))));
  if (Array.isArray(open)) {
    // The server is the record: cards it no longer has were dealt with elsewhere.
    const fresh = open.filter((a) => a && typeof a === "object" && a.kind !== "held").map(alertItem);
    const keys = new Set(fresh.map((a) => a.key));
    alerts = alerts.filter((a) => a.kind === "held");
    for (const item of fresh) if (keys.has(item.key) && !alerts.some((x) => x.key === item.key)) alerts.push(item);
  }
  for (const entry of held) {
    // A held card we already have (from the live alert) keeps its other concerns.
    const old = heldCards.get(`held:${entry.id}`);
    if (old && !alerts.includes(old)) alerts.push(old);
  }
  for (const entry of held) {
    const key = `held:${entry.id}`;
    if (!alerts.some((a) => a.key === key)) {
      alerts.push({
        kind: "held",
        user: entry.user || null,
        entry,
        reason: entry.held_reason || "",
        priority: entry.priority === true,
        kinds: Array.isArray(entry.kinds) ? entry.kinds.map(String) : [],
        received: Number.isFinite(entry.ts) ? entry.ts : Date.now(),
        key,
      });
    }
  }
  alerts = sortAlerts(alerts).slice(0, MAX_ALERTS);
  renderAlerts();
  scheduleSave();
}

// ---------------------------------------------------------------------------------------
// Facilitators: room controls, removed members, the activity log

function renderControls() {
  if (!isFacilitator()) return;
  ui.lockState.textContent = roomState.locked ? "Locked: only facilitators can post" : "Open to everyone";
  ui.lockButton.textContent = roomState.locked ? "Unlock" : "Lock";
  ui.lockButton.setAttribute("aria-label", roomState.locked ? "Unlock the room" : "Lock the room");
  ui.pauseState.textContent = roomState.paused ? "Paused" : "Running";
  ui.pauseButton.textContent = roomState.paused ? "Resume" : "Pause";
  ui.pauseButton.setAttribute("aria-label", roomState.paused ? "Resume the room" : "Pause the room");
  const slow = String(roomState.slow_mode_s || 0);
  if (![...ui.slowSelect.options].some((o) => o.value === slow)) {
    ui.slowSelect.append(new Option(formatDuration(Number(slow)), slow));
  }
  if (document.activeElement !== ui.slowSelect) ui.slowSelect.value = slow;
  ui.floorRow.hidden = !roomState.floor;
  ui.floorState.textContent = roomState.floor ? `${nameOf(roomState.floor) || "Someone"} has the floor` : "";
}

function renderRemoved() {
  if (!isFacilitator()) {
    ui.removedBox.hidden = true;
    return;
  }
  const items = [...moderation.removed.keys()].map((id) => {
    const li = el("li", "removed-item");
    li.dataset.userId = id;
    const name = nameOf(id) || (moderation.removed.get(id) || {}).name || id;
    li.append(el("span", "member-name", name));
    const back = button("Let back in", "secondary small", `Let ${name} back in`);
    back.dataset.action = "readmit";
    back.addEventListener("click", () => readmit(id, back));
    li.append(back);
    return li;
  });
  ui.removedList.replaceChildren(...items);
  ui.removedBox.hidden = items.length === 0;
}

function readmit(userId, btn) {
  const name = nameOf(userId) || userId;
  return act(btn, "readmit", { user_id: userId }, `${name} may rejoin the room with their link.`);
}

function scheduleAuditRefresh() {
  if (!isFacilitator() || !ui.audit.open) return;
  clearTimeout(auditTimer);
  auditTimer = setTimeout(loadAudit, 400);
}

/** Read the audit trail: it tells who is muted or removed, and fills the activity log. */
async function loadAudit() {
  if (!isFacilitator() || !joined) return;
  const seq = ++auditSeq;
  liveModeration = [];
  if (ui.audit.open && auditEntries.length === 0) ui.auditStatus.textContent = "Loading…";
  const ack = await request("audit", { limit: AUDIT_FETCH });
  if (seq !== auditSeq) return;
  const since = liveModeration || [];
  liveModeration = null;
  if (!ack.ok) {
    ui.auditStatus.textContent = errorText(ack.error, "The activity log could not be read.");
    return;
  }
  auditEntries = Array.isArray(ack.entries) ? ack.entries.filter((a) => a && typeof a === "object") : [];
  for (const a of auditEntries) remember(a.by);
  moderation.mutes.clear();
  moderation.removed.clear();
  for (const a of [...auditEntries].reverse()) applyModeration(moderation, a);
  for (const e of since) applyModeration(moderation, e); // newer than what the audit had
  renderMembers();
  renderRemoved();
  renderAudit();
}

function renderAudit() {
  // Automatic moderation entries can be many: hidden unless asked for, so the
  // facilitators' own actions are not pushed out of the list.
  const showAuto = ui.auditAuto.checked;
  const shown = auditEntries.filter((a) => showAuto || !isAutomaticAudit(a)).slice(0, AUDIT_SHOWN);
  const items = shown.map((a) => {
    const li = el("li", "audit-item");
    li.dataset.action = String(a.action || "");
    if (isAutomaticAudit(a)) li.classList.add("automatic");
    const time = el("time", "time", formatTime(a.ts));
    if (Number.isFinite(a.ts)) time.dateTime = new Date(a.ts).toISOString();
    const text = el("span", "audit-text", describeAudit(a, nameOf));
    li.append(time, text);
    if (a.reason && a.action !== "reported") li.append(el("span", "audit-reason", `“${a.reason}”`));
    if (a.action === "removed" && a.user_id != null && moderation.removed.has(String(a.user_id))) {
      const name = nameOf(String(a.user_id)) || String(a.user_id);
      const back = button("Let back in", "secondary small", `Let ${name} back in`);
      back.addEventListener("click", () => readmit(String(a.user_id), back));
      li.append(back);
    }
    return li;
  });
  ui.auditList.replaceChildren(...items);
  const hidden = auditEntries.length > 0 && items.length === 0 && !showAuto;
  ui.auditStatus.textContent = items.length
    ? ""
    : hidden
      ? "No facilitator actions yet. Automatic moderation entries are hidden."
      : "Nothing has happened yet.";
}

// ---------------------------------------------------------------------------------------
// Connection

function stop(state, text) {
  stopped = true;
  joined = false;
  setStatus(state, text);
  ui.composer.disabled = true;
  ui.send.disabled = true;
  ui.hand.disabled = true;
}

/** Removed by a facilitator: say so kindly, stop, and do not try to come back. */
function removedFromRoom(reason = null) {
  // Their note is kept for this tab, so a reload (refused with "removed") still shows it.
  if (typeof reason === "string") cache.saveRemoved(reason);
  else reason = cache.loadRemoved() || "";
  stop("removed", "You have been removed from this room.");
  clearError();
  ui.gone.replaceChildren(
    el("p", "gone-title", "A facilitator has removed you from this room for now."),
    el(
      "p",
      "gone-text",
      "You can't read or post new messages here at the moment. If you think this was a mistake, or you would like to talk about it, please contact the group's organisers. Please take care of yourself.",
    ),
  );
  const why = String(reason || "").trim();
  if (why) ui.gone.append(el("p", "gone-reason", `Their note: ${why}`));
  ui.gone.hidden = false;
  ui.form.hidden = true;
  ui.hand.hidden = true;
  clearTypers();
  setMembers([]); // no longer in the room: who is there is not ours to see
  for (const node of ui.messages.querySelectorAll(".msg.failed .actions, .msg-actions")) node.remove();
  ownItems.clear();
  for (const item of outbox.splice(0)) clearTimeout(item.timer);
  try {
    sessionStorage.removeItem(`huddle:v1:room:${room}`);
  } catch {
    // nothing to forget
  }
  if (socket) socket.disconnect();
}

function onLive(name, payload) {
  if (!payload || typeof payload !== "object" || stopped) return;
  if (payload.room != null && payload.room !== room) return;
  if (!joined) {
    buffered.push([name, payload]); // replayed after the join ack, deduped by offset
    return;
  }
  dispatch(name, payload);
}

function dispatch(name, p) {
  switch (name) {
    case "message":
    case "room_event":
      if (hasOffset(p)) {
        if (p.offset <= lastOffset) return; // already shown (recovery, or a repeat)
        lastOffset = p.offset;
        if (typeof p.epoch === "string") epoch = p.epoch;
      }
      withScroll(() => applyEntry(p, { live: true }));
      scheduleSave();
      break;
    case "presence":
      onPresence(p);
      break;
    case "typing":
      onTyping(p);
      break;
    case "hand":
      onHand(p);
      break;
    case "notice":
      onNotice(p);
      break;
    case "alert":
      addAlert(p);
      break;
    default:
      break;
  }
}

function join() {
  if (stopped || !socket.connected) return;
  const seq = ++joinSeq;
  joined = false;
  buffered = [];
  setStatus("joining", "joining…");
  const payload = epoch !== null ? { room, since: { offset: lastOffset, epoch } } : { room };
  // Our messages still shown as waiting for review: the ack says what became of them.
  const held = heldQuery(ownItems.values());
  if (held.length > 0) payload.held = held;
  socket.timeout(ACK_TIMEOUT_MS).emit("join", payload, (err, ack) => {
    if (seq !== joinSeq || stopped) return;
    if (err) {
      if (socket.connected) setTimeout(() => seq === joinSeq && join(), RETRY_MS);
      return;
    }
    if (!ack || !ack.ok) {
      const error = (ack && ack.error) || {};
      if (error.code === "unavailable" || error.code === "rate_limited") {
        setStatus("joining", "joining… (the server is busy)");
        const wait = Number.isFinite(error.retry_after_s) ? error.retry_after_s * 1000 : RETRY_MS;
        setTimeout(() => seq === joinSeq && join(), Math.max(RETRY_MS, wait));
        return;
      }
      if (error.code === "forbidden" && /removed/i.test(String(error.message || ""))) {
        removedFromRoom(); // removed while we were away: same kind message, no retries
        return;
      }
      const text = errorText(error, "Could not join the room.");
      showError(text);
      stop("refused", text);
      socket.disconnect();
      return;
    }
    onJoined(ack);
  });
}

function applyRole(role) {
  const changed = role !== me.role;
  me.role = role;
  document.body.dataset.role = me.role;
  const fac = isFacilitator();
  ui.facil.hidden = !fac;
  ui.skipAlerts.hidden = !fac;
  if (changed) {
    refreshAllMessageActions();
    renderPinned();
  }
}

function onJoined(ack) {
  const r = ack.room || {};
  const list = Array.isArray(ack.entries) ? ack.entries : [];
  const continues = Boolean(ack.recovered) && epoch !== null && r.epoch === epoch;

  const you = r.you || {};
  if (you.role) applyRole(you.role);
  if (you.id != null && !me.id) me.id = String(you.id);
  if (you.name && !me.name) me.name = String(you.name);

  withScroll(
    () => {
      if (!continues) {
        resetTimeline();
        lastOffset = 0;
      }
      for (const e of list) {
        if (!hasOffset(e) || e.offset > lastOffset || !continues) applyEntry(e, { live: false });
      }
    },
    { force: !continues },
  );

  const newest = list.reduce((max, e) => (hasOffset(e) ? Math.max(max, e.offset) : max), 0);
  epoch = typeof r.epoch === "string" ? r.epoch : epoch;
  lastOffset = Math.max(Number.isInteger(r.offset) ? r.offset : 0, newest, continues ? lastOffset : 0);

  // `muted` says whether; `muted_until` says until when (null: until a facilitator unmutes).
  const muted = "muted" in you ? Boolean(you.muted) : you.muted_until != null && you.muted_until !== 0;
  mutedUntil = muted ? (Number.isFinite(you.muted_until) ? you.muted_until : null) : 0;
  if (!muted) muteReason = "";
  renderOwnMute();
  roomState = {
    locked: Boolean(r.locked),
    paused: Boolean(r.paused),
    slow_mode_s: Number(r.slow_mode_s) || 0,
    floor: r.floor ?? null,
  };
  if (Array.isArray(r.pinned)) {
    pinned.clear();
    for (const m of r.pinned) if (m && m.id != null) pinned.set(String(m.id), m);
    renderPinned();
  }
  if (Array.isArray(r.hands)) handQueue = r.hands.filter((u) => u && u.id != null);
  setMembers(r.members);
  setHandQueue(handQueue);
  if (isFacilitator()) setJoinAlerts(ack.held, ack.alerts);
  // After the entries: an approved message already in them has taken its placeholder's place.
  applyHeldStatus(ack.held_status);

  joined = true;
  serverKicks = 0;
  ui.hand.disabled = false;
  setStatus("connected", "connected");
  clearError();
  scheduleSave();

  const early = buffered;
  buffered = [];
  for (const [name, payload] of early) dispatch(name, payload);
  cache.clearRemoved(); // in the room: any old "you were removed" note is over
  pumpOutbox();
  if (isFacilitator()) loadAudit();
}

// ---------------------------------------------------------------------------------------
// Sending

function pendingNode(item) {
  const node = document.createElement("div");
  fillMessage(
    node,
    { user: { id: me.id, name: me.name || "You", role: me.role }, text: item.text, ts: item.ts, client_id: item.client_id },
    { state: "sending…" },
  );
  node.classList.add("pending");
  return node;
}

/**
 * Send the outbox one message at a time, in order: the next goes only after the previous
 * one's ack. After a rate limit or slow mode refusal the whole outbox waits the time the
 * server gave, then keeps at least that spacing while the backlog lasts, so a queue of
 * messages does not come back refused (and flagged as a flood) all at once.
 */
function pumpOutbox() {
  if (stopped || inFlight || outbox.length === 0) {
    if (outbox.length === 0) paceMs = 0;
    return;
  }
  if (!joined || !socket || !socket.connected) {
    for (const item of outbox) setPendingState(item, "sending…"); // sent after the next join
    return;
  }
  const now = Date.now();
  const due = Math.max(holdUntil, paceMs > 0 ? lastSentAt + paceMs : 0);
  if (now < due) {
    const label = holdRate || paceMs > 0 ? `waiting ${Math.ceil((due - now) / 1000)} s to send…` : "sending…";
    for (const item of outbox) setPendingState(item, label);
    clearTimeout(holdTimer);
    holdTimer = setTimeout(pumpOutbox, due - now);
    return;
  }
  holdRate = false;
  for (const item of outbox.slice(1)) setPendingState(item, "sending…");
  sendItem(outbox[0]);
}

/** The outbox waits `ms` before sending anything (the server said when, or is busy). */
function holdOutbox(ms, { rate = false } = {}) {
  holdUntil = Math.max(holdUntil, Date.now() + ms);
  holdRate = holdRate || rate;
}

function sendItem(item) {
  const attempt = ++item.attempt;
  inFlight = item;
  lastSentAt = Date.now();
  clearTimeout(item.timer);
  setPendingState(item, "sending…");
  const payload = { room, text: item.text, client_id: item.client_id };
  socket.timeout(ACK_TIMEOUT_MS).emit("message", payload, (err, ack) => {
    if (!outbox.includes(item)) return; // settled already (live echo or an earlier attempt)
    if (!err && ack && ack.ok) {
      // Any attempt's success settles it (the server answers a retry like the first).
      if (ack.held) heldOwn(item, ack);
      else confirmOwn(item, ack);
      return;
    }
    if (attempt !== item.attempt || inFlight !== item) return; // a superseded attempt
    inFlight = null;
    if (err) {
      // No answer in time: try again with the same client_id (or after the next join).
      holdOutbox(RETRY_MS);
      pumpOutbox();
      return;
    }
    const error = (ack && ack.error) || {};
    const wait = Number(error.retry_after_s);
    if (error.code === "unavailable") {
      holdOutbox(Math.max(RETRY_MS, Number.isFinite(wait) ? wait * 1000 : 0));
    } else if ((error.code === "rate_limited" || error.code === "slow_mode") && wait > 0 && wait <= AUTO_WAIT_MAX_S) {
      // A short wait: keep the message and send it by itself when allowed, in order.
      const ms = wait * 1000 + SEND_SLACK_MS;
      holdOutbox(ms, { rate: true });
      const slow = error.code === "slow_mode" ? (roomState.slow_mode_s || 0) * 1000 + SEND_SLACK_MS : 0;
      // Refused again while pacing: the spacing was too short, so widen it.
      paceMs = Math.max(paceMs > 0 ? paceMs + ms : ms, slow);
    } else if (error.code === "not_in_room") {
      join(); // our membership was lost (e.g. the server restarted): rejoin, then resend
      return;
    } else {
      failOwn(item, error);
    }
    pumpOutbox();
  });
}

function confirmOwn(item, ack) {
  takeOutbox(item.client_id);
  const m = {
    room,
    id: ack.id,
    offset: ack.offset,
    user: { id: me.id, name: me.name || "You", role: me.role },
    text: typeof ack.text === "string" ? ack.text : item.text,
    ts: item.ts,
    client_id: item.client_id,
  };
  withScroll(() => applyMessage(m, item));
  scheduleSave();
}

/** Accepted but held for a facilitator's review: it has no offset yet, and others do not see it. */
function heldOwn(item, ack) {
  takeOutbox(item.client_id);
  const own = { client_id: item.client_id, text: item.text, ts: item.ts, state: "held", reason: "", el: item.el };
  if (typeof ack.text === "string") {
    own.text = ack.text; // as moderation left it
    const text = item.el.querySelector(".text");
    if (text) text.textContent = ack.text;
  }
  setOwnState(own, "held");
}

function failOwn(item, error) {
  takeOutbox(item.client_id);
  const reason = errorText(error, "The message was not sent.");
  showError(reason, error.code || "");
  setOwnState({ client_id: item.client_id, text: item.text, ts: item.ts, state: "failed", reason, el: item.el }, "failed");
}

function submit() {
  if (stopped) return;
  const text = ui.composer.value.trim();
  if (!text) return;
  const length = lengthState(text);
  if (length.over > 0) {
    updateCounter();
    ui.composer.focus();
    return; // the counter says by how much; nothing is cut off
  }
  const item = { client_id: newClientId(), text, ts: Date.now(), attempt: 0, el: null, timer: null };
  item.el = pendingNode(item);
  withScroll(() => ui.messages.append(item.el), { force: true });
  outbox.push(item);
  saveNow();
  ui.composer.value = "";
  updateCounter();
  stopTyping();
  clearError();
  setPendingState(item, "sending…");
  pumpOutbox();
}

function emitTyping(active) {
  if (!joined || !socket.connected) return;
  socket.timeout(ACK_TIMEOUT_MS).emit("typing", { room, active }, () => {});
}

function stopTyping() {
  clearTimeout(typingIdleTimer);
  if (typingActive) {
    typingActive = false;
    typingSentAt = 0;
    emitTyping(false);
  }
}

function onComposerInput() {
  updateCounter();
  if (ui.composer.value.trim() === "") {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (joined && now - typingSentAt >= TYPING_EVERY_MS) {
    typingSentAt = now;
    typingActive = true;
    emitTyping(true);
  }
  clearTimeout(typingIdleTimer);
  typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

let wasTooLong = false;

/** Characters left near the limit; past it, by how much, with Send disabled until it fits. */
function updateCounter() {
  const state = lengthState(ui.composer.value);
  const over = state.over > 0;
  ui.counter.textContent = state.message;
  ui.counter.classList.toggle("over", over);
  ui.composer.setAttribute("aria-invalid", String(over));
  ui.send.disabled = over || stopped;
  if (over !== wasTooLong) {
    // Announced once when it starts or stops being too long, not on every key.
    ui.lengthLive.textContent = over
      ? `Your message is too long by ${state.over} character${state.over === 1 ? "" : "s"}. The longest is ${MAX_TEXT.toLocaleString("en")}.`
      : "Your message fits now.";
    wasTooLong = over;
  }
}

function emitHand(raised) {
  if (!joined || !socket.connected) return;
  socket.timeout(ACK_TIMEOUT_MS).emit("hand", { room, raised }, (err, ack) => {
    if (err) return;
    if (ack && ack.ok) {
      if (Array.isArray(ack.hands)) {
        setHandQueue(ack.hands);
      } else {
        const rest = handQueue.filter((u) => u.id !== me.id);
        setHandQueue(raised ? [...rest, { id: me.id, name: me.name, role: me.role }] : rest);
      }
      setHand(raised);
    } else {
      showError(errorText(ack && ack.error, "Could not change your hand."));
    }
  });
}

// ---------------------------------------------------------------------------------------
// Start

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
ui.composer.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    submit();
  }
});
ui.composer.addEventListener("input", onComposerInput);
ui.composer.addEventListener("blur", stopTyping);
ui.hand.addEventListener("click", () => emitHand(!handRaised));
ui.jump.addEventListener("click", () => {
  scrollToBottom();
  ui.messages.focus();
});
ui.messages.addEventListener("scroll", () => {
  if (isNearBottom()) ui.jump.hidden = true;
});
ui.lowerHands.addEventListener("click", () => {
  if (handQueue.length === 0) return;
  act(ui.lowerHands, "lower_hands", {}, "All hands are lowered.");
});
ui.lockButton.addEventListener("click", () => {
  const locked = !roomState.locked;
  act(ui.lockButton, "lock", { locked }, locked ? "The room is locked." : "The room is open again.");
});
ui.pauseButton.addEventListener("click", () => {
  const paused = !roomState.paused;
  act(ui.pauseButton, "pause", { paused }, paused ? "The room is paused." : "The room is running again.");
});
ui.slowSet.addEventListener("click", () => {
  const seconds = Number(ui.slowSelect.value) || 0;
  act(ui.slowSet, "slow_mode", { seconds }, seconds ? `Slow mode: one message every ${formatDuration(seconds)}.` : "Slow mode is off.");
});
ui.floorBack.addEventListener("click", () => act(ui.floorBack, "floor", { user_id: null }, "Everyone may speak again."));
ui.audit.addEventListener("toggle", () => {
  if (ui.audit.open) loadAudit();
});
ui.auditRefresh.addEventListener("click", loadAudit);
ui.auditAuto.addEventListener("change", renderAudit);
window.addEventListener("hashchange", () => location.reload());
window.addEventListener("pagehide", saveNow);
setInterval(() => {
  // Countdowns ("15 min left") move on; expiries also have their own exact timers.
  renderOwnMute();
  if (isFacilitator()) renderMembers();
}, TICK_MS);

let socket = null;

function start() {
  ui.roomName.textContent = room;
  document.title = room ? `huddle · ${room}` : "huddle";
  applyRole(me.role);
  if (!room || !token) {
    ui.roomName.textContent = "";
    stop("refused", "This link has no room or no token. Please open the link you were given.");
    showError("This link has no room or no token. Please open the link you were given.");
    return;
  }

  // Show what this tab had before a reload, then rejoin from that position.
  const saved = cache.load();
  if (saved) {
    epoch = saved.epoch;
    lastOffset = epoch ? saved.offset : 0;
    if (epoch) for (const e of saved.entries) applyEntry(e, { live: false });
    // Own messages without a place in the log come back in the order they were written.
    const own = [...saved.own.map((m) => ({ ...m, kind: "own" })), ...saved.outbox.map((m) => ({ ...m, kind: "outbox" }))];
    own.sort((x, y) => (x.ts || 0) - (y.ts || 0));
    for (const m of own) {
      if (m.kind === "own") {
        restoreOwn(m);
        continue;
      }
      const item = { client_id: m.client_id, text: m.text, ts: m.ts, attempt: 0, el: null, timer: null };
      item.el = pendingNode(item);
      ui.messages.append(item.el);
      outbox.push(item);
    }
    if (isFacilitator()) for (const a of saved.alerts) addAlert({ ...a, fromCache: true });
    scrollToBottom();
  }
  renderAlerts();
  renderControls();

  socket = io({
    auth: { token },
    transports: ["websocket", "polling"], // websocket first; polling if it cannot open
    tryAllTransports: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5_000,
    randomizationFactor: 0.5,
    timeout: ACK_TIMEOUT_MS,
  });

  socket.on("connect", join);
  socket.on("connect_error", (err) => {
    if (!socket.active) {
      // Refused by the server (bad or expired token …): the reason is for people.
      const raw = (err && err.message) || "The server refused the connection.";
      const text = refusalText(raw);
      const hint = text === raw && /^unauthorized/.test(raw) ? " Please ask your facilitator for a new link." : "";
      showError(text + hint);
      stop("refused", text);
    } else {
      setStatus("reconnecting", "reconnecting…");
    }
  });
  socket.on("disconnect", (reason) => {
    joined = false;
    inFlight = null; // its ack may never come: the next join sends it again (same client_id)
    joinSeq += 1;
    buffered = [];
    clearTypers();
    stopTyping();
    if (stopped) return;
    setStatus("reconnecting", "reconnecting…");
    if (reason === "io server disconnect") {
      // The server closed this session (e.g. it is draining): come back with a jittered
      // backoff so a whole room does not reconnect at the same instant.
      serverKicks += 1;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(serverKicks - 1, 5)) * (0.5 + Math.random());
      setTimeout(() => !stopped && !socket.connected && socket.connect(), delay);
    }
  });
  for (const name of ["message", "room_event", "presence", "typing", "hand", "notice", "alert"]) {
    socket.on(name, (payload) => onLive(name, payload));
  }
}

start();
