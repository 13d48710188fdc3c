// Facilitators: the room controls (#room-controls: lock, pause, slow mode, taking the
// floor back, clearing the conversation), the queue of raised hands (#hands, each with "Give the floor", and "Lower
// all hands") and the members removed from the room (#removed, "Let back in"). Drawn
// from the store; every button sends one request through feedback.act.

import { button, byId, confirmInline, el } from "./dom.js";
import { formatDuration } from "./lib.js";
import { HISTORY } from "./meeting.js";
import { nameOf } from "./people.js";

export function createControlsPanel({ store, feedback }) {
  const ui = {
    lockState: byId("lock-state"),
    lockButton: byId("ctl-lock"),
    pauseState: byId("pause-state"),
    pauseButton: byId("ctl-pause"),
    slowSelect: byId("ctl-slow"),
    slowSet: byId("ctl-slow-set"),
    floorRow: byId("floor-row"),
    floorState: byId("floor-state"),
    floorBack: byId("ctl-floor-back"),
    handsBox: byId("hands"),
    handsEmpty: byId("hands-empty"),
    handList: byId("hand-list"),
    lowerHands: byId("lower-hands"),
    removedBox: byId("removed"),
    removedList: byId("removed-list"),
  };
  const flags = () => store.getState().room.flags;
  const nameNow = (id) => nameOf(store.getState(), id);

  function readmit(userId, btn) {
    const name = nameNow(userId) || userId;
    return feedback.act(btn, "readmit", { user_id: userId }, `${name} may rejoin the room with their link.`);
  }

  function renderControls(state, previous) {
    const f = state.room.flags;
    ui.lockState.textContent = f.locked ? "Locked: only facilitators can post" : "Open to everyone";
    ui.lockButton.textContent = f.locked ? "Unlock" : "Lock";
    ui.lockButton.setAttribute("aria-label", f.locked ? "Unlock the room" : "Lock the room");
    ui.pauseState.textContent = f.paused ? "Paused" : "Running";
    ui.pauseButton.textContent = f.paused ? "Resume" : "Pause";
    ui.pauseButton.setAttribute("aria-label", f.paused ? "Resume the room" : "Pause the room");
    const slow = String(f.slow_mode_s || 0);
    if (![...ui.slowSelect.options].some((o) => o.value === slow)) {
      ui.slowSelect.append(new Option(formatDuration(Number(slow)), slow));
    }
    // Follow the room's slow mode only when it changes: another room event arriving
    // between the facilitator's choice and "Set" must not put the old value back.
    const changed = !previous || String(previous.room.flags.slow_mode_s || 0) !== slow;
    if (changed && document.activeElement !== ui.slowSelect) ui.slowSelect.value = slow;
    ui.floorRow.hidden = !f.floor;
    ui.floorState.textContent = f.floor ? `${nameOf(state, f.floor) || "Someone"} has the floor` : "";
  }

  /** The queue of raised hands, in order, each with "Give the floor". */
  function renderHands(state) {
    ui.handsBox.hidden = false;
    const present = new Set(state.people.members.map((m) => m.id));
    const items = state.people.hands.map((u) => {
      const li = el("li", "hand-item");
      li.dataset.userId = u.id;
      const name = el("span", "hand-name", nameOf(state, u.id) || u.name || "Someone");
      li.append(name);
      if (!present.has(u.id)) li.append(el("span", "you", "(not here)"));
      if (state.room.flags.floor === u.id) {
        li.append(el("span", "badge floor-badge", "has the floor"));
      } else if (u.role !== "facilitator" && u.id !== state.self.id) {
        const give = button("Give the floor", "secondary small", `Give the floor to ${name.textContent}`);
        give.addEventListener("click", () => feedback.act(give, "floor", { user_id: u.id }, `${name.textContent} has the floor.`));
        li.append(give);
      }
      return li;
    });
    ui.handList.replaceChildren(...items);
    ui.handsEmpty.hidden = items.length > 0;
    ui.lowerHands.setAttribute("aria-disabled", String(items.length === 0));
  }

  function renderRemoved(state) {
    const removed = state.room.moderation.removed;
    const items = [...removed.keys()].map((id) => {
      const li = el("li", "removed-item");
      li.dataset.userId = id;
      const name = nameOf(state, id) || (removed.get(id) || {}).name || id;
      li.append(el("span", "member-name", name));
      const back = button("Let back in", "secondary small", `Let back in: ${name}`);
      back.dataset.action = "readmit";
      back.addEventListener("click", () => readmit(id, back));
      li.append(back);
      return li;
    });
    ui.removedList.replaceChildren(...items);
    ui.removedBox.hidden = items.length === 0;
  }

  function renderAll(state, previous) {
    renderControls(state, previous);
    renderHands(state);
    renderRemoved(state);
  }

  ui.lowerHands.addEventListener("click", () => {
    if (store.getState().people.hands.length === 0) return;
    feedback.act(ui.lowerHands, "lower_hands", {}, "All hands are lowered.");
  });
  ui.lockButton.addEventListener("click", () => {
    const locked = !flags().locked;
    feedback.act(ui.lockButton, "lock", { locked }, locked ? "The room is locked." : "The room is open again.");
  });
  ui.pauseButton.addEventListener("click", () => {
    const paused = !flags().paused;
    feedback.act(ui.pauseButton, "pause", { paused }, paused ? "The room is paused." : "The room is running again.");
  });
  ui.slowSet.addEventListener("click", () => {
    const seconds = Number(ui.slowSelect.value) || 0;
    feedback.act(ui.slowSet, "slow_mode", { seconds }, seconds ? `Slow mode: one message every ${formatDuration(seconds)}.` : "Slow mode is off.");
  });
  ui.floorBack.addEventListener("click", () => feedback.act(ui.floorBack, "floor", { user_id: null }, "Everyone may speak again."));
  const historySelect = byId("ctl-history");
  for (const [mode, label] of Object.entries(HISTORY)) {
    const option = el("option", "", label);
    option.value = mode;
    historySelect.append(option);
  }
  const historyOf = (state) => (state.meeting && state.meeting.meeting && state.meeting.meeting.history) || "kept";
  historySelect.value = historyOf(store.getState());
  store.subscribe((state, event, previous) => {
    // Follow the room only when its setting changes (not on every update: a choice being made stays).
    if (historyOf(state) !== historyOf(previous)) historySelect.value = historyOf(state);
  });
  const historySet = byId("ctl-history-set");
  historySet.addEventListener("click", () =>
    feedback.act(historySet, "history", { mode: historySelect.value }, `History: ${HISTORY[historySelect.value]}.`),
  );
  const clear = byId("ctl-clear");
  clear.addEventListener("click", () =>
    confirmInline(
      byId("ctl-clear-confirm"),
      clear,
      "Clear the whole conversation for everyone? What was said is erased and cannot be brought back. The group space stays.",
      "Clear the conversation",
      (yes) => feedback.act(yes, "clear", {}, "The conversation is cleared."),
    ),
  );

  store.subscribe((state, event, previous) => {
    if (state.room !== previous.room || state.people !== previous.people || state.self !== previous.self) renderAll(state, previous);
  });
  renderAll(store.getState());
  return { readmit };
}
