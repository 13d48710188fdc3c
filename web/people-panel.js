// The people panel: who is in the room (#members, with badges for facilitators, raised
// hands, the floor and, for facilitators, mutes), my own hand (#hand), and who is typing
// (#typing). Facilitators also see people come and go ("joined 10:02", "reconnecting…",
// "left 10:15"; anyone with an open alert stays listed and marked) and hear arrivals and
// raised hands announced politely (#people-live). Facilitators' per-member actions come
// from the facilitator module. The list is updated in place, so an open disclosure and
// keyboard focus survive presence changes.

import { byId, el, reconcile } from "./dom.js";
import { errorText } from "./feedback.js";
import { arrivalLine, formatTime, mutedUntilOf, typingLine } from "./lib.js";
import { hasHand, nameOf, presenceChanges, roster, rosterChangesAt } from "./people.js";
import { isFacilitator } from "./store.js";

const TYPING_EXPIRE_MS = 5_000; // others' "is typing" disappears without an update
const TICK_MS = 15_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createPeoplePanel({ store, request, feedback }) {
  const list = byId("members");
  const count = byId("member-count");
  const hand = byId("hand");
  const typing = byId("typing");
  const live = byId("people-live");
  const memberNodes = new Map(); // user id -> {li, name, badges, actions}
  const typingTimers = new Map(); // user id -> timer
  let memberActions = null; // (member) -> {box, update(member)}, from the facilitator module
  let mutesTimer = null;
  let rosterTimer = null;
  let joinedOnce = false;

  function memberNode(m, state) {
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
    const own = m.id === state.self.id;
    const presence = m.presence || "here";
    n.li.classList.toggle("facilitator", m.role === "facilitator");
    n.li.classList.toggle("own", own);
    n.li.dataset.presence = presence;
    n.name.textContent = m.name || "Someone";

    const badges = [];
    if (own) badges.push(el("span", "you", "(you)"));
    if (m.role === "facilitator") badges.push(el("span", "badge", "facilitator"));
    if (presence === "reconnecting") badges.push(el("span", "badge presence-badge", "reconnecting…"));
    else if (presence === "left") badges.push(el("span", "badge presence-badge", `left ${formatTime(m.since)}`));
    else if (m.since != null) badges.push(el("span", "badge presence-badge arrived", `joined ${formatTime(m.since)}`));
    if (m.alert) badges.push(el("span", "badge alert-badge", "open alert"));
    if (hasHand(state.people, m.id)) badges.push(el("span", "badge hand-up", "hand raised"));
    if (state.room.flags.floor === m.id) badges.push(el("span", "badge floor-badge", "has the floor"));
    if (isFacilitator(state) && m.role !== "facilitator") {
      const until = mutedUntilOf(state.room.moderation.mutes, m.id);
      if (until !== 0) badges.push(el("span", "badge muted-badge", until === null ? "muted" : `muted until ${formatTime(until)}`));
    }
    n.badges.replaceChildren(...badges);

    const canAct = Boolean(memberActions) && isFacilitator(state) && !own && m.role !== "facilitator";
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

  /** Facilitators: redraw the list when the next member's timed mute ends. */
  function scheduleMuteExpiry(state) {
    clearTimeout(mutesTimer);
    const now = Date.now();
    const next = Math.min(...[...state.room.moderation.mutes.values()].filter((u) => Number.isFinite(u) && u > now));
    if (Number.isFinite(next)) mutesTimer = setTimeout(render, Math.min(MAX_TIMER_MS, next - now + 50));
  }

  function render() {
    const state = store.getState();
    const now = Date.now();
    const facilitator = isFacilitator(state);
    if (facilitator) scheduleMuteExpiry(state);
    // Members see who is here; facilitators also who came and went.
    const people = facilitator ? roster(state, now) : state.people.members;
    const nodes = people.map((m) => memberNode(m, state));
    const shown = new Set(people.map((m) => m.id));
    for (const id of [...memberNodes.keys()]) if (!shown.has(id)) memberNodes.delete(id);
    reconcile(list, nodes);
    const here = state.people.members.length;
    count.textContent = here ? `(${here})` : "";
    clearTimeout(rosterTimer);
    const next = facilitator ? rosterChangesAt(state, now) : null;
    if (next !== null) rosterTimer = setTimeout(render, Math.min(MAX_TIMER_MS, next - now + 50));
  }

  /** Facilitators hear arrivals (not a quick reconnect) and raised hands, politely. */
  function announce(state, event, previous) {
    if (!isFacilitator(state)) return;
    const p = event.payload || {};
    if (event.type === "presence" && state.people.arrived !== previous.people.arrived) {
      // Several may arrive in one event (a server gathers a short window's comings and goings).
      const { arrived } = state.people;
      const isNew = (id) => arrived.has(id) && arrived.get(id) !== previous.people.arrived.get(id);
      const names = presenceChanges(p)
        .filter((c) => c.joined && isNew(String(c.joined.id)))
        .map((c) => c.joined.name || nameOf(state, c.joined.id) || "Someone");
      if (names.length) live.textContent = arrivalLine([...new Set(names)]);
    }
    if (event.type === "hand" && p.raised && p.user && p.user.id !== state.self.id) {
      const place = state.people.hands.findIndex((u) => u.id === String(p.user.id)) + 1;
      live.textContent = `${p.user.name || nameOf(state, p.user.id) || "Someone"} raised their hand${place > 1 ? ` (${place} in the queue)` : ""}.`;
    }
  }

  function renderHand(state) {
    const raised = Boolean(state.self.id) && hasHand(state.people, state.self.id);
    hand.setAttribute("aria-pressed", String(raised));
    hand.textContent = raised ? "Lower hand" : "Raise hand";
    hand.disabled = state.self.stopped || !joinedOnce;
    // Facilitators run the queue; they have no hand of their own to raise.
    hand.hidden = state.self.status === "removed" || isFacilitator(state);
  }

  function renderTyping(state) {
    typing.textContent = typingLine([...state.people.typing.values()]);
  }

  async function toggleHand() {
    const state = store.getState();
    const raised = !hasHand(state.people, state.self.id);
    const ack = await request("hand", { raised });
    if (ack.ok) {
      const me = store.getState().self;
      const payload = Array.isArray(ack.hands) ? { hands: ack.hands } : { user: { id: me.id, name: me.name, role: me.role }, raised };
      store.dispatch({ type: "hand", payload });
    } else if (!(ack.error && ack.error.local)) {
      feedback.showError(errorText(ack.error, "Could not change your hand."));
    }
  }

  hand.addEventListener("click", toggleHand);

  store.subscribe((state, event, previous) => {
    if (event.type === "joined") joinedOnce = true;
    if (event.type === "hand" && event.payload.cleared && !isFacilitator(state)) {
      feedback.say(`${(event.payload.by && event.payload.by.name) || "A facilitator"} lowered all hands.`);
    }
    if (event.type === "typing" && event.payload.active && state.people.typing !== previous.people.typing) {
      const id = event.payload.user.id;
      clearTimeout(typingTimers.get(id));
      typingTimers.set(id, setTimeout(() => store.dispatch({ type: "typing_expired", id }), TYPING_EXPIRE_MS));
    }
    announce(state, event, previous);
    if (
      state.people !== previous.people ||
      state.room.flags !== previous.room.flags ||
      state.room.moderation !== previous.room.moderation ||
      state.review.alerts !== previous.review.alerts ||
      state.self !== previous.self
    ) {
      render();
      renderHand(state);
    }
    if (state.people.typing !== previous.people.typing) renderTyping(state);
  });
  setInterval(() => {
    // Mute countdowns on the badges move on; expiries also have their own exact timer.
    if (isFacilitator(store.getState())) render();
  }, TICK_MS);

  return {
    /** The facilitator module's per-member actions (mute, floor, remove). */
    setMemberActions(fn) {
      memberActions = fn;
      render();
    },
  };
}
