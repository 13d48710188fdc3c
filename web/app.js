// huddle browser client: one room per tab, driven by the link's fragment
// (#room=<id>&token=<JWT>). Protocol: /work/shared/DESIGN.md section 3, summary in
// docs/web-client.md. All user-supplied text is rendered with textContent, never as HTML.

import { io } from "/vendor/socket.io.esm.min.js";
import {
  MAX_TEXT,
  RoomCache,
  describeEvent,
  describeRoomState,
  formatTime,
  hasOffset,
  isRoomEvent,
  newClientId,
  parseFragment,
  readClaims,
  typingLine,
} from "/web/lib.js";

const ACK_TIMEOUT_MS = 10_000; // no ack by then: keep "sending…" and retry (same client_id)
const RETRY_MS = 3_000; // retry delay while still connected
const TYPING_EVERY_MS = 2_000; // at most one typing:true per this while typing
const TYPING_IDLE_MS = 3_000; // typing:false after this long without input
const TYPING_EXPIRE_MS = 5_000; // others' "is typing" disappears without an update
const NEAR_BOTTOM_PX = 80;
const MAX_NOTICES = 5;
const MAX_ALERTS = 20;
const AUTO_WAIT_MAX_S = 30; // rate limit / slow mode waits up to this resend by themselves

const $ = (id) => document.getElementById(id);
const ui = {
  roomName: $("room-name"),
  status: $("status"),
  members: $("members"),
  memberCount: $("member-count"),
  hand: $("hand"),
  notices: $("notices"),
  alerts: $("alerts"),
  alertList: $("alert-list"),
  pinned: $("pinned"),
  pinnedList: $("pinned-list"),
  roomstate: $("roomstate"),
  messages: $("messages"),
  jump: $("jump"),
  typing: $("typing"),
  error: $("error"),
  form: $("compose"),
  composer: $("composer"),
  send: $("send"),
  counter: $("counter"),
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

// ---------------------------------------------------------------------------------------
// State

let epoch = null; // the room log's epoch we are positioned in
let lastOffset = 0; // highest offset seen in that epoch
let entries = []; // the shown log entries (messages and room changes), in offset order
const outbox = []; // own messages not acknowledged yet: {client_id, text, ts, attempt, el, timer}
let members = []; // [{id, name, role}]
const hands = new Set(); // user ids with a raised hand
const typers = new Map(); // user id -> {name, timer}
const pinned = new Map(); // message id -> message entry
let roomState = { locked: false, paused: false, slow_mode_s: 0, floor: null };
let mutedUntil = 0; // 0: not muted; null: muted until unmuted; else ms since the epoch

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
let holdUntil = 0; // rate limited or slow mode: the outbox waits until then (ms since the epoch)
let holdTimer = null;

// ---------------------------------------------------------------------------------------
// Rendering helpers (textContent only)

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  document.body.dataset.connection = state;
}

function showError(message) {
  ui.error.textContent = message || "";
}

function clearError() {
  ui.error.textContent = "";
}

function errorText(error, fallback) {
  if (!error) return fallback;
  let text = error.message || error.code || fallback;
  if (Number.isFinite(error.retry_after_s) && error.retry_after_s > 0 && !/\d/.test(text)) {
    text += ` (try again in ${Math.ceil(error.retry_after_s)} s)`;
  }
  return text;
}

function nameOf(userId) {
  const member = members.find((m) => m.id === userId);
  if (member) return member.name;
  if (userId === me.id) return me.name || "You";
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

/** Is `node` in offset order, before every pending ("sending…") node? */
function isPlaced(node, offset) {
  const prev = node.previousElementSibling;
  if (prev && (offsetOf(prev) === null || offsetOf(prev) > offset)) return false;
  let next = node.nextElementSibling;
  while (next && offsetOf(next) === null) next = next.nextElementSibling;
  return !(next && offsetOf(next) < offset);
}

/** Put a node with an offset in order, before any pending ("sending…") messages. */
function insertByOffset(node, offset) {
  const box = ui.messages;
  let prev = box.lastElementChild;
  while (prev && (offsetOf(prev) === null || offsetOf(prev) > offset)) prev = prev.previousElementSibling;
  box.insertBefore(node, prev ? prev.nextElementSibling : box.firstElementChild);
}

function place(node, offset) {
  if (node.parentNode === ui.messages && isPlaced(node, offset)) return;
  node.remove();
  insertByOffset(node, offset);
}

function fillMessage(node, m, { state = "" } = {}) {
  const user = m.user || {};
  const own = Boolean(me.id) && user.id === me.id;
  node.className = "msg";
  node.classList.toggle("own", own);
  node.classList.toggle("by-facilitator", user.role === "facilitator");
  node.classList.toggle("held", Boolean(m.held));
  if (hasOffset(m)) node.dataset.offset = String(m.offset);
  else delete node.dataset.offset;
  if (m.id != null) node.dataset.id = String(m.id);
  else delete node.dataset.id;
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
  const stateNode = el("span", "state", state);
  meta.append(stateNode);

  const text = el("p", "text", typeof m.text === "string" ? m.text : "");
  text.dir = "auto";
  node.replaceChildren(meta, text);
  return node;
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
  if (m.id != null) {
    return ui.messages.querySelector(`.msg[data-id="${CSS.escape(String(m.id))}"]`);
  }
  return null;
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
  return item;
}

/** Show a message entry; `own` is the outbox item when it comes from our ack. */
function applyMessage(m, own = null) {
  let node = findMessageNode(m);
  let ownNode = own ? own.el : null;
  if (!own && m.client_id && me.id && m.user && m.user.id === me.id) {
    const item = takeOutbox(m.client_id);
    if (item) ownNode = item.el;
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

function removeMessage(id) {
  const key = String(id);
  const node = ui.messages.querySelector(`.msg[data-id="${CSS.escape(key)}"]`);
  if (node) node.remove();
  entries = entries.filter((e) => isRoomEvent(e) || String(e.id) !== key);
  if (pinned.delete(key)) renderPinned();
}

function applyRoomEvent(e, { live }) {
  const target = e.user_id ?? (e.user && e.user.id);
  switch (e.kind) {
    case "deleted":
      removeMessage(e.id);
      return; // no system line: the message just goes away
    case "pinned": {
      const msg = e.entry || entries.find((x) => !isRoomEvent(x) && String(x.id) === String(e.id));
      if (msg) pinned.set(String(e.id), msg);
      renderPinned();
      break;
    }
    case "unpinned":
      pinned.delete(String(e.id));
      renderPinned();
      break;
    case "muted":
      if (target === me.id) mutedUntil = Number.isFinite(e.until) ? e.until : null;
      break;
    case "unmuted":
      if (target === me.id) mutedUntil = 0;
      break;
    case "locked":
      roomState.locked = Boolean(e.locked);
      break;
    case "paused":
      roomState.paused = Boolean(e.paused);
      break;
    case "slow_mode":
      roomState.slow_mode_s = Number(e.slow_mode_s) || 0;
      break;
    case "floor":
      roomState.floor = target ?? null;
      break;
    case "removed":
      if (live && target === me.id) removedFromRoom();
      break;
    default:
      break;
  }
  renderRoomState();
  const line = el("div", "sys", describeEvent(e, nameOf));
  line.dataset.kind = String(e.kind);
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

function applyEntry(entry, { live }) {
  if (!entry || typeof entry !== "object") return;
  if (isRoomEvent(entry)) applyRoomEvent(entry, { live });
  else applyMessage(entry);
}

/** Forget what is shown (a fresh history page follows); pending own messages stay. */
function resetTimeline() {
  for (const node of [...ui.messages.children]) {
    if (!node.classList.contains("pending")) node.remove();
  }
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
  cache.save({ epoch, offset: lastOffset, entries, outbox });
}

// ---------------------------------------------------------------------------------------
// Members, typing, hands, pins, room state, notices, alerts

function sortMembers(list) {
  return [...list].sort(
    (a, b) => (a.role !== "facilitator") - (b.role !== "facilitator") || String(a.name).localeCompare(String(b.name)),
  );
}

function renderMembers() {
  const items = members.map((m) => {
    const li = el("li", "member");
    li.dataset.userId = String(m.id);
    li.classList.toggle("facilitator", m.role === "facilitator");
    li.classList.toggle("own", m.id === me.id);
    li.append(el("span", "member-name", m.name || "Someone"));
    if (m.id === me.id) li.append(el("span", "you", "(you)"));
    if (m.role === "facilitator") li.append(el("span", "badge", "facilitator"));
    if (hands.has(m.id)) li.append(el("span", "badge hand-up", "hand raised"));
    return li;
  });
  ui.members.replaceChildren(...items);
  ui.memberCount.textContent = members.length ? `(${members.length})` : "";
}

function setMembers(list) {
  members = sortMembers((Array.isArray(list) ? list : []).filter((m) => m && m.id != null));
  const present = new Set(members.map((m) => m.id));
  for (const id of [...hands]) if (!present.has(id)) hands.delete(id);
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
  if (p.left) {
    hands.delete(p.left.id);
    stopTyper(p.left.id);
    renderMembers();
  }
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

function onHand(p) {
  const user = p.user || {};
  if (user.id == null) return;
  if (p.raised) hands.add(user.id);
  else hands.delete(user.id);
  if (user.id === me.id) setHand(Boolean(p.raised));
  renderMembers();
}

function setHand(raised) {
  handRaised = raised;
  ui.hand.setAttribute("aria-pressed", String(raised));
  ui.hand.textContent = raised ? "Lower hand" : "Raise hand";
}

function renderPinned() {
  const items = [...pinned.values()].map((m) => {
    const li = el("li", "pin");
    li.dataset.id = String(m.id);
    li.append(el("span", "name", (m.user && m.user.name) || "Someone"));
    const text = el("span", "text", m.text || "");
    text.dir = "auto";
    li.append(text);
    return li;
  });
  ui.pinnedList.replaceChildren(...items);
  ui.pinned.hidden = items.length === 0;
}

function renderRoomState() {
  const line = describeRoomState({
    ...roomState,
    floorName: roomState.floor ? nameOf(roomState.floor) || "Someone" : "",
    mutedUntil,
  });
  ui.roomstate.textContent = line;
  ui.roomstate.hidden = line === "";
}

function dismissible(node) {
  const close = el("button", "dismiss", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
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
  ui.notices.append(dismissible(node));
  while (ui.notices.children.length > MAX_NOTICES) ui.notices.firstElementChild.remove();
}

function showAlert(a) {
  if (me.role !== "facilitator") return;
  const li = el("li", "alert");
  li.dataset.kind = String(a.kind || "alert");
  li.append(el("strong", "alert-kind", a.kind || "alert"));
  const entry = a.entry || {};
  const who = (entry.user && entry.user.name) || (a.user && a.user.name) || "";
  if (entry.text != null) {
    const text = el("span", "alert-text", `${who || "Someone"}: ${entry.text}`);
    text.dir = "auto";
    li.append(text);
  } else if (who) {
    li.append(el("span", "alert-text", who));
  }
  if (a.reason) li.append(el("span", "alert-reason", a.reason));
  li.append(el("time", "time", formatTime(entry.ts)));
  ui.alertList.prepend(dismissible(li));
  while (ui.alertList.children.length > MAX_ALERTS) ui.alertList.lastElementChild.remove();
  ui.alerts.hidden = false;
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

function removedFromRoom() {
  stop("removed", "A facilitator has removed you from this room.");
  showError("A facilitator has removed you from this room.");
  socket.disconnect();
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
      showNotice(p.kind, p.text);
      break;
    case "alert":
      showAlert(p);
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
      const text = errorText(error, "Could not join the room.");
      showError(text);
      stop("refused", text);
      socket.disconnect();
      return;
    }
    onJoined(ack);
  });
}

function onJoined(ack) {
  const r = ack.room || {};
  const list = Array.isArray(ack.entries) ? ack.entries : [];
  const continues = Boolean(ack.recovered) && epoch !== null && r.epoch === epoch;

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

  const you = r.you || {};
  if (you.role) me.role = you.role;
  if (you.id != null && !me.id) me.id = String(you.id);
  if (you.name && !me.name) me.name = String(you.name);
  // `muted` says whether; `muted_until` says until when (null: until a facilitator unmutes).
  const muted = "muted" in you ? Boolean(you.muted) : you.muted_until != null && you.muted_until !== 0;
  mutedUntil = muted ? (Number.isFinite(you.muted_until) ? you.muted_until : null) : 0;
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
  setMembers(r.members);
  ui.alerts.hidden = me.role !== "facilitator" || ui.alertList.children.length === 0;
  document.body.dataset.role = me.role;

  joined = true;
  serverKicks = 0;
  ui.hand.disabled = false;
  setStatus("connected", "connected");
  clearError();
  scheduleSave();

  const early = buffered;
  buffered = [];
  for (const [name, payload] of early) dispatch(name, payload);
  if (handRaised) emitHand(true); // a raised hand is ephemeral: tell the room again
  flushOutbox();
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

function flushOutbox() {
  for (const item of [...outbox]) trySend(item);
}

/** Wait before sending anything more (the server said when), then send in order. */
function holdOutbox(seconds) {
  holdUntil = Math.max(holdUntil, Date.now() + seconds * 1000);
  clearTimeout(holdTimer);
  holdTimer = setTimeout(flushOutbox, holdUntil - Date.now() + 150);
}

function trySend(item) {
  if (!joined || !socket.connected) {
    setPendingState(item, "sending…"); // sent after the next join, with the same client_id
    return;
  }
  if (Date.now() < holdUntil) {
    setPendingState(item, `waiting ${Math.ceil((holdUntil - Date.now()) / 1000)} s to send…`);
    return;
  }
  const attempt = ++item.attempt;
  clearTimeout(item.timer);
  const payload = { room, text: item.text, client_id: item.client_id };
  socket.timeout(ACK_TIMEOUT_MS).emit("message", payload, (err, ack) => {
    if (!outbox.includes(item)) return; // settled already (live echo or an earlier attempt)
    if (err) {
      if (attempt !== item.attempt) return;
      setPendingState(item, "sending…");
      if (joined && socket.connected) item.timer = setTimeout(() => trySend(item), RETRY_MS);
      return; // otherwise the next join sends it again
    }
    if (ack && ack.ok && ack.held) {
      heldOwn(item, ack);
      return;
    }
    if (ack && ack.ok) {
      confirmOwn(item, ack);
      return;
    }
    if (attempt !== item.attempt) return;
    const error = (ack && ack.error) || {};
    if (error.code === "unavailable") {
      setPendingState(item, "sending…");
      const wait = Number.isFinite(error.retry_after_s) ? error.retry_after_s * 1000 : RETRY_MS;
      item.timer = setTimeout(() => trySend(item), Math.max(RETRY_MS, wait));
      return;
    }
    const wait = Number(error.retry_after_s);
    if ((error.code === "rate_limited" || error.code === "slow_mode") && wait > 0 && wait <= AUTO_WAIT_MAX_S) {
      // A short wait: keep the message and send it by itself when allowed, in order.
      holdOutbox(wait);
      setPendingState(item, `waiting ${Math.ceil(wait)} s to send…`);
      return;
    }
    if (error.code === "not_in_room") {
      setPendingState(item, "sending…");
      join(); // our membership was lost (e.g. the server restarted): rejoin, then resend
      return;
    }
    failOwn(item, error);
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
  scheduleSave();
  const node = item.el;
  node.classList.remove("pending");
  node.classList.add("held");
  if (typeof ack.text === "string") {
    const text = node.querySelector(".text");
    if (text) text.textContent = ack.text;
  }
  const stateNode = node.querySelector(".state");
  if (stateNode) stateNode.textContent = "waiting for a facilitator to review it";
}

function failOwn(item, error) {
  takeOutbox(item.client_id);
  scheduleSave();
  const reason = errorText(error, "The message was not sent.");
  showError(reason);
  const node = item.el;
  node.classList.remove("pending");
  node.classList.add("failed");
  const stateNode = node.querySelector(".state");
  if (stateNode) stateNode.textContent = "not sent";
  const actions = el("div", "actions");
  const edit = el("button", "secondary", "Edit and resend");
  edit.type = "button";
  edit.addEventListener("click", () => {
    if (ui.composer.value.trim() === "") ui.composer.value = item.text;
    else ui.composer.value = `${ui.composer.value}\n${item.text}`;
    node.remove();
    updateCounter();
    ui.composer.focus();
  });
  const discard = el("button", "secondary", "Discard");
  discard.type = "button";
  discard.addEventListener("click", () => node.remove());
  actions.append(edit, discard);
  node.append(actions);
}

function submit() {
  if (stopped) return;
  const text = ui.composer.value.trim();
  if (!text) return;
  if (text.length > MAX_TEXT) {
    showError(`A message can be up to ${MAX_TEXT} characters.`);
    return;
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
  trySend(item);
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

function updateCounter() {
  const left = MAX_TEXT - ui.composer.value.length;
  ui.counter.textContent = left <= 200 ? `${left} characters left` : "";
}

function emitHand(raised) {
  if (!joined || !socket.connected) return;
  socket.timeout(ACK_TIMEOUT_MS).emit("hand", { room, raised }, (err, ack) => {
    if (err) return;
    if (ack && ack.ok) {
      setHand(raised);
      if (raised) hands.add(me.id);
      else hands.delete(me.id);
      renderMembers();
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
window.addEventListener("hashchange", () => location.reload());
window.addEventListener("pagehide", saveNow);

let socket = null;

function start() {
  ui.roomName.textContent = room;
  document.title = room ? `huddle · ${room}` : "huddle";
  document.body.dataset.role = me.role;
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
    for (const m of saved.outbox) {
      const item = { client_id: m.client_id, text: m.text, ts: m.ts, attempt: 0, el: null, timer: null };
      item.el = pendingNode(item);
      ui.messages.append(item.el);
      outbox.push(item);
    }
    scrollToBottom();
  }

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
      const text = (err && err.message) || "The server refused the connection.";
      const hint = /^unauthorized/.test(text) ? " Please ask your facilitator for a new link." : "";
      showError(text + hint);
      stop("refused", text);
    } else {
      setStatus("reconnecting", "reconnecting…");
    }
  });
  socket.on("disconnect", (reason) => {
    joined = false;
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
