// The meeting panel (#meeting): the session's phase, its prompt and the time left; the
// group agreement step; the round (its order, whose turn, who is next, the share's time
// and "done"/"pass" for the speaker); the session's wins; my quiet status and "I need
// support"; and, for facilitators, the session's controls. It also puts support
// reactions (and "mark as a win") under each message and quiet statuses beside names in
// the member list, on the nodes the conversation and the people panel draw.
//
// It reads the store's `meeting` slice (meeting.js) and sends requests; it keeps no state
// of its own beyond what it drew. Changes a member must hear (a new phase, whose turn it
// is, "5 minutes left", the session ending) go to one polite live region.

import { postingFor } from "./composer.js";
import { button, byId, createFolds, el } from "./dom.js";
import { errorText } from "./feedback.js";
import { newClientId } from "./lib.js";
import { REACTIONS, SHARE_TIMES, STATUSES, clock, currentPhase, formatAgenda, needsAgreement, parseAgenda, shareLabel, upNext } from "./meeting.js";
import { nameOf } from "./people.js";
import { isFacilitator } from "./store.js";

const TICK_MS = 1000;

export function createMeetingPanel({ store, request, feedback }) {
  const root = byId("meeting");
  const live = el("p", "visually-hidden");
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  live.id = "meeting-live";

  const bar = el("div", "meeting-bar");
  const phaseName = el("h2", "meeting-phase");
  phaseName.id = "meeting-title";
  const timeLeft = el("span", "meeting-time");
  // Its text says it ("12:00 left"); a span takes no aria-label (axe: aria-prohibited-attr).
  bar.append(phaseName, timeLeft);
  const prompt = el("p", "meeting-prompt");

  const agreement = el("section", "agreement");
  agreement.setAttribute("aria-labelledby", "agreement-title");
  const agreementTitle = el("h3", "", "Our group agreement");
  agreementTitle.id = "agreement-title";
  const agreementText = el("p", "agreement-text");
  const agree = button("I agree", "");
  agree.id = "agree";
  // On a phone the agreement folds to a few lines with "Read it all", so "I agree" is on
  // screen with it in the short panel (style.css unfolds it on wider screens).
  const agreementMore = createFolds({ more: "Read it all", less: "Show less" }).fold(agreementText, "our group agreement");
  const agreeRow = el("div", "agree-row");
  agreeRow.append(agreementMore, agree);
  agreement.append(agreementTitle, agreementText, agreeRow);

  const round = el("section", "round");
  round.setAttribute("aria-labelledby", "round-title");
  const roundTitle = el("h3", "round-title");
  roundTitle.id = "round-title";
  const roundOrder = el("ol", "round-order");
  roundOrder.id = "round-order";
  const roundNext = el("p", "round-next");
  const roundTime = el("p", "round-time");
  const turnActions = el("div", "turn-actions");
  const done = button("I'm done", "small");
  done.id = "turn-done";
  const pass = button("Pass", "secondary small");
  pass.id = "turn-pass";
  turnActions.append(done, pass);
  // The speaker's buttons and time come first: on a phone the panel is short.
  round.append(roundTitle, turnActions, roundTime, roundOrder, roundNext);

  const wins = el("section", "wins-strip");
  wins.setAttribute("aria-labelledby", "wins-title");
  const winsTitle = el("h3", "", "Wins this session");
  winsTitle.id = "wins-title";
  const winsList = el("ul", "wins-list");
  winsList.id = "wins-list";
  wins.append(winsTitle, winsList);

  const mine = el("div", "meeting-mine");
  const statusLabel = el("label", "", "My status");
  statusLabel.htmlFor = "my-status";
  const statusSelect = el("select");
  statusSelect.id = "my-status";
  statusSelect.append(new Option("Here", ""));
  for (const [id, text] of Object.entries(STATUSES)) statusSelect.append(new Option(text, id));
  const support = button("I need support", "secondary small");
  support.id = "need-support";
  mine.append(statusLabel, statusSelect, support);

  const controls = el("section", "meeting-controls");
  controls.setAttribute("aria-label", "Run the session");
  const start = button("Start session", "small");
  start.id = "session-start";
  const next = button("Next phase", "secondary small");
  next.id = "phase-next";
  const end = button("End session", "secondary small");
  end.id = "session-end";
  const sessionRow = el("div", "control-row");
  sessionRow.append(start, next, end);
  const roundRow = el("div", "control-row round-controls");
  const roundName = select("round-name", "Round", [
    ["check_in", "Check-in"],
    ["check_out", "Check-out"],
  ]);
  const roundOrderSel = select("round-order-kind", "Order", [
    ["join", "As they joined"],
    ["shuffled", "Shuffled"],
  ]);
  const shareSel = select("round-share", "Each share", SHARE_TIMES.map((s) => [String(s), shareLabel(s)]));
  shareSel.select.value = "120";
  const roundStart = button("Start round", "small");
  roundStart.id = "round-start";
  const roundEnd = button("End round", "secondary small");
  roundEnd.id = "round-end";
  roundRow.append(roundName.label, roundName.select, roundOrderSel.label, roundOrderSel.select, shareSel.label, shareSel.select, roundStart, roundEnd);
  const guidelines = el("details", "guidelines-edit");
  const guidelinesSummary = el("summary", "", "Edit the group agreement");
  const guidelinesBox = el("textarea");
  guidelinesBox.id = "guidelines-text";
  guidelinesBox.rows = 4;
  guidelinesBox.setAttribute("aria-label", "The group agreement");
  const guidelinesSave = button("Save agreement", "small");
  guidelines.append(guidelinesSummary, guidelinesBox, guidelinesSave);
  const agendaEdit = el("details", "agenda-edit");
  const agendaSummary = el("summary", "", "Edit the agenda");
  const agendaHelp = el("p", "help", "One phase a line: name | minutes (0: until you move on) | prompt for members.");
  agendaHelp.id = "agenda-help";
  const agendaBox = el("textarea");
  agendaBox.id = "agenda-text";
  agendaBox.rows = 6;
  agendaBox.setAttribute("aria-label", "The agenda");
  agendaBox.setAttribute("aria-describedby", "agenda-help");
  const agendaSave = button("Save agenda", "small");
  agendaEdit.append(agendaSummary, agendaHelp, agendaBox, agendaSave);
  controls.append(sessionRow, roundRow, guidelines, agendaEdit);
  agendaSave.addEventListener("click", () => {
    const agenda = parseAgenda(agendaBox.value);
    if (!agenda.length) {
      feedback.say("Write at least one phase, one a line.", { error: true });
      return;
    }
    send(agendaSave, "agenda", { agenda }, "The agenda is saved.");
  });

  // Private check-ins: a facilitator opens one with one member; only those two (and
  // co-facilitators) see it. One box per open check-in, each with its own small form.
  const checkins = el("section", "checkins");
  checkins.setAttribute("aria-labelledby", "checkins-title");
  const checkinsTitle = el("h3", "", "Private check-in");
  checkinsTitle.id = "checkins-title";
  const checkinOpenRow = el("div", "control-row");
  const checkinWho = select("checkin-member", "With", []);
  const checkinOpen = button("Open private check-in", "secondary small");
  checkinOpen.id = "checkin-open";
  checkinOpenRow.append(checkinWho.label, checkinWho.select, checkinOpen);
  const threadsBox = el("div", "threads");
  checkins.append(checkinsTitle, checkinOpenRow, threadsBox);
  const threadNodes = new Map(); // member id -> {box, list, input}

  checkinOpen.addEventListener("click", () => {
    if (checkinWho.select.value) send(checkinOpen, "checkin_open", { user_id: checkinWho.select.value }, "Private check-in opened.");
  });

  function threadNode(memberId) {
    let t = threadNodes.get(memberId);
    if (t) return t;
    const box = el("div", "thread");
    box.dataset.userId = memberId;
    const heading = el("h4", "thread-title");
    const list = el("ul", "thread-list");
    list.setAttribute("aria-live", "polite");
    const form = el("form", "thread-form");
    const input = el("input");
    input.type = "text";
    input.maxLength = 2000;
    input.id = `thread-input-${memberId}`;
    const label = el("label", "visually-hidden", "Private message");
    label.htmlFor = input.id;
    const sendBtn = el("button", "small", "Send privately");
    sendBtn.type = "submit";
    const close = button("Close check-in", "secondary small");
    close.dataset.action = "checkin-close";
    form.append(label, input, sendBtn);
    box.append(heading, list, form, close);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      const ack = await feedback.act(sendBtn, "message", { text, client_id: newClientId(), thread: memberId }, null);
      if (ack && ack.ok) input.value = "";
    });
    close.addEventListener("click", () => send(close, "checkin_close", { user_id: memberId }, "Private check-in closed."));
    t = { box, heading, list, input, close };
    threadNodes.set(memberId, t);
    return t;
  }

  function drawCheckins(state) {
    const slice = state.meeting;
    const facil = isFacilitator(state);
    const open = [...slice.checkins].filter((id) => facil || id === state.self.id);
    checkins.hidden = !facil && open.length === 0;
    checkinOpenRow.hidden = !facil;
    if (facil) {
      const options = state.people.members.filter((m) => m.role !== "facilitator" && !slice.checkins.has(m.id));
      const was = checkinWho.select.value;
      checkinWho.select.replaceChildren(...options.map((m) => new Option(m.name, m.id)));
      if (options.some((m) => m.id === was)) checkinWho.select.value = was;
      checkinOpen.disabled = options.length === 0;
    }
    const boxes = open.map((id) => {
      const t = threadNode(id);
      t.heading.textContent = facil ? `With ${nameOf(state, id) || "a member"}` : "With a facilitator (only you and the facilitators see this)";
      t.close.hidden = !facil;
      const messages = slice.threads.get(id) || [];
      t.list.replaceChildren(
        ...messages.map((m) => {
          const item = el("li", "thread-msg");
          item.dataset.offset = String(m.offset);
          const who = m.user && m.user.id === state.self.id ? "You" : (m.user && m.user.name) || "Someone";
          item.append(el("span", "name", `${who}: `), el("span", "text", m.text || ""));
          return item;
        }),
      );
      return t.box;
    });
    threadsBox.replaceChildren(...boxes);
  }

  // The wins strip before the private check-ins: a session's running view (phase, round,
  // wins) stays together at the top, where a phone shows it without scrolling.
  root.append(live, bar, prompt, agreement, round, wins, checkins, mine, controls);

  function select(id, text, options) {
    const label = el("label", "control-state", text);
    label.htmlFor = id;
    const node = el("select");
    node.id = id;
    for (const [value, shown] of options) node.append(new Option(shown, value));
    return { label, select: node };
  }

  async function send(btn, event, payload, doneText) {
    return feedback.act(btn, event, payload, doneText);
  }

  /** Whether I may post with the agreement accepted (its "agreed" event may come after the ack). */
  function canPostOnceAgreed(state) {
    const slice = state.meeting;
    return !postingFor({ ...state, meeting: { ...slice, agreed: slice.meeting.session_id } }).blocks;
  }

  agree.addEventListener("click", async () => {
    // "You can post now" only while I can: it goes when a round, a lock or the end stops
    // me, and is not said when one already does (the note by the box says why).
    const ack = await send(agree, "agree", {}, null);
    if (!ack || !ack.ok) return;
    if (canPostOnceAgreed(store.getState())) feedback.say("Thank you. You can post now.", { holds: canPostOnceAgreed });
    else feedback.say("Thank you.");
    byId("composer").focus();
  });
  done.addEventListener("click", () => send(done, "turn_done", {}, "Thank you for sharing."));
  pass.addEventListener("click", () => send(pass, "turn_pass", {}, "You passed. That's fine."));
  statusSelect.addEventListener("change", () =>
    send(statusSelect, "status", { status: statusSelect.value || null }, statusSelect.value ? "Your status is shown." : "Your status is cleared."),
  );
  support.addEventListener("click", async () => {
    const ack = await request("need_support", {});
    if (ack.ok) feedback.say(ack.message || "A facilitator will check in with you privately.");
    else feedback.say(errorText(ack.error, "That did not reach the facilitators. Please try again."), { error: true });
  });
  start.addEventListener("click", () => send(start, "session_start", {}, "The session has started."));
  next.addEventListener("click", () => send(next, "phase_next", {}, null));
  end.addEventListener("click", () => send(end, "session_end", {}, "The session has ended."));
  roundStart.addEventListener("click", () =>
    send(
      roundStart,
      "round_start",
      { name: roundName.select.value, order: roundOrderSel.select.value, share_s: Number(shareSel.select.value) },
      "The round has started.",
    ),
  );
  roundEnd.addEventListener("click", () => send(roundEnd, "round_end", {}, "The round has ended."));
  guidelinesSave.addEventListener("click", () => send(guidelinesSave, "guidelines", { text: guidelinesBox.value }, "The agreement is saved."));

  // -- drawing -------------------------------------------------------------------------

  function draw(state) {
    const slice = state.meeting;
    const m = slice.meeting;
    const facil = isFacilitator(state);
    const liveSession = m.status === "live";
    root.hidden = m.status === "none" && !facil && !slice.checkins.has(state.self.id);
    root.dataset.status = m.status;
    const phase = currentPhase(m);
    if (m.status === "ended") phaseName.textContent = "This session has ended";
    else if (phase) phaseName.textContent = `${phase.name}${m.agenda.length > 1 ? ` (${m.phase + 1} of ${m.agenda.length})` : ""}`;
    else phaseName.textContent = "No session running";
    prompt.textContent = m.status === "ended" ? "Thank you for being here. The room opens again at the next session." : phase ? phase.prompt : "";
    prompt.hidden = !prompt.textContent;

    agreement.hidden = !needsAgreement(slice, state.self.role);
    agreementText.textContent = m.guidelines || "";
    if (document.activeElement !== guidelinesBox) guidelinesBox.value = m.guidelines || "";
    if (document.activeElement !== agendaBox) agendaBox.value = formatAgenda(m.agenda);

    const r = m.round;
    round.hidden = !r || (!liveSession && !r);
    if (r) {
      roundTitle.textContent = r.over ? `${r.name} round: complete` : `${r.name} round${r.shuffled ? " (shuffled)" : ""}`;
      roundOrder.replaceChildren(
        ...r.order.map((s, i) => {
          const item = el("li", "speaker", s.id === state.self.id ? `${s.name} (you)` : s.name);
          item.dataset.userId = s.id;
          // A quiet status beside the name here too: whoever runs the round sees it
          // before calling on someone (on a phone the member list is another view).
          const status = m.statuses[s.id];
          if (status) item.append(el("span", "quiet-status", STATUSES[status] || status));
          const outcome = r.outcomes[s.id];
          if (outcome) {
            item.dataset.outcome = outcome;
            item.append(el("span", "outcome", ` — ${outcomeText(outcome)}`));
          }
          if (!r.over && i === r.index) {
            item.setAttribute("aria-current", "true");
            item.append(el("span", "now", " — speaking now"));
          }
          return item;
        }),
      );
      const after = upNext(m);
      roundNext.textContent = after ? `Up next: ${after.name}` : r.over ? "" : "Last to share.";
      roundNext.hidden = !roundNext.textContent;
    }
    const myTurn = Boolean(r) && !r.over && m.turn === state.self.id;
    turnActions.hidden = !myTurn && !(facil && r && !r.over);
    pass.hidden = !myTurn;
    done.textContent = myTurn ? "I'm done" : "Next speaker";

    winsList.replaceChildren(
      ...m.wins.map((w) => {
        const item = el("li", "win");
        item.dataset.id = w.id;
        item.append(el("span", "win-name", `${(w.entry.user && w.entry.user.name) || "Someone"}: `), el("span", "win-text", w.entry.text || ""));
        return item;
      }),
    );
    wins.hidden = m.wins.length === 0;

    mine.hidden = facil || !liveSession;
    const shown = m.statuses[state.self.id] || "";
    if (document.activeElement !== statusSelect) statusSelect.value = shown;

    controls.hidden = !facil;
    start.hidden = liveSession;
    next.hidden = !liveSession;
    end.hidden = !liveSession;
    roundRow.hidden = !liveSession;
    roundStart.disabled = Boolean(r && !r.over);
    roundEnd.hidden = !(r && !r.over);
    drawCheckins(state);
    tick();
    decorate(state);
  }

  function outcomeText(outcome) {
    return { done: "shared", passed: "passed", timed_out: "time ran out", left: "left" }[outcome] || outcome;
  }

  function tick() {
    const m = store.getState().meeting.meeting;
    const now = Date.now();
    timeLeft.textContent = m.status === "live" && m.phase_ends_ms ? `${clock(m.phase_ends_ms - now)} left` : "";
    const r = m.round;
    roundTime.textContent = r && !r.over && r.turn_ends_ms ? `${clock(r.turn_ends_ms - now)} left for this share` : "";
    roundTime.hidden = !roundTime.textContent;
  }

  // -- reactions and statuses on others' nodes -------------------------------------------

  function reactionBar(state, node) {
    const id = node.dataset.id;
    const kinds = state.meeting.reactions.get(id) || {};
    const barNode = el("div", "reactions");
    barNode.setAttribute("role", "group");
    barNode.setAttribute("aria-label", "Support reactions");
    for (const r of REACTIONS) {
      const who = kinds[r.id] || [];
      const pressed = who.includes(state.self.id);
      const names = who.map((u) => (u === state.self.id ? "you" : nameOf(state, u) || "someone"));
      const b = button(`${r.emoji}${who.length ? ` ${who.length}` : ""}`, `react${pressed ? " on" : ""}`);
      b.dataset.count = String(who.length);
      b.dataset.reaction = r.id;
      b.setAttribute("aria-pressed", String(pressed));
      // A button that shows words ("Yay! 2") is named starting with them, so speech input
      // finds it (axe: label-content-name-mismatch), then what it means and who sent it; a
      // symbol (♥) is named by its meaning, with the count it shows ("Sending love 2").
      const words = /\p{L}/u.test(r.emoji);
      const count = who.length ? ` ${who.length}` : "";
      const shown = words ? `${r.emoji}${count}${r.emoji === r.label ? "" : ` (${r.label})`}` : `${r.label}${count}`;
      b.setAttribute("aria-label", `${shown}${who.length ? `: ${names.join(", ")}` : ""}`);
      b.title = who.length ? `${r.label}: ${names.join(", ")}` : r.label;
      b.addEventListener("click", () => send(b, "react", { id, reaction: r.id, on: !pressed }, null));
      barNode.append(b);
    }
    const own = node.dataset.userId === state.self.id;
    if (own || isFacilitator(state)) {
      const isWin = state.meeting.meeting.wins.some((w) => w.id === id);
      const w = button(isWin ? "★ A win" : "☆ Mark as a win", `react win${isWin ? " on" : ""}`);
      w.dataset.action = "win";
      w.setAttribute("aria-pressed", String(isWin));
      w.addEventListener("click", () => send(w, "win", { id, on: !isWin }, isWin ? null : "Added to this session's wins."));
      barNode.append(w);
    }
    return barNode;
  }

  function signature(state, node) {
    const id = node.dataset.id;
    const kinds = state.meeting.reactions.get(id) || {};
    const isWin = state.meeting.meeting.wins.some((w) => w.id === id);
    return JSON.stringify([kinds, isWin, state.self.id]);
  }

  let decorating = false;
  function decorate(state = store.getState()) {
    if (decorating) return;
    decorating = true;
    try {
      for (const node of document.querySelectorAll("#messages .msg[data-id][data-offset]")) {
        const sig = signature(state, node);
        const old = node.querySelector(":scope > .reactions");
        if (old && old.dataset.sig === sig) continue;
        const fresh = reactionBar(state, node);
        fresh.dataset.sig = sig;
        if (old) {
          const focused = old.contains(document.activeElement) ? document.activeElement.dataset.reaction || document.activeElement.dataset.action : null;
          old.replaceWith(fresh);
          if (focused) {
            const again = fresh.querySelector(`[data-reaction="${focused}"], [data-action="${focused}"]`);
            if (again) again.focus();
          }
        } else {
          node.append(fresh);
        }
      }
      const statuses = state.meeting.meeting.statuses;
      for (const li of document.querySelectorAll("#members li[data-user-id]")) {
        const status = statuses[li.dataset.userId] || "";
        let tag = li.querySelector(":scope .quiet-status");
        if (!status) {
          if (tag) tag.remove();
          continue;
        }
        if (!tag) {
          tag = el("span", "quiet-status");
          const name = li.querySelector(".name") || li.firstElementChild || li;
          name.after(tag);
        }
        if (tag.textContent !== STATUSES[status]) tag.textContent = STATUSES[status] || status;
      }
    } finally {
      decorating = false;
    }
  }

  // -- what to announce ---------------------------------------------------------------------

  function announce(state, previous) {
    const m = state.meeting.meeting;
    const was = previous.meeting.meeting;
    if (m === was && state.meeting.checkins === previous.meeting.checkins) return;
    let text = "";
    if (m.status === "ended" && was.status !== "ended") text = "The session has ended. Thank you for being here.";
    else if (m.status === "live" && was.status !== "live") text = `The session has started${currentPhase(m) ? `: ${currentPhase(m).name}` : ""}.`;
    else if (m.status === "live" && m.phase !== was.phase && currentPhase(m)) text = `Now: ${currentPhase(m).name}.`;
    else if (m.warned && !was.warned) text = "5 minutes left in this session.";
    const mineOpen = state.meeting.checkins.has(state.self.id);
    if (mineOpen && !previous.meeting.checkins.has(state.self.id)) text = "A facilitator opened a private check-in with you, below the session's phase.";
    if (m.turn !== was.turn) {
      const speaker = m.round && m.round.order.find((s) => s.id === m.turn);
      if (m.turn === state.self.id) text = `${text} It's your turn to share. Press "I'm done" when you finish, or Pass.`.trim();
      else if (speaker) text = `${text} ${speaker.name}'s turn.`.trim();
      else if (m.round && m.round.over) text = `${text} The round is complete.`.trim();
    }
    if (text) live.textContent = text;
  }

  store.subscribe((state, event, previous) => {
    if (state.meeting !== previous.meeting || state.self !== previous.self || state.people !== previous.people) draw(state);
    announce(state, previous);
  });
  // Messages and member rows are drawn by other panels: decorate them when they change.
  const observer = new MutationObserver(() => decorate());
  for (const id of ["messages", "members"]) {
    const node = byId(id);
    if (node) observer.observe(node, { childList: true, subtree: true });
  }
  setInterval(tick, TICK_MS);
  draw(store.getState());
  return { draw };
}
