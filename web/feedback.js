// What the page tells the person about itself: the connection line (#status), the last
// refusal (#error, cleared when what it described ends) and the outcome of an action
// (#action-status, which clears itself). `act` runs a request from a button.

import { byId } from "./dom.js";
import { ERROR_TEXT } from "./lib.js";
import { isMuted } from "./room.js";

const STATUS_MS = 7_000; // how long an action's confirmation stays

/** A refusal in words: the server's own message, else the plain words for its code (never a bare code). */
export function errorText(error, fallback) {
  if (!error) return fallback;
  let text = error.message || ERROR_TEXT[error.code] || fallback;
  if (Number.isFinite(error.retry_after_s) && error.retry_after_s > 0 && !/\d/.test(text)) {
    text += ` (try again in ${Math.ceil(error.retry_after_s)} s)`;
  }
  return text;
}

export function createFeedback({ store, request }) {
  const status = byId("status");
  const error = byId("error");
  const actionStatus = byId("action-status");
  let errorCause = ""; // the refusal code behind #error, so it can go when its reason ends
  let statusTimer = null;
  let statusHolds = null; // what #action-status claims holds only while this is true of the state

  function showError(message, cause = "") {
    error.textContent = message || "";
    errorCause = message ? cause : "";
  }

  function clearError() {
    showError("");
  }

  /** The refusal in #error described a situation (muted, locked …) that has ended: clear it. */
  function clearStaleError() {
    if (!errorCause || !error.textContent) return;
    const state = store.getState();
    const flags = state.room.flags;
    const floorElsewhere = flags.floor != null && flags.floor !== state.self.id;
    const ended = {
      muted: !isMuted(state.room, Date.now()),
      room_locked: !flags.locked && !flags.paused && !floorElsewhere,
      slow_mode: !(flags.slow_mode_s > 0),
    };
    if (ended[errorCause]) clearError();
  }

  /**
   * A short confirmation (or a refusal) after an action, announced politely. `holds`: what
   * it says is true only while holds(state) is; it goes as soon as that stops, so it never
   * contradicts the notes beside the box (say "You can post now" and a round begins).
   */
  function say(text, { error: isError = false, holds = null } = {}) {
    clearTimeout(statusTimer);
    statusHolds = text ? holds : null;
    actionStatus.textContent = text || "";
    actionStatus.classList.toggle("is-error", isError);
    if (text) statusTimer = setTimeout(() => say(""), isError ? STATUS_MS * 2 : STATUS_MS);
  }

  /**
   * Send a control from a button. The button is marked busy (aria-disabled, so a keyboard
   * user keeps focus on it) until the ack; the outcome goes to the status line.
   */
  async function act(btn, event, payload, done) {
    if (btn && btn.getAttribute("aria-disabled") === "true") return null;
    if (btn) btn.setAttribute("aria-disabled", "true");
    const ack = await request(event, payload);
    if (btn) btn.removeAttribute("aria-disabled");
    if (ack.ok) {
      const text = typeof done === "function" ? done(ack) : done;
      if (text) say(text);
    } else {
      say(errorText(ack.error, "That did not work. Please try again."), { error: true });
    }
    return ack;
  }

  store.subscribe((state, event, previous) => {
    if (state.self.status !== previous.self.status || state.self.statusText !== previous.self.statusText) {
      status.dataset.state = state.self.status;
      status.textContent = state.self.statusText;
      document.body.dataset.connection = state.self.status;
    }
    if (state.room !== previous.room) clearStaleError();
    if (statusHolds && !statusHolds(state)) say("");
  });

  return { showError, clearError, clearStaleError, say, act };
}
