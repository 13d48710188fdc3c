// Which panel shows where space is short. Facilitators on a phone see one panel at a
// time, chosen in #views (Chat, People, Needs attention, each with its count: who is
// here and how many hands are up, how many alerts are open; "People" also holds the
// group space); members on a phone have the list of who is here folded under its
// heading (#people-toggle). Anything that moves
// focus into a panel (a skip link, "Show message", a shortcut) sends a `huddle:reveal`
// DOM event naming the element, and the panel holding it is shown first. The view is
// body[data-view]; on wider screens every panel shows and it changes nothing.

import { byId } from "./dom.js";
import { isFacilitator } from "./store.js";

const PANEL_OF = [
  [".chat", "chat"],
  [".people", "people"],
  ["#facilitator", "attention"],
];

export function createViews({ store }) {
  const nav = byId("views");
  const buttons = [...nav.querySelectorAll(".view-button")];
  const peopleCount = byId("view-people-count");
  const attentionCount = byId("view-attention-count");
  const peopleToggle = byId("people-toggle");

  function select(view) {
    document.body.dataset.view = view;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.view === view));
  }

  function setPeopleOpen(open) {
    document.body.classList.toggle("people-open", open);
    peopleToggle.setAttribute("aria-expanded", String(open));
    peopleToggle.textContent = open ? "Hide" : "Show";
    peopleToggle.setAttribute("aria-label", open ? "Hide who's here" : "Show who's here");
  }

  for (const b of buttons) b.addEventListener("click", () => select(b.dataset.view));
  peopleToggle.addEventListener("click", () => setPeopleOpen(!document.body.classList.contains("people-open")));

  document.addEventListener("huddle:reveal", (event) => {
    const target = byId(event.detail && event.detail.id);
    if (!target) return;
    const found = PANEL_OF.find(([selector]) => target.closest(selector));
    if (found) select(found[1]);
    if (target.closest("#members")) setPeopleOpen(true);
  });

  function render(state) {
    nav.hidden = !isFacilitator(state);
    const members = state.people.members.length;
    const hands = state.people.hands.length;
    peopleCount.textContent = `(${members}${hands ? `, ${hands} ${hands === 1 ? "hand" : "hands"} up` : ""})`;
    const alerts = state.review.alerts;
    attentionCount.textContent = `(${alerts.length})`;
    const urgent = alerts.some((a) => a.kind === "crisis" || a.priority);
    buttons.find((b) => b.dataset.view === "attention").classList.toggle("has-priority", urgent);
  }

  select("chat");
  setPeopleOpen(false);
  store.subscribe((state, event, previous) => {
    if (state.people !== previous.people || state.review.alerts !== previous.review.alerts || state.self.role !== previous.self.role) render(state);
  });
  render(store.getState());
}
