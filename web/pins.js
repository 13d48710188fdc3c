// Above the log: the pinned messages (#pinned, a bar that folds away with "Hide"; each pin
// a few lines with "Show more", then "Show", and "Unpin" for facilitators) and the room's
// state in one line (#roomstate: locked, paused, slow mode, who has the floor). Drawn from
// the store's room slice.

import { button, byId, createFolds, el } from "./dom.js";
import { describeRoomState } from "./lib.js";
import { nameOf } from "./people.js";
import { isFacilitator } from "./store.js";

export function createPins({ store, feedback, showMessage }) {
  const panel = byId("pinned");
  const list = byId("pinned-list");
  const count = byId("pinned-count");
  const toggle = byId("pinned-toggle");
  const roomstate = byId("roomstate");
  const folds = createFolds();
  let open = true; // the bar's list; folded away, only "Pinned (n)" stays

  function renderOpen() {
    list.hidden = !open;
    panel.classList.toggle("folded", !open);
    toggle.textContent = open ? "Hide" : "Show";
    toggle.setAttribute("aria-label", open ? "Hide the pinned messages" : "Show the pinned messages");
    toggle.setAttribute("aria-expanded", String(open));
  }

  function renderPinned(state) {
    for (const old of list.querySelectorAll(".pin .text")) folds.forget(old);
    const items = [...state.room.pins.values()].map((m) => {
      const who = (m.user && m.user.name) || "someone";
      const li = el("li", "pin");
      li.dataset.id = String(m.id);
      const body = el("div", "pin-body");
      body.append(el("span", "name", (m.user && m.user.name) || "Someone"));
      const text = el("span", "text", m.text || "");
      text.dir = "auto";
      body.append(text, folds.fold(text, `the pinned message from ${who}`));
      const actions = el("div", "pin-actions");
      const show = button("Show", "secondary small", `Show the pinned message from ${who}`);
      show.addEventListener("click", () => showMessage(m.id));
      actions.append(show);
      if (isFacilitator(state)) {
        const unpin = button("Unpin", "secondary small", `Unpin the message from ${who}`);
        unpin.addEventListener("click", () => feedback.act(unpin, "unpin", { id: String(m.id) }, "Message unpinned."));
        actions.append(unpin);
      }
      li.append(body, actions);
      return li;
    });
    list.replaceChildren(...items);
    panel.hidden = items.length === 0;
    count.textContent = items.length ? `(${items.length})` : "";
  }

  function renderRoomState(state) {
    const flags = state.room.flags;
    const line = describeRoomState({
      ...flags,
      floorIsYou: Boolean(state.self.id) && flags.floor === state.self.id,
      floorName: flags.floor ? nameOf(state, flags.floor) || "Someone" : "",
      mutedUntil: 0, // your own mute has its own, fuller line (#mute-state)
    });
    roomstate.textContent = line;
    roomstate.hidden = line === "";
  }

  toggle.addEventListener("click", () => {
    open = !open;
    renderOpen();
  });
  renderOpen();

  store.subscribe((state, event, previous) => {
    if (state.room.pins !== previous.room.pins || state.self.role !== previous.self.role) renderPinned(state);
    if (state.room.flags !== previous.room.flags || state.people !== previous.people || state.self !== previous.self) {
      renderRoomState(state);
    }
  });
}
