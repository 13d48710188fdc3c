// Keyboard shortcuts (Alt+Shift+a letter, by physical key, so they never fire while
// someone types and work on any layout) and the dialog that lists them (#shortcuts,
// opened from the header's "Keyboard shortcuts" or Alt+Shift+K). Each shortcut first
// shows the panel that holds its target (the `huddle:reveal` event, views.js).

import { byId } from "./dom.js";
import { isFacilitator } from "./store.js";

export function createShortcuts({ store, conversation }) {
  const dialog = byId("shortcuts");
  const opener = byId("shortcuts-open");
  let returnTo = null;

  const reveal = (id) => document.dispatchEvent(new CustomEvent("huddle:reveal", { detail: { id } }));

  function openHelp() {
    if (dialog.open) return;
    returnTo = document.activeElement;
    dialog.showModal();
  }

  dialog.addEventListener("close", () => {
    const back = returnTo && returnTo.isConnected ? returnTo : opener;
    returnTo = null;
    if (back && typeof back.focus === "function") back.focus();
  });
  opener.addEventListener("click", openHelp);

  const keys = {
    KeyM: () => {
      reveal("composer");
      byId("composer").focus();
    },
    KeyL: () => {
      reveal("messages");
      conversation.focusNewest();
    },
    KeyA: () => {
      if (!isFacilitator(store.getState())) return false;
      reveal("alerts");
      byId("alerts").focus();
      return true;
    },
    KeyK: openHelp,
  };

  document.addEventListener("keydown", (event) => {
    if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) return;
    const run = keys[event.code];
    if (!run) return;
    if (run() === false) return;
    event.preventDefault();
  });
}
