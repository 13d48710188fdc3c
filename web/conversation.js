// The conversation (#messages): logged messages and room changes in offset order, my own
// messages that are still on their way ("sending…") or have no place in the log (held for
// review, not shared, not sent) where I wrote them, the deleted-message placeholder, the
// per-message actions (report; pin and delete come from the facilitator module) and the
// "New messages below" button. It draws what the store says; the only state it keeps is
// which DOM node shows which of my own messages.

import { button, byId, el, reasonField } from "./dom.js";
import { describeEvent, formatTime, hasOffset, HISTORY_GAP_TEXT, isRoomEvent } from "./lib.js";
import { QUIET_KINDS } from "./meeting.js";
import { nameOf } from "./people.js";
import { createMessageMenus } from "./message-menu.js";
import { isFacilitator } from "./store.js";

const NEAR_BOTTOM_PX = 80;
const REMOVED_TEXT = "A facilitator removed this message.";

function offsetOf(node) {
  const value = node.dataset.offset;
  return value ? Number(value) : null;
}

/** The row under a message's text for a confirmation or the report form. */
export function messagePanel(node) {
  let panel = node.querySelector(":scope > .msg-panel");
  if (!panel) {
    panel = el("div", "msg-panel");
    node.append(panel);
  }
  return panel;
}

/** The line left where a deleted message was, so its author knows it was not a glitch. */
function removedLine(offset, id) {
  const line = el("div", "sys removed-msg", REMOVED_TEXT);
  line.dataset.kind = "message_removed";
  line.dataset.offset = String(offset);
  if (id != null) line.dataset.removedId = String(id);
  return line;
}

/**
 * Where a fresh history page starts after the earlier one was lost or trimmed: one calm
 * line, at offset 0 so every entry of the new page goes after it.
 */
function gapLine(gap) {
  const line = el("div", "sys history-gap", HISTORY_GAP_TEXT[gap]);
  line.dataset.kind = "history_gap";
  line.dataset.gap = gap;
  line.dataset.offset = "0";
  line.setAttribute("role", "note");
  return line;
}

/**
 * store, feedback ({say, act}); onEditFailed(text): "Edit and resend" puts a message that
 * was not sent back into the composer.
 */
export function createConversation({ store, feedback, onEditFailed }) {
  const box = byId("messages");
  const jump = byId("jump");
  const ownNodes = new Map(); // client_id -> node, for my pending, held, not-shared and failed messages
  let facilitatorActions = null; // (node, message, origin) -> [item buttons], once the facilitator module is loaded
  const menus = createMessageMenus(box);

  // -------------------------------------------------------------------------------------
  // Scrolling: new messages scroll into view only when you are already at the bottom.
  // Whether you are is remembered from your own scrolling (`stuck`), not measured after
  // the fact: a note or a pin appearing above the log makes it shorter without anyone
  // scrolling, and the newest message must stay in view then too.

  let stuck = true;
  let lastTop = 0;

  function isNearBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    box.scrollTop = box.scrollHeight;
    stuck = true;
    jump.hidden = true;
  }

  /** Run a change to the message list, keeping the view at the bottom if it was there. */
  function withScroll(change, { force = false } = {}) {
    const stick = force || stuck || isNearBottom();
    change();
    if (stick) scrollToBottom();
    else jump.hidden = false;
  }

  jump.addEventListener("click", () => {
    scrollToBottom();
    box.focus();
  });
  box.addEventListener("scroll", () => {
    // Only scrolling up leaves the bottom: content added below (which fires no scroll)
    // or a scroll event arriving after it must not count as the person leaving.
    if (isNearBottom()) stuck = true;
    else if (box.scrollTop < lastTop) stuck = false;
    lastTop = box.scrollTop;
    if (stuck) jump.hidden = true;
  });
  if (typeof ResizeObserver === "function") {
    // The log got shorter or taller (a note, a pin, the keyboard on a phone): keep the
    // newest message in view if it was; otherwise say there is more below.
    new ResizeObserver(() => {
      if (stuck) scrollToBottom();
      else if (!isNearBottom()) jump.hidden = false;
    }).observe(box);
  }

  // -------------------------------------------------------------------------------------
  // Placement

  /**
   * The node a logged entry with `offset` goes after (null: first in the log). Pending
   * ("sending…") nodes always stay below the log. My own settled message without an
   * offset (held, not shared, not sent) stays where it was written: later entries go after
   * it, older ones before it.
   */
  function anchorFor(offset, exclude) {
    let prev = box.lastElementChild;
    while (prev) {
      if (prev !== exclude) {
        const at = offsetOf(prev);
        if (at !== null) {
          if (at <= offset) return prev;
        } else if (!prev.classList.contains("pending")) {
          let before = prev.previousElementSibling;
          while (before && (before === exclude || offsetOf(before) === null)) before = before.previousElementSibling;
          if (!before || offsetOf(before) <= offset) return prev;
        }
      }
      prev = prev.previousElementSibling;
    }
    return null;
  }

  function insertByOffset(node, offset) {
    const anchor = anchorFor(offset, node);
    box.insertBefore(node, anchor ? anchor.nextElementSibling : box.firstElementChild);
  }

  function place(node, offset) {
    if (node.parentNode === box && node.previousElementSibling === anchorFor(offset, node)) return;
    node.remove();
    insertByOffset(node, offset);
  }

  function messageNodeById(id) {
    return box.querySelector(`.msg[data-id="${CSS.escape(String(id))}"]`);
  }

  function findMessageNode(m) {
    if (hasOffset(m)) {
      const node = box.querySelector(`.msg[data-offset="${m.offset}"]`);
      if (node) return node;
    }
    return m.id != null ? messageNodeById(m.id) : null;
  }

  // -------------------------------------------------------------------------------------
  // Messages

  function fillMessage(node, m, { state = "" } = {}) {
    const s = store.getState();
    const user = m.user || {};
    const own = Boolean(s.self.id) && user.id === s.self.id;
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
    if (m.id != null && s.room.pins.has(String(m.id))) meta.append(el("span", "badge pin-badge", "pinned"));
    meta.append(el("span", "state", state));

    const text = el("p", "text", typeof m.text === "string" ? m.text : "");
    text.dir = "auto";
    node.replaceChildren(meta, text);
    const actions = messageActions(node, m);
    if (actions) node.append(actions);
    return node;
  }

  /** The message's one actions button and its menu, or null when there is nothing to do. */
  function messageActions(node, m) {
    if (m.id == null || !hasOffset(m)) return null; // pending, held or failed: nothing to act on
    const s = store.getState();
    const user = m.user || {};
    const own = Boolean(s.self.id) && user.id === s.self.id;
    const origin = () => node.querySelector(".msg-menu-button");
    let items = [];
    if (isFacilitator(s)) {
      if (facilitatorActions) items = facilitatorActions(node, m, origin);
    } else if (!own && user.role !== "facilitator") {
      // Members report other members' words; not their own, nor the facilitators' (ground rules).
      const report = button("Report…", "act act-report");
      report.dataset.action = "report";
      report.addEventListener("click", () => reportForm(messagePanel(node), origin(), String(m.id)));
      items = [report];
    }
    if (items.length === 0) return null;
    const who = own ? "your message" : `message from ${user.name || "someone"}`;
    return menus.actions(`${who} at ${formatTime(m.ts)}`, items);
  }

  function reportForm(panel, origin, id) {
    const form = el("form", "report-form");
    const { label, input } = reasonField(`report-${id}`, "report-label", "report-reason", "What worries you about it? (optional)");
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
      const ack = await feedback.act(send, "report", reason ? { id, reason } : { id }, null);
      if (ack && ack.ok) {
        const thanks = el("span", "reported", "Thank you. The facilitators have been told.");
        thanks.tabIndex = -1;
        panel.replaceChildren(thanks);
        thanks.focus();
        feedback.say("Thank you. The facilitators have been told.");
      }
    });
    form.append(label, input, send, cancel);
    panel.replaceChildren(form);
    (panel.closest(".msg") || panel).scrollIntoView({ block: "nearest" });
    input.focus();
  }

  /** The role or the facilitator tools changed: redraw the actions of messages shown. */
  function refreshAllMessageActions() {
    const entries = store.getState().timeline.entries;
    for (const node of box.querySelectorAll(".msg[data-offset]")) {
      const entry = entries.find((e) => !isRoomEvent(e) && String(e.offset) === node.dataset.offset);
      if (!entry) continue;
      const old = node.querySelector(".msg-actions");
      if (old) old.remove();
      const actions = messageActions(node, entry);
      if (actions) node.insertBefore(actions, node.querySelector(":scope > .msg-panel"));
    }
    menus.sync();
  }

  /** Pins changed: update every message's Pin/Unpin button and pinned badge. */
  function refreshPinMarks(pins) {
    for (const node of box.querySelectorAll(".msg[data-id]")) {
      const isPinned = pins.has(node.dataset.id);
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

  /** Bring a message into view and focus it (from a pin or an alert). */
  function showMessage(id) {
    const node = messageNodeById(id);
    if (!node) {
      feedback.say("That message is no longer in the conversation.", { error: true });
      return;
    }
    document.dispatchEvent(new CustomEvent("huddle:reveal", { detail: { id: "messages" } }));
    for (const old of box.querySelectorAll(".msg.spotlight")) old.classList.remove("spotlight");
    node.classList.add("spotlight");
    node.tabIndex = -1;
    node.scrollIntoView({ block: "center" });
    node.focus({ preventScroll: true });
    setTimeout(() => node.classList.remove("spotlight"), 6000);
  }

  function drawMessage(m, state) {
    let node = findMessageNode(m);
    let ownNode = null;
    if (m.client_id && state.self.id && m.user && m.user.id === state.self.id && ownNodes.has(m.client_id)) {
      // My message (pending, or held and now approved) takes its place in the log.
      ownNode = ownNodes.get(m.client_id);
      ownNodes.delete(m.client_id);
    }
    if (node && ownNode && node !== ownNode) ownNode.remove();
    node = node || ownNode || document.createElement("div");
    fillMessage(node, m);
    if (hasOffset(m)) place(node, m.offset);
    else if (!node.parentNode) box.append(node);
  }

  function removeMessage(id) {
    const node = messageNodeById(String(id));
    const offset = node ? offsetOf(node) : null;
    if (node && offset !== null) node.replaceWith(removedLine(offset, String(id)));
    else if (node) node.remove();
  }

  function drawRoomEvent(e, state) {
    if (QUIET_KINDS.has(e.kind)) return; // shown by the meeting panel, not as a line
    if (e.kind === "deleted") {
      removeMessage(e.id); // its placeholder line says what happened
      return;
    }
    if (e.kind === "message_removed") {
      // Our own placeholder for a deleted message (from this tab's cache).
      const old = box.querySelector(`[data-offset="${e.offset}"]`);
      if (old) old.remove();
      insertByOffset(removedLine(e.offset, e.id), e.offset);
      return;
    }
    // A mute is between the member and the facilitators: announcing it to the whole group
    // would feel like being told off in public (the member's own banner says it to them).
    const target = e.user_id ?? (e.user && e.user.id);
    if ((e.kind === "muted" || e.kind === "unmuted") && !isFacilitator(state) && target !== state.self.id) return;
    const line = el("div", "sys", describeEvent(e, (id) => nameOf(state, id)));
    line.dataset.kind = String(e.kind);
    if (Number.isFinite(e.ts)) line.dataset.ts = String(e.ts);
    if (hasOffset(e)) {
      line.dataset.offset = String(e.offset);
      const old = box.querySelector(`.sys[data-offset="${e.offset}"]`);
      if (old) old.remove();
      insertByOffset(line, e.offset);
    } else {
      box.append(line);
    }
  }

  // -------------------------------------------------------------------------------------
  // My own messages: on their way, or without a place in the log

  function ownNode(item, stateText) {
    const node = document.createElement("div");
    const s = store.getState();
    fillMessage(
      node,
      { user: { id: s.self.id, name: s.self.name || "You", role: s.self.role }, text: item.text, ts: item.ts, client_id: item.client_id },
      { state: stateText },
    );
    return node;
  }

  /** A message just written (or kept in the outbox across a reload): "sending…" below the log. */
  function addPending(item) {
    const node = ownNode(item, "sending…");
    node.classList.add("pending");
    ownNodes.set(item.client_id, node);
    withScroll(() => box.append(node), { force: true }); // what you just wrote is in view
  }

  function setPendingLabel(clientId, label) {
    const node = ownNodes.get(clientId);
    if (!node) return;
    node.classList.add("pending");
    const stateNode = node.querySelector(".state");
    if (stateNode) stateNode.textContent = label;
  }

  /** "Edit and resend" and "Discard" under a message that was not sent. */
  function failedActions(item) {
    const actions = el("div", "actions");
    const edit = button("Edit and resend", "secondary");
    edit.addEventListener("click", () => {
      store.dispatch({ type: "own_forgotten", client_id: item.client_id });
      onEditFailed(item.text);
    });
    const discard = button("Discard", "secondary");
    discard.addEventListener("click", () => {
      store.dispatch({ type: "own_forgotten", client_id: item.client_id });
      onEditFailed(null);
    });
    actions.append(edit, discard);
    return actions;
  }

  /** Back where it was written: after the last logged line sent before it (pending ones stay below). */
  function placeRestored(node, ts) {
    let prev = box.lastElementChild;
    while (prev && (prev.classList.contains("pending") || Number(prev.dataset.ts || 0) > (ts || 0))) {
      prev = prev.previousElementSibling;
    }
    box.insertBefore(node, prev ? prev.nextElementSibling : box.firstElementChild);
  }

  function drawOwn(item) {
    let node = ownNodes.get(item.client_id);
    if (!node) {
      node = ownNode(item, "");
      ownNodes.set(item.client_id, node);
      placeRestored(node, item.ts);
    }
    const text = node.querySelector(".text");
    if (text && text.textContent !== item.text) text.textContent = item.text; // as moderation left it
    node.classList.remove("pending", "held", "not-shared", "failed");
    node.classList.add(item.state);
    const stateNode = node.querySelector(".state");
    if (stateNode) stateNode.textContent = item.label;
    if (item.state === "failed" && !node.querySelector(":scope > .actions")) node.append(failedActions(item));
  }

  // -------------------------------------------------------------------------------------

  store.subscribe((state, event, previous) => {
    switch (event.type) {
      case "timeline_reset": {
        // A fresh history page follows: keep only my own messages. When the earlier
        // history is gone (the ack's `history`), say so where the new page starts.
        const keep = new Set(ownNodes.values());
        for (const node of [...box.children]) if (!keep.has(node)) node.remove();
        if (state.timeline.gap) box.prepend(gapLine(state.timeline.gap));
        break;
      }
      case "entry":
        if (event.entry.thread) break; // a private check-in: the meeting panel shows it
        if (isRoomEvent(event.entry)) drawRoomEvent(event.entry, state);
        else drawMessage(event.entry, state);
        break;
      case "own_forgotten": {
        const node = ownNodes.get(event.client_id);
        if (node) node.remove();
        ownNodes.delete(event.client_id);
        break;
      }
      case "removed_from_room":
        for (const node of box.querySelectorAll(".msg.failed .actions, .msg-actions")) node.remove();
        break;
      default:
        break;
    }
    // Held, not shared, not sent, or reviewed: draw what changed.
    if (state.timeline.own !== previous.timeline.own) {
      for (const item of state.timeline.own.values()) if (previous.timeline.own.get(item.client_id) !== item) drawOwn(item);
    }
    if (state.room.pins !== previous.room.pins) refreshPinMarks(state.room.pins);
    if (state.self.role !== previous.self.role) refreshAllMessageActions();
    else if (event.type === "entry" || event.type === "timeline_reset" || event.type === "removed_from_room") menus.sync();
  });

  return {
    withScroll,
    scrollToBottom,
    /** A shortcut: the newest message's actions, else the log itself. */
    focusNewest() {
      scrollToBottom();
      if (!menus.focusNewest()) box.focus();
    },
    showMessage,
    addPending,
    setPendingLabel,
    /** The facilitator module's pin/delete actions for each message. */
    setFacilitatorActions(fn) {
      facilitatorActions = fn;
      refreshAllMessageActions();
    },
  };
}
