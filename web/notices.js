// Notes for me: private notices (#notices, dismissible; crisis ones in a warm colour),
// the note after a facilitator removed me (#gone), and my own mute (#mute-state with its countdown, the composer's placeholder). The mute
// comes from the store's room slice; a timer redraws it at its exact end.

import { button, byId, el } from "./dom.js";
import { describeOwnMute, muteLeft } from "./lib.js";

const MAX_NOTICES = 5;
const TICK_MS = 15_000; // countdowns are redrawn this often (the end has its own timer)
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's longest delay

export function createNotices({ store, feedback }) {
  const notices = byId("notices");
  const muteState = byId("mute-state");
  const composer = byId("composer");
  let muteTimer = null;

  function showNotice(kind, text) {
    const node = el("div", "notice");
    node.dataset.kind = String(kind || "info");
    const body = el("p", "notice-text", text || "");
    body.dir = "auto";
    node.append(body);
    const close = button("×", "dismiss", "Dismiss this note");
    close.addEventListener("click", () => node.remove());
    node.append(close);
    notices.append(node);
    while (notices.children.length > MAX_NOTICES) notices.firstElementChild.remove();
  }

  function renderOwnMute() {
    const { until, reason } = store.getState().room.mute;
    // A timed mute ends at its exact time, not at the next tick.
    clearTimeout(muteTimer);
    if (Number.isFinite(until) && until > Date.now()) {
      muteTimer = setTimeout(() => {
        renderOwnMute();
        feedback.clearStaleError();
      }, Math.min(MAX_TIMER_MS, until - Date.now() + 50));
    }
    const text = describeOwnMute(until, reason);
    muteState.textContent = text;
    document.body.classList.toggle("is-muted", text !== "");
    composer.placeholder = text ? (until === null ? "You are muted for now" : `You are muted for ${muteLeft(until)} more`) : "Write a message…";
  }

  /** Removed by a facilitator: a kind note in place of the message box. */
  function showGone(reason) {
    const gone = byId("gone");
    gone.replaceChildren(
      el("p", "gone-title", "A facilitator has removed you from this room for now."),
      el(
        "p",
        "gone-text",
        "You can't read or post new messages here at the moment. If you think this was a mistake, or you would like to talk about it, please contact the group's organisers. Please take care of yourself.",
      ),
    );
    const why = String(reason || "").trim();
    if (why) gone.append(el("p", "gone-reason", `Their note: ${why}`));
    gone.hidden = false;
  }

  store.subscribe((state, event, previous) => {
    if (event.type === "notice") showNotice(event.payload.kind, event.payload.text);
    if (event.type === "removed_from_room") showGone(event.reason);
    if (state.room.mute !== previous.room.mute) renderOwnMute();
  });
  setInterval(renderOwnMute, TICK_MS); // "15 min left" moves on
  renderOwnMute();
}
