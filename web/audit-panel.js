// Facilitators: the activity log (details#audit). The audit trail is read after every
// join, when the log is opened, on "Refresh", and shortly after each room change while it
// is open. Read oldest first, then the live events that came during the request, it also
// tells the store who is muted and who is removed (the join ack does not say that).

import { button, byId, el } from "./dom.js";
import { errorText } from "./feedback.js";
import { formatTime, isRoomEvent } from "./lib.js";
import { describeAudit, isAutomaticAudit } from "./review-text.js";
import { nameOf } from "./people.js";
import { MODERATION_KINDS } from "./room.js";

const AUDIT_FETCH = 500; // entries read to know who is muted or removed
const AUDIT_SHOWN = 100; // of which the log shows this many
const REFRESH_DELAY_MS = 400;

export function createAuditPanel({ store, request, readmit }) {
  const details = byId("audit");
  const refresh = byId("audit-refresh");
  const status = byId("audit-status");
  const list = byId("audit-list");
  const auto = byId("audit-auto");
  let seq = 0;
  let liveSince = null; // moderation room events that arrive while the audit is being read
  let timer = null;

  async function load() {
    if (store.getState().self.status !== "connected") return;
    const mine = ++seq;
    liveSince = [];
    if (details.open && !store.getState().review.auditLoaded) status.textContent = "Loading…";
    const ack = await request("audit", { limit: AUDIT_FETCH });
    if (mine !== seq) return;
    const since = liveSince || [];
    liveSince = null;
    if (!ack.ok) {
      status.textContent = errorText(ack.error, "The activity log could not be read.");
      return;
    }
    const entries = Array.isArray(ack.entries) ? ack.entries.filter((a) => a && typeof a === "object") : [];
    store.dispatch({ type: "audit_loaded", entries, since });
  }

  function refreshSoon() {
    if (!details.open) return;
    clearTimeout(timer);
    timer = setTimeout(load, REFRESH_DELAY_MS);
  }

  function render(state) {
    // Automatic moderation entries can be many: hidden unless asked for, so the
    // facilitators' own actions are not pushed out of the list.
    const showAuto = auto.checked;
    const entries = state.review.audit;
    const removed = state.room.moderation.removed;
    const who = (id) => nameOf(state, id);
    const shown = entries.filter((a) => showAuto || !isAutomaticAudit(a)).slice(0, AUDIT_SHOWN);
    const items = shown.map((a) => {
      const li = el("li", "audit-item");
      li.dataset.action = String(a.action || "");
      if (isAutomaticAudit(a)) li.classList.add("automatic");
      const time = el("time", "time", formatTime(a.ts));
      if (Number.isFinite(a.ts)) time.dateTime = new Date(a.ts).toISOString();
      li.append(time, el("span", "audit-text", describeAudit(a, who)));
      if (a.reason && a.action !== "reported") li.append(el("span", "audit-reason", `“${a.reason}”`));
      if (a.action === "removed" && a.user_id != null && removed.has(String(a.user_id))) {
        const name = who(String(a.user_id)) || String(a.user_id);
        const back = button("Let back in", "secondary small", `Let back in: ${name}`);
        back.addEventListener("click", () => readmit(String(a.user_id), back));
        li.append(back);
      }
      return li;
    });
    list.replaceChildren(...items);
    const hidden = entries.length > 0 && items.length === 0 && !showAuto;
    status.textContent = items.length
      ? ""
      : hidden
        ? "No facilitator actions yet. Automatic moderation entries are hidden."
        : "Nothing has happened yet.";
  }

  details.addEventListener("toggle", () => {
    if (details.open) load();
  });
  refresh.addEventListener("click", load);
  auto.addEventListener("change", () => render(store.getState()));

  store.subscribe((state, event, previous) => {
    if (event.type === "entry" && isRoomEvent(event.entry)) {
      if (liveSince && MODERATION_KINDS.has(event.entry.kind)) liveSince.push(event.entry);
      if (event.live) refreshSoon();
    }
    if (event.type === "hand" && event.payload.cleared) refreshSoon();
    if (state.review.audit !== previous.review.audit || state.room.moderation !== previous.room.moderation) render(state);
  });

  return { load, refreshSoon };
}
