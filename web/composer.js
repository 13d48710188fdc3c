// The composer: the message box, its length counter, Enter to send, and "typing". The
// length limit is the one the server gave in its join ack (`limits.max_message_chars`);
// before any ack nothing is blocked here (the server refuses over-long text anyway).
// The box has no maxlength, so a long paste is never cut off silently.

import { byId } from "./dom.js";
import { lengthState, postingState } from "./lib.js";
import { needsAgreement } from "./meeting.js";
import { nameOf } from "./people.js";

const TYPING_EVERY_MS = 2_000; // at most one typing:true per this while typing
const TYPING_IDLE_MS = 3_000; // typing:false after this long without input

/**
 * Why I cannot post now (muted, paused, locked, the session ended, the agreement not yet
 * accepted, someone else's turn or floor), or slow mode's pace: lib.js postingState, read
 * from the store's state.
 */
export function postingFor(state, now = Date.now()) {
  const flags = state.room.flags;
  const slice = state.meeting;
  const m = slice.meeting;
  const speaker = m.turn && m.round ? m.round.order.find((s) => s.id === m.turn) : null;
  return postingState(
    {
      role: state.self.role,
      muteUntil: state.room.mute.until,
      paused: flags.paused,
      locked: flags.locked,
      floor: flags.floor,
      floorName: flags.floor ? nameOf(state, flags.floor) : "",
      selfId: state.self.id,
      slowModeS: flags.slow_mode_s,
      session: m.status,
      agreed: !needsAgreement(slice, state.self.role),
      turn: m.turn || "",
      turnName: m.turn ? (speaker && speaker.name) || nameOf(state, m.turn) : "",
    },
    now,
  );
}

export function createComposer({ store, notify, submit }) {
  const form = byId("compose");
  const composer = byId("composer");
  const send = byId("send");
  const counter = byId("counter");
  const lengthLive = byId("length-live");
  const postingNote = byId("posting-state");
  let endTimer = null; // a timed mute ends at its exact time
  let typingSentAt = 0;
  let typingActive = false;
  let typingIdleTimer = null;
  let wasTooLong = false;

  function lengthNow() {
    const max = store.getState().self.maxMessageChars;
    return max ? lengthState(composer.value, max) : { over: 0, message: "" };
  }

  function postingNow() {
    return postingFor(store.getState());
  }

  /** The note above the box and Send follow what the room allows now. */
  function updatePosting() {
    const posting = postingNow();
    if (postingNote.textContent !== posting.text) postingNote.textContent = posting.text;
    postingNote.dataset.rule = posting.rule;
    form.classList.toggle("blocked", posting.blocks);
    updateCounter();
    clearTimeout(endTimer);
    const until = store.getState().room.mute.until;
    if (posting.rule === "muted" && Number.isFinite(until)) endTimer = setTimeout(updatePosting, Math.max(0, until - Date.now() + 50));
  }

  /** Characters left near the limit; past it, by how much, with Send disabled until it fits. */
  function updateCounter() {
    const state = lengthNow();
    const over = state.over > 0;
    counter.textContent = state.message;
    counter.classList.toggle("over", over);
    composer.setAttribute("aria-invalid", String(over));
    send.disabled = over || store.getState().self.stopped || postingNow().blocks;
    if (over !== wasTooLong) {
      // Announced once when it starts or stops being too long, not on every key.
      const max = store.getState().self.maxMessageChars;
      lengthLive.textContent = over
        ? `Your message is too long by ${state.over} character${state.over === 1 ? "" : "s"}. The longest is ${max.toLocaleString("en")}.`
        : "Your message fits now.";
      wasTooLong = over;
    }
  }

  function stopTyping() {
    clearTimeout(typingIdleTimer);
    if (typingActive) {
      typingActive = false;
      typingSentAt = 0;
      notify("typing", { active: false });
    }
  }

  function onInput() {
    updateCounter();
    if (composer.value.trim() === "") {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (store.getState().self.status === "connected" && now - typingSentAt >= TYPING_EVERY_MS) {
      typingSentAt = now;
      typingActive = true;
      notify("typing", { active: true });
    }
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function trySubmit() {
    if (store.getState().self.stopped) return;
    const text = composer.value.trim();
    if (!text) return;
    if (postingNow().blocks) {
      updatePosting(); // the note says why; the draft stays where it is
      return;
    }
    if (lengthNow().over > 0) {
      updateCounter();
      composer.focus();
      return; // the counter says by how much; nothing is cut off
    }
    submit(text);
    composer.value = "";
    updateCounter();
    stopTyping();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    trySubmit();
  });
  composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      trySubmit();
    }
  });
  composer.addEventListener("input", onInput);
  composer.addEventListener("blur", stopTyping);

  store.subscribe((state, event, previous) => {
    if (state.self.maxMessageChars !== previous.self.maxMessageChars) updateCounter();
    const meetingMoved = state.meeting.meeting !== previous.meeting.meeting || state.meeting.agreed !== previous.meeting.agreed;
    if (
      meetingMoved ||
      state.room.flags !== previous.room.flags ||
      state.room.mute !== previous.room.mute ||
      state.self.role !== previous.self.role ||
      state.people.members !== previous.people.members
    ) {
      updatePosting();
    }
    if (state.self.stopped && !previous.self.stopped) {
      composer.disabled = true;
      send.disabled = true;
    }
    if (state.self.status === "removed") form.hidden = true;
    if (event.type === "disconnected") stopTyping();
  });

  updatePosting();

  return {
    /** "Edit and resend": the words go back into the box (after any draft); null just focuses it. */
    takeBack(text) {
      if (text != null) composer.value = composer.value.trim() === "" ? text : `${composer.value}\n${text}`;
      updateCounter();
      composer.focus();
    },
  };
}
