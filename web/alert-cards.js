// Facilitators: one card of "Needs attention" (loaded with the facilitator tools). A held
// message is one card, "Waiting for your review", naming its other concerns, with "Share
// with the group" and "Don't share"; every other alert has "Show message" (when it is in
// the log) and "Done". All text goes in with textContent.

import { button, el } from "./dom.js";
import { formatTime } from "./lib.js";
import { alertTitle, alsoLine } from "./review-text.js";

export const CRISIS_GUIDE =
  "They were shown support lines privately. A gentle, personal check-in can help; you don't have to fix anything.";

/** Whom an alert is about, by name ("" if unknown). */
export function alertWho(a, nameOf) {
  const subject = (a.entry && a.entry.user) || a.user || {};
  return subject.name || (subject.id != null ? nameOf(subject.id) : "");
}

/** The review buttons of a held card: `review(approve, btn)` sends the decision. */
function heldActions(a, who, review) {
  // Neither choice is shown as the default: a medication offer or contact details should
  // be read, not waved through.
  const approve = button("Share with the group", "secondary small", `Share with the group: ${who ? `${who}'s` : "the"} held message`);
  approve.dataset.action = "approve";
  const deny = button("Don't share", "secondary small", `Don't share: ${who ? `${who}'s` : "the"} held message`);
  deny.dataset.action = "deny";
  approve.addEventListener("click", () => review(true, approve));
  deny.addEventListener("click", () => review(false, deny));
  return [approve, deny];
}

/** handlers: review(alert, approve, btn), done(alert, btn), show(messageId). */
export function alertCard(a, { nameOf, handlers }) {
  const who = alertWho(a, nameOf);
  const li = el("li", "alert");
  li.dataset.kind = a.kind;
  li.dataset.key = a.key;
  if (a.priority || a.kind === "crisis") li.classList.add("priority");
  const head = el("div", "alert-head");
  head.append(el("strong", "alert-kind", alertTitle(a.kind)));
  const time = el("time", "time", formatTime(a.received));
  time.dateTime = new Date(a.received).toISOString();
  head.append(time);
  li.append(head);

  const entry = a.entry || {};
  if (a.kind === "report" && a.user) li.append(el("p", "alert-by", `Reported by ${a.user.name || "a member"}`));
  if (entry.text != null) {
    const quote = el("blockquote", "alert-message");
    quote.append(el("span", "alert-who", `${(entry.user && entry.user.name) || who || "Someone"}:`));
    const text = el("span", "alert-text", entry.text);
    text.dir = "auto";
    quote.append(" ", text);
    li.append(quote);
  } else if (who) {
    li.append(el("p", "alert-message", who));
  }
  const reason = a.reason || entry.held_reason || "";
  if (a.kind === "crisis") {
    li.append(el("p", "alert-guide", CRISIS_GUIDE));
    if (reason) {
      // The support note the sender got: there if wanted, folded so the alert stays short.
      const more = el("details", "alert-more");
      more.append(el("summary", "", "What they were shown"));
      const why = el("p", "alert-reason", reason);
      why.dir = "auto";
      more.append(why);
      li.append(more);
    }
  } else if (reason) {
    const why = el("p", "alert-reason", reason);
    why.dir = "auto";
    li.append(why);
  }
  const also = alsoLine(a.kinds);
  if (also) li.append(el("p", "alert-also", also));
  if (a.kind === "held" && (a.kinds || []).includes("crisis")) li.append(el("p", "alert-guide", CRISIS_GUIDE));

  const actions = el("div", "alert-actions");
  if (a.kind === "held" && entry.id != null) {
    actions.append(...heldActions(a, who, (approve, btn) => handlers.review(a, approve, btn)));
  } else {
    if (entry.id != null && entry.offset) {
      const show = button("Show message", "secondary small");
      show.dataset.action = "show";
      show.addEventListener("click", () => handlers.show(entry.id));
      actions.append(show);
    }
    const done = button("Done", "secondary small", `Done with this: ${alertTitle(a.kind)}`);
    done.dataset.action = "done";
    done.addEventListener("click", () => handlers.done(a, done));
    actions.append(done);
  }
  li.append(actions);
  return li;
}
