// Sending: drives the outbox (outbox.js decides; this module does). It asks the outbox
// what to do, sends with the connection's request, keeps the "sending…" / "waiting N s
// to send…" labels in the conversation, and turns each answer into store events: an
// accepted message becomes a log entry, a held one "waiting for a facilitator to review
// it", a refused one "not sent" with the server's words in #error.

import { errorText } from "./feedback.js";
import { isRoomEvent, newClientId } from "./lib.js";
import { Outbox } from "./outbox.js";

export function createSending({ store, conn, conversation, feedback, persist, rejoin }) {
  const outbox = new Outbox({ now: () => Date.now() });
  let holdTimer = null;

  function labelAll(label) {
    for (const item of outbox.items) conversation.setPendingLabel(item.client_id, label);
  }

  /** Send the oldest message if it may go now; otherwise say why it waits, and come back. */
  function pump() {
    if (store.getState().self.stopped) return;
    const step = outbox.next({ connected: conn.joined });
    if (step.action === "offline") labelAll(step.label); // sent after the next join
    else if (step.action === "wait") {
      labelAll(step.label);
      clearTimeout(holdTimer);
      holdTimer = setTimeout(pump, step.ms);
    } else if (step.action === "send") {
      labelAll("sending…");
      send(step.item);
    }
  }

  async function send(item) {
    const attempt = outbox.sending(item);
    const ack = await conn.request("message", { text: item.text, client_id: item.client_id });
    if (!outbox.has(item.client_id)) return; // settled already (live echo or an earlier attempt)
    if (ack.ok) {
      // Any attempt's success settles it (the server answers a retry like the first).
      outbox.settle(item.client_id);
      if (ack.held) held(item, ack);
      else accepted(item, ack);
      persist.soon();
      pump();
      return;
    }
    if (!outbox.isCurrent(item, attempt)) return; // a superseded attempt
    if (ack.error && ack.error.local) {
      // No answer in time (or the connection went): the same client_id again later.
      outbox.timedOut(item);
      pump();
      return;
    }
    const outcome = outbox.refused(item, ack.error, { slowModeS: store.getState().room.flags.slow_mode_s || 0 });
    if (outcome === "rejoin") {
      rejoin(); // our membership was lost (e.g. the server restarted): rejoin, then resend
      return;
    }
    if (outcome === "fail") failed(item, ack.error || {});
    persist.soon();
    pump();
  }

  function accepted(item, ack) {
    const me = store.getState().self;
    const entry = {
      id: ack.id,
      offset: ack.offset,
      user: { id: me.id, name: me.name || "You", role: me.role },
      text: typeof ack.text === "string" ? ack.text : item.text,
      ts: item.ts,
      client_id: item.client_id,
    };
    // Not live: an ack does not move the last offset (entries before it may be on their way).
    conversation.withScroll(() => store.dispatch({ type: "entry", entry, live: false }));
  }

  /** Accepted but held for a facilitator's review: no offset yet, and others do not see it. */
  function held(item, ack) {
    const text = typeof ack.text === "string" ? ack.text : item.text; // as moderation left it
    store.dispatch({ type: "own_state", item: { client_id: item.client_id, text, ts: item.ts, state: "held" } });
  }

  function failed(item, error) {
    const reason = errorText(error, "The message was not sent.");
    feedback.showError(reason, error.code || "");
    store.dispatch({ type: "own_state", item: { client_id: item.client_id, text: item.text, ts: item.ts, state: "failed", reason } });
  }

  function queue(m) {
    const item = outbox.add(m);
    conversation.addPending(item);
    return item;
  }

  store.subscribe((state, event) => {
    if (event.type === "entry") {
      const e = event.entry;
      // My own message in the log (live echo, or a join ack's entries after a lost ack)
      // settles it as an ack would.
      if (!isRoomEvent(e) && e.client_id && e.user && e.user.id === state.self.id && outbox.settle(e.client_id)) {
        queueMicrotask(pump);
      }
      if (event.live && e.kind === "slow_mode" && !(Number(e.slow_mode_s) > 0) && outbox.slowModeOff()) {
        clearTimeout(holdTimer);
        setTimeout(pump, 0);
      }
    }
    if (event.type === "removed_from_room") {
      outbox.clear();
      clearTimeout(holdTimer);
    }
  });

  return {
    outbox,
    pump,
    /** Kept across a reload: drawn as "sending…" and sent after the join. */
    restore: queue,
    submit(text) {
      queue({ client_id: newClientId(), text, ts: Date.now() });
      persist.now(); // the words are safe before anything else can go wrong
      feedback.clearError();
      pump();
    },
    disconnected() {
      outbox.disconnected(); // its ack may never come: the next join sends it again (same client_id)
    },
  };
}
