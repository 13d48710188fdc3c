// The facilitator tools, loaded with import() only after a join ack says this person is a
// facilitator of the room. Mounts the alerts, room controls and activity log panels, and
// gives the people panel its per-member actions and the conversation its per-message
// actions (pin, delete).

import { createAlertsPanel } from "./alerts-panel.js";
import { createAuditPanel } from "./audit-panel.js";
import { createControlsPanel } from "./controls-panel.js";
import { button, byId, confirmInline, el, reasonField } from "./dom.js";
import { mutedUntilOf } from "./lib.js";
import { nameOf } from "./people.js";
import { messagePanel } from "./conversation.js";

const MUTE_CHOICES = [5, 15, 60]; // minutes

/** A facilitator's actions on one member, in a disclosure so the list stays calm. */
function memberActions(m, { store, feedback }) {
  const userId = m.id;
  const who = () => nameOf(store.getState(), userId) || "this member";
  const floor = () => store.getState().room.flags.floor;
  const box = el("details", "member-actions");
  const summary = el("summary", "member-actions-toggle");
  summary.append("Actions");
  const forWhom = el("span", "visually-hidden");
  summary.append(forWhom);
  const body = el("div", "member-actions-body");

  const { label: reasonLabel, input: reason } = reasonField(`reason-${CSS.escape(userId)}`, "reason-label", "reason", "Reason (optional)");
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
      feedback.act(b, "mute", payload, `${who()} is muted for ${min} min.`).then((ack) => {
        if (ack && ack.ok) reason.value = "";
      });
    });
    muteGroup.append(b);
    return b;
  });

  const unmute = button("Unmute", "secondary small");
  unmute.dataset.action = "unmute";
  unmute.addEventListener("click", () => feedback.act(unmute, "unmute", { user_id: userId }, `${who()} can post again.`));

  const floorButton = button("Give the floor", "secondary small");
  floorButton.dataset.action = "floor";
  floorButton.addEventListener("click", () => {
    const has = floor() === userId;
    feedback.act(floorButton, "floor", { user_id: has ? null : userId }, has ? "Everyone may speak again." : `${who()} has the floor.`);
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
      return feedback.act(yes, "remove", payload, `${who()} was removed. You can let them back in from “Removed from this room”.`);
    }),
  );

  const row = el("div", "member-actions-row");
  row.append(unmute, floorButton);
  body.append(reasonLabel, reason, muteGroup, row, removeRow, removePanel);
  box.append(summary, body);

  function update(current) {
    forWhom.textContent = ` for ${current.name || "this member"}`;
    muteButtons.forEach((b, i) => b.setAttribute("aria-label", `Mute ${current.name || "this member"} for ${MUTE_CHOICES[i]} min`));
    unmute.hidden = mutedUntilOf(store.getState().room.moderation.mutes, userId) === 0;
    floorButton.textContent = floor() === userId ? "Take the floor back" : "Give the floor";
  }
  return { box, update };
}

/**
 * Pin/Unpin and Delete… for a logged message: items of its actions menu (the conversation
 * draws the menu). `origin()` is the menu's button, where focus goes back to.
 */
function messageActions(node, m, origin, { store, feedback }) {
  const s = store.getState();
  const id = String(m.id);
  const isPinned = s.room.pins.has(id);
  const pin = button(isPinned ? "Unpin" : "Pin", "act act-pin");
  pin.dataset.action = isPinned ? "unpin" : "pin";
  pin.addEventListener("click", () => {
    const unpin = store.getState().room.pins.has(id);
    feedback.act(pin, unpin ? "unpin" : "pin", { id }, unpin ? "Message unpinned." : "Message pinned for everyone.");
  });
  const del = button("Delete…", "act act-delete");
  del.dataset.action = "delete";
  del.addEventListener("click", () =>
    confirmInline(messagePanel(node), origin(), "Delete this message for everyone?", "Delete", (yes) =>
      feedback.act(yes, "delete", { id }, "Message deleted."),
    ),
  );
  return [pin, del];
}

/** Show the facilitator column and wire its panels; returns what a new join needs. */
export function mountFacilitator({ store, feedback, request, conversation, peoplePanel, room }) {
  const ctx = { store, feedback };
  const column = byId("facilitator");
  const skip = byId("skip-alerts");
  const controls = createControlsPanel(ctx);
  const audit = createAuditPanel({ store, request, readmit: controls.readmit });
  createAlertsPanel({ store, feedback, room, showMessage: conversation.showMessage, refreshAudit: audit.refreshSoon });
  peoplePanel.setMemberActions((m) => memberActions(m, ctx));
  conversation.setFacilitatorActions((node, m, origin) => messageActions(node, m, origin, ctx));

  function show(state) {
    const on = state.self.role === "facilitator";
    column.hidden = !on;
    skip.hidden = !on;
  }
  store.subscribe((state, event, previous) => {
    if (state.self.role !== previous.self.role) show(state);
  });
  show(store.getState());
  return { joined: audit.load };
}
