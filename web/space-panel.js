// The group space (#space): what the group keeps between sessions — the next session's
// time, the crisis lines and the resource shelf, the wins wall, and my own goal. It reads
// the server's `space` answer (docs/protocol.md, "Group space") after every join and again
// whenever a `space` event says something changed; it keeps no state of its own beyond
// what it last drew, so a reconnect or another tab never leaves it out of date.

import { button, byId, confirmInline, el } from "./dom.js";
import { errorText } from "./feedback.js";
import { isFacilitator } from "./store.js";

const REFRESH_MS = 250; // several changes in a row are read once
const ANSWERS = [
  ["done", "Done"],
  ["partly", "Partly"],
  ["not_yet", "Not yet"],
  ["changed", "Changed it"],
];
const ANSWER_TEXT = Object.fromEntries(ANSWERS);

/** "Tuesday 14 December, 19:00 (Europe/London)" in the group's own time zone. */
export function sessionTime(next, locale = undefined) {
  if (!next || !Number.isFinite(next.starts_at_ms)) return "";
  const zone = typeof next.time_zone === "string" && next.time_zone ? next.time_zone : "UTC";
  try {
    const when = new Intl.DateTimeFormat(locale, {
      weekday: "long",
      day: "numeric",
      month: "long",
      hour: "2-digit",
      minute: "2-digit",
      timeZone: zone,
    }).format(new Date(next.starts_at_ms));
    return `${when} (${zone})`;
  } catch {
    return new Date(next.starts_at_ms).toUTCString();
  }
}

/** Open the group space, and the panel holding it where space is short (web/views.js). */
function reveal() {
  byId("space").open = true;
  document.dispatchEvent(new CustomEvent("huddle:reveal", { detail: { id: "space" } }));
}

function sessionEnded(state) {
  return Boolean(state.meeting && state.meeting.meeting && state.meeting.meeting.status === "ended");
}

export function createSpacePanel({ store, request, feedback }) {
  const body = byId("space-body");
  let timer = null;
  let last = null;

  async function refresh() {
    timer = null;
    const ack = await request("space");
    if (!ack.ok) return; // not joined yet, or offline: the next join reads it again
    // Once a session has ended, its recap leads the space until the next one starts.
    if (sessionEnded(store.getState())) {
      const answer = await request("recap");
      ack.recap = answer.ok ? answer.recap : null;
    }
    last = ack;
    draw(ack);
  }

  function soon() {
    if (timer === null) timer = setTimeout(refresh, REFRESH_MS);
  }

  async function act(event, payload, done) {
    const ack = await request(event, payload);
    if (!ack.ok) {
      feedback.showError(errorText(ack.error, "That did not work. Please try again."));
      return null;
    }
    if (done) feedback.say(done);
    soon();
    return ack;
  }

  function draw(space) {
    const state = store.getState();
    const facilitator = isFacilitator(state);
    // A redraw must never lose what someone is typing, nor where their focus is.
    const typed = new Map();
    for (const field of body.querySelectorAll("input[id], textarea[id], select[id]")) {
      typed.set(field.id, { value: field.value, checked: field.checked });
    }
    const focused = body.contains(document.activeElement) ? document.activeElement.id : "";
    const parts = space.recap ? [recap(space.recap)] : [];
    parts.push(nextSession(space, facilitator));
    if (space.agreement) parts.push(agreement(space.agreement));
    parts.push(goals(space, facilitator), wins(space, state, facilitator));
    parts.push(shelf(space, facilitator), myData());
    body.replaceChildren(...parts);
    for (const [id, was] of typed) {
      const field = byId(id);
      if (!field) continue;
      if (field.type === "checkbox") field.checked = was.checked;
      else if (field.tagName !== "SELECT" || [...field.options].some((o) => o.value === was.value)) field.value = was.value;
    }
    if (focused && byId(focused)) byId(focused).focus();
  }

  function section(title, ...children) {
    const box = el("section", "space-part");
    box.append(el("h3", "", title), ...children);
    return box;
  }

  /** What this member takes away from the session that just ended: not a transcript. */
  function recap(r) {
    const box = section("This session's recap");
    box.id = "space-recap";
    const parts = [];
    if (r.pinned.length) {
      const list = el("ul", "recap-pins");
      for (const m of r.pinned) list.append(el("li", "", `${m.user.name}: ${m.text}`));
      parts.push(el("h4", "", "Pinned"), list);
    }
    if (r.resources.length) {
      const list = el("ul", "recap-resources");
      for (const res of r.resources) {
        const link = el("a", "", res.title);
        link.href = res.url;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        const li = el("li");
        li.append(link);
        list.append(li);
      }
      parts.push(el("h4", "", "Resources shared"), list);
    }
    if (r.wins.length) {
      const list = el("ul", "recap-wins");
      for (const w of r.wins) list.append(el("li", "", `${w.name}: ${w.text}`));
      parts.push(el("h4", "", "Wins"), list);
    }
    if (r.goal) parts.push(el("h4", "", "Your goal"), el("p", "goal-text", r.goal.text));
    parts.push(el("p", "", r.next_session ? `Next session: ${sessionTime(r.next_session)}` : "The next session's time is not set yet."));
    if (!r.pinned.length && !r.resources.length && !r.wins.length) parts.unshift(el("p", "help", "Thank you for being here today."));
    box.append(...parts);
    return box;
  }

  /** The group agreement, readable between sessions (accepted at the start of each one). */
  function agreement(text) {
    const box = section("Our agreement");
    for (const line of text.split("\n").filter((l) => l.trim())) box.append(el("p", "agreement-line", line));
    return box;
  }

  function nextSession(space, facilitator) {
    const line = el("p", "", space.next_session ? `Next session: ${sessionTime(space.next_session)}` : "The next session's time is not set yet.");
    const box = section("Next session", line);
    if (facilitator) {
      const form = el("form", "space-form");
      const when = el("input");
      when.type = "datetime-local";
      when.id = "space-next-when";
      const whenLabel = el("label", "", "Date and time");
      whenLabel.htmlFor = when.id;
      const zone = el("input");
      zone.id = "space-next-zone";
      zone.value = (space.next_session && space.next_session.time_zone) || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      const zoneLabel = el("label", "", "Time zone");
      zoneLabel.htmlFor = zone.id;
      const save = button("Set the next session", "secondary small");
      save.type = "submit";
      form.append(whenLabel, when, zoneLabel, zone, save);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        // datetime-local is the browser's own zone; the group's zone is for showing it.
        const starts = when.value ? new Date(when.value).getTime() : NaN;
        if (!Number.isFinite(starts)) {
          feedback.showError("Please choose a date and time.");
          return;
        }
        act("next_session_set", { starts_at_ms: starts, time_zone: zone.value.trim() }, "Next session set.");
      });
      box.append(form);
    }
    return box;
  }

  function goals(space, facilitator) {
    const box = section("Your goal for the week");
    const latest = space.goals[0];
    if (latest) {
      const p = el("p", "goal-text", latest.text);
      const meta = el("p", "help", latest.shared ? "Shared with the group's facilitators." : "Private: only you see it.");
      box.append(p, meta);
      if (latest.answer) {
        box.append(el("p", "goal-answer", `You said: ${ANSWER_TEXT[latest.answer] || latest.answer}`));
      } else {
        const row = el("div", "space-actions");
        row.setAttribute("role", "group");
        row.setAttribute("aria-label", "How did it go?");
        for (const [answer, label] of ANSWERS) {
          const b = button(label);
          b.addEventListener("click", () => act("goal_answer", { id: latest.id, answer }, "Thank you for letting the group know."));
          row.append(b);
        }
        box.append(el("p", "help", "How did it go?"), row);
      }
    }
    const form = el("form", "space-form");
    const text = el("textarea");
    text.id = "space-goal";
    text.rows = 2;
    text.maxLength = 300;
    const label = el("label", "", latest ? "A new goal for this week" : "Set a goal for this week");
    label.htmlFor = text.id;
    const shareLine = el("label", "check");
    const share = el("input");
    share.type = "checkbox";
    share.id = "space-goal-shared";
    shareLine.append(share, document.createTextNode(" Share it with the group"));
    const save = button("Save goal", "secondary small");
    save.type = "submit";
    form.append(label, text, shareLine, save);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!text.value.trim()) return;
      const ack = await act("goal_set", { text: text.value, shared: share.checked }, "Goal saved.");
      if (ack) text.value = "";
    });
    box.append(form);
    if (facilitator && space.shared_goals && space.shared_goals.length) {
      const list = el("ul", "shared-goals");
      for (const g of space.shared_goals) {
        const answer = g.answer ? ` — ${ANSWER_TEXT[g.answer] || g.answer}` : "";
        list.append(el("li", "", `${g.name}: ${g.text}${answer}`));
      }
      box.append(el("h4", "", "Shared goals"), list);
    }
    return box;
  }

  function wins(space, state, facilitator) {
    const box = section("Wins wall");
    if (!space.wins.length) box.append(el("p", "empty", "No wins on the wall yet."));
    const list = el("ul", "wins");
    for (const w of space.wins) {
      const li = el("li", "win");
      li.append(el("span", "win-name", `${w.name}: `), el("span", "win-text", w.text));
      if (w.user_id === state.self.id) {
        const off = button("Take it off the wall", "secondary small", `Take it off the wall: your win ${w.text}`);
        off.addEventListener("click", () => act("win_withdraw", { id: w.id }, "Taken off the wall."));
        li.append(off);
      } else if (facilitator) {
        const down = button("Take down", "secondary small", `Take down ${w.name}'s win`);
        down.addEventListener("click", () => act("win_take_down", { id: w.id }, "Taken down."));
        li.append(down);
      }
      list.append(li);
    }
    box.append(list);
    // My own recent messages I could keep on the wall (only with my say-so).
    const kept = new Set(space.wins.map((w) => w.msg_id));
    const mine = state.timeline.entries.filter((e) => !e.kind && e.user && e.user.id === state.self.id && !kept.has(e.id)).slice(-5);
    if (mine.length) {
      const form = el("form", "space-form");
      const pick = el("select");
      pick.id = "space-win-pick";
      for (const m of mine.reverse()) {
        const option = el("option", "", m.text.length > 60 ? `${m.text.slice(0, 57)}…` : m.text);
        option.value = m.id;
        pick.append(option);
      }
      const label = el("label", "", "Keep one of your messages on the wall");
      label.htmlFor = pick.id;
      const keep = button("Keep it on the wall", "secondary small");
      keep.type = "submit";
      form.append(label, pick, keep);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        act("win_keep", { msg_id: pick.value }, "On the wall. You can take it off any time.");
      });
      box.append(form);
    }
    return box;
  }

  function shelf(space, facilitator) {
    const box = section("Resources");
    const lines = el("ul", "crisis-lines");
    lines.setAttribute("aria-label", "Crisis lines");
    for (const line of space.crisis_lines) lines.append(el("li", "", `${line.label}: ${line.text}`));
    box.append(lines);
    const list = el("ul", "shelf");
    for (const r of space.resources) {
      const li = el("li", r.status === "suggested" ? "resource suggested" : "resource");
      const link = el("a", "", r.title);
      link.href = r.url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      li.append(link);
      if (r.note) li.append(el("span", "help", ` — ${r.note}`));
      if (r.status === "suggested") {
        li.append(el("span", "help", ` (suggested by ${r.by_name})`));
        const yes = button("Add to the shelf", "secondary small", `Add to the shelf: ${r.title}`);
        yes.addEventListener("click", () => act("resource_review", { id: r.id, approve: true }, "Added to the shelf."));
        const no = button("Decline", "secondary small", `Decline ${r.title}`);
        no.addEventListener("click", () => act("resource_review", { id: r.id, approve: false }, "Declined."));
        li.append(yes, no);
      } else if (facilitator) {
        const remove = button("Remove", "secondary small", `Remove ${r.title} from the shelf`);
        remove.addEventListener("click", () => act("resource_remove", { id: r.id }, "Removed."));
        li.append(remove);
      }
      list.append(li);
    }
    box.append(list);
    const form = el("form", "space-form");
    const title = el("input");
    title.id = "space-res-title";
    title.maxLength = 120;
    const titleLabel = el("label", "", "Title");
    titleLabel.htmlFor = title.id;
    const url = el("input");
    url.id = "space-res-url";
    url.type = "url";
    url.placeholder = "https://";
    const urlLabel = el("label", "", "Link");
    urlLabel.htmlFor = url.id;
    const add = button(facilitator ? "Add to the shelf" : "Suggest it", "secondary small");
    add.type = "submit";
    form.append(titleLabel, title, urlLabel, url, add);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const done = facilitator ? "Added to the shelf." : "Thank you: a facilitator will look at it.";
      const ack = await act("resource_add", { title: title.value, url: url.value }, done);
      if (ack) title.value = url.value = "";
    });
    box.append(el("h4", "", facilitator ? "Add a resource" : "Suggest a resource"), form);
    return box;
  }

  function myData() {
    const download = button("Download what the group holds about me");
    download.addEventListener("click", async () => {
      const ack = await request("my_data");
      if (!ack.ok) {
        feedback.showError(errorText(ack.error, "Could not fetch your data. Please try again."));
        return;
      }
      const blob = new Blob([JSON.stringify(ack.data, null, 2)], { type: "application/json" });
      const a = el("a");
      a.href = URL.createObjectURL(blob);
      a.download = `huddle-${ack.data.room}-my-data.json`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    });
    const erase = button("Erase my goals, wins and messages", "secondary small danger-outline");
    const ask = el("div", "confirm");
    erase.addEventListener("click", () =>
      confirmInline(ask, erase, "Erase everything of yours in this group? It cannot be undone.", "Erase", () =>
        act("erase_my_data", {}, "Erased. Your messages now read “removed by its author”."),
      ),
    );
    return section("Your data", download, erase, ask);
  }

  /** A message of mine marked as a win in the session: the wall is asked for, never assumed. */
  function askToKeep(state, e) {
    const win = (e.meeting && Array.isArray(e.meeting.wins) ? e.meeting.wins : []).find((w) => w.id === e.id);
    if (!win || !win.entry || !win.entry.user || win.entry.user.id !== state.self.id) return;
    if (last && last.wins.some((w) => w.msg_id === e.id)) return;
    store.dispatch({
      type: "notice",
      payload: {
        kind: "win",
        text: "Your message was marked as a win. Keep it on the group's wins wall, so the group sees it in later sessions too? You can take it off any time.",
      },
      actions: [
        { label: "Keep it on the wall", run: () => act("win_keep", { msg_id: e.id }, "On the wall. You can take it off any time.") },
        { label: "Not now", run: () => {} },
      ],
    });
  }

  let opened = false;
  store.subscribe((state, event, previous) => {
    if (event.type === "entry" && event.live && event.entry && event.entry.kind === "win" && event.entry.on) askToKeep(state, event.entry);
    const ended = sessionEnded(state) && previous && !sessionEnded(previous);
    if (event.type === "joined" || (event.type === "space" && last !== null) || ended || (sessionEnded(previous || state) && !sessionEnded(state))) soon();
    if (ended && event.type !== "joined" && !isFacilitator(state)) {
      reveal(); // each member gets the recap as the session ends
      feedback.say("The session has ended. Your recap is in Our group.");
    }
    // Between sessions the room is quiet: the group space is what there is to see, so it
    // opens by itself on the first join of a page that has no conversation to show.
    if (event.type === "joined" && !opened) {
      opened = true;
      // (A facilitator's phone keeps the view they chose: web/views.js.)
      if (!state.timeline.entries.some((e) => !e.kind)) {
        if (isFacilitator(state)) byId("space").open = true;
        else reveal();
      }
    }
  });

  return { refresh };
}
