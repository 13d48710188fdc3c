// Facilitators: "Needs attention" (#alerts), drawn from the store's review slice. Cards
// are kept by key and reordered in place, so focus stays; when the focused card goes,
// focus moves to the next button in the panel. The page title shows the count.

import { byId, reconcile } from "./dom.js";
import { alertTitle } from "./review-text.js";
import { nameOf } from "./people.js";
import { alertCard, alertWho } from "./alert-cards.js";

export function createAlertsPanel({ store, feedback, showMessage, room, refreshAudit }) {
  const panel = byId("alerts");
  const list = byId("alert-list");
  const count = byId("alert-count");
  const empty = byId("alerts-empty");
  const cards = new Map(); // key -> {alert, node}
  const nameNow = (id) => nameOf(store.getState(), id);

  /** Closed here for good (the server agreed, or it no longer has it). */
  const settled = (ack) => ack && (ack.ok || (ack.error && ack.error.code === "invalid_payload"));

  const handlers = {
    async review(a, approve, btn) {
      const ack = await feedback.act(
        btn,
        "review",
        { id: String(a.entry.id), approve },
        approve ? "Shared with the group." : "Not shared. They have been told privately.",
      );
      if (settled(ack)) store.dispatch({ type: "alert_closed", key: a.key });
    },
    async done(a, btn) {
      if (a.id == null) {
        store.dispatch({ type: "alert_closed", key: a.key }); // only this tab knew of it
        return;
      }
      // Kept by the server: closing it closes it for every facilitator.
      const ack = await feedback.act(btn, "dismiss_alert", { id: a.id }, "Marked as done.");
      if (settled(ack)) store.dispatch({ type: "alert_closed", key: a.key });
    },
    show: showMessage,
  };

  function render(alerts) {
    const focusInside = list.contains(document.activeElement);
    const nodes = alerts.map((a) => {
      let card = cards.get(a.key);
      // New, or changed (a join ack's copy of the same alert is equal and keeps its node).
      if (!card || (card.alert !== a && JSON.stringify(card.alert) !== JSON.stringify(a))) {
        card = { alert: a, node: alertCard(a, { nameOf: nameNow, handlers }) };
        cards.set(a.key, card);
      }
      return card.node;
    });
    const keys = new Set(alerts.map((a) => a.key));
    for (const key of [...cards.keys()]) if (!keys.has(key)) cards.delete(key);
    reconcile(list, nodes);
    empty.hidden = nodes.length > 0;
    count.textContent = nodes.length ? `(${nodes.length})` : "";
    panel.classList.toggle("has-priority", alerts.some((a) => a.kind === "crisis" || a.priority));
    document.title = `${nodes.length ? `(${nodes.length}) ` : ""}huddle · ${room}`;
    if (focusInside && !list.contains(document.activeElement)) {
      const next = list.querySelector("button");
      (next || panel).focus();
    }
  }

  /** Say what changed, politely: a new card, or one another facilitator dealt with. */
  function announce(state, event, previous) {
    const a = event.payload;
    const me = state.self.id;
    const gone = previous.review.alerts.length - state.review.alerts.length;
    if (a.kind === "dismissed") {
      if (gone > 0 && a.by && a.by.id !== me) feedback.say(`${a.by.name || "Another facilitator"} dealt with an alert.`);
      refreshAudit();
      return;
    }
    if (a.kind === "reviewed") {
      if (gone > 0) feedback.say(`${(a.by && a.by.name) || "Another facilitator"} already reviewed a held message.`);
      refreshAudit();
      return;
    }
    const item = state.review.alerts.find((x) => !previous.review.alerts.some((y) => y.key === x.key));
    if (item && a.fromCache !== true) {
      const who = alertWho(item, nameNow);
      feedback.say(`New: ${alertTitle(item.kind)}${who ? ` (${who})` : ""}.`);
    }
    if (a.kind === "report") refreshAudit();
  }

  store.subscribe((state, event, previous) => {
    if (state.review.alerts !== previous.review.alerts) render(state.review.alerts);
    if (event.type === "alert" && event.payload && typeof event.payload === "object") announce(state, event, previous);
  });
  render(store.getState().review.alerts);
}
