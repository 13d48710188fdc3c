// Notes for me: private notices folded into one "For you" item (#notices: the newest
// shown, a few lines with "Show more"; the earlier ones behind "N earlier notes"; crisis
// ones in a warm colour), the note after a facilitator removed me (#gone), and my own mute
// (#mute-state, by the message box, with its countdown and the composer's placeholder).
// The mute comes from the store's room slice; a timer redraws it at its exact end.

import { button, byId, createFolds, el } from "./dom.js";
import { describeOwnMute, muteLeft } from "./lib.js";

const MAX_NOTICES = 5;
const TICK_MS = 15_000; // countdowns are redrawn this often (the end has its own timer)
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's longest delay

export function createNotices({ store, feedback }) {
  const section = byId("notices");
  const list = byId("notice-list");
  const count = byId("notice-count");
  const older = byId("notices-older");
  const live = byId("notice-live");
  const muteState = byId("mute-state");
  const composer = byId("composer");
  const folds = createFolds();
  let showOlder = false;
  let muteTimer = null;

  /** Newest first; only the newest shows unless the earlier ones are opened. */
  function renderFold() {
    const items = [...list.children];
    items.forEach((node, i) => {
      node.classList.toggle("older", i > 0);
      node.hidden = i > 0 && !showOlder;
    });
    section.hidden = items.length === 0;
    count.textContent = items.length > 1 ? `(${items.length})` : "";
    const earlier = items.length - 1;
    older.hidden = earlier < 1;
    older.textContent = showOlder ? "Hide earlier notes" : `${earlier} earlier note${earlier === 1 ? "" : "s"}`;
    older.setAttribute("aria-expanded", String(showOlder));
  }

  /** actions: [{label, run}] buttons under the note (a question put to me); each
   * answer closes the note. */
  function showNotice(kind, text, actions = []) {
    const node = el("div", "notice");
    node.dataset.kind = String(kind || "info");
    const body = el("p", "notice-text", text || "");
    body.dir = "auto";
    const toggle = folds.fold(body, "this note");
    const main = el("div", "notice-main");
    main.append(body, toggle);
    const close = button("×", "dismiss", "Dismiss this note");
    close.addEventListener("click", () => {
      const next = node.nextElementSibling || node.previousElementSibling;
      folds.forget(body);
      node.remove();
      renderFold();
      // Focus stays in the fold (the next note's dismiss), else goes to the message box.
      const target = next && !next.hidden ? next.querySelector(".dismiss") : composer;
      if (target) target.focus();
    });
    node.append(main, close);
    if (actions.length) {
      const row = el("div", "notice-actions");
      for (const { label, run } of actions) {
        const b = button(label, "secondary small");
        b.addEventListener("click", async () => {
          await run();
          close.click();
        });
        row.append(b);
      }
      main.append(row);
    }
    list.prepend(node);
    while (list.children.length > MAX_NOTICES) {
      const oldest = list.lastElementChild;
      folds.forget(oldest.querySelector(".notice-text"));
      oldest.remove();
    }
    renderFold();
    // Announced once, in full, though the note itself is folded on screen.
    live.textContent = `A note for you: ${text || ""}`;
  }

  older.addEventListener("click", () => {
    showOlder = !showOlder;
    renderFold();
  });

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
    if (event.type === "notice") showNotice(event.payload.kind, event.payload.text, event.actions || []);
    if (event.type === "removed_from_room") showGone(event.reason);
    if (state.room.mute !== previous.room.mute) renderOwnMute();
  });
  setInterval(renderOwnMute, TICK_MS); // "15 min left" moves on
  renderOwnMute();
}
