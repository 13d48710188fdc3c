// The session: joining the room and handing every server event to the store. This is
// the one place where socket events become store events (like Zulip's
// server_events_dispatch.js): a live entry is checked against the log position (shown
// already? then it is dropped), events that arrive before the join ack are buffered and
// replayed after it, and the join ack is unfolded into the events each owner handles.

import { errorText } from "./feedback.js";
import { hasOffset, heldQuery, refusalText, retryDelay } from "./lib.js";
import { isNewEntry } from "./timeline.js";

const RETRY_MS = 3_000; // a join that got no answer is tried again after this

/**
 * conn: the connection; conversation: for keeping the view at the bottom; feedback;
 * cache: the RoomCache (the removal note); hooks: joined(state) after each join ack
 * (sending, facilitator tools), disconnected().
 */
export function createSession({ store, conversation, feedback, cache, hooks }) {
  let conn = null;
  let joinSeq = 0; // invalidates acks of superseded join attempts
  let buffered = []; // live events received before the join ack: [name, payload]

  const dispatch = (event) => store.dispatch({ at: Date.now(), ...event });
  const stopped = () => store.getState().self.stopped;

  function stop(state, text) {
    if (conn) conn.setJoined(false);
    dispatch({ type: "stopped", state, text });
  }

  /** Removed by a facilitator: say so kindly, stop, and do not try to come back. */
  function removedFromRoom(reason = null) {
    // Their note is kept for this tab, so a reload (refused with "removed") still shows it.
    if (typeof reason === "string") cache.saveRemoved(reason);
    else reason = cache.loadRemoved() || "";
    stop("removed", "You have been removed from this room.");
    feedback.clearError();
    dispatch({ type: "removed_from_room", reason });
    try {
      sessionStorage.removeItem(cache.key);
    } catch {
      // nothing to forget
    }
    if (conn) conn.close();
  }

  function serverEvent(name, p) {
    switch (name) {
      case "message":
      case "room_event": {
        const state = store.getState();
        if (!isNewEntry(state.timeline, p)) return; // already shown (recovery, or a repeat)
        conversation.withScroll(() => dispatch({ type: "entry", entry: p, live: true }));
        const target = p.user_id ?? (p.user && p.user.id);
        if (name === "room_event" && p.kind === "removed" && target === state.self.id) {
          removedFromRoom(typeof p.reason === "string" ? p.reason : "");
        }
        break;
      }
      case "presence":
      case "typing":
      case "hand":
      case "notice":
      case "alert":
      case "space":
        dispatch({ type: name, payload: p });
        break;
      default:
        break;
    }
  }

  function live(name, payload) {
    if (stopped()) return;
    if (!conn.joined) {
      buffered.push([name, payload]); // replayed after the join ack, deduped by offset
      return;
    }
    serverEvent(name, payload);
  }

  async function join() {
    if (stopped() || !conn.connected) return;
    const seq = ++joinSeq;
    conn.setJoined(false);
    buffered = [];
    dispatch({ type: "status", state: "joining", text: "joining…" });
    const { timeline } = store.getState();
    const payload = timeline.epoch !== null ? { since: { offset: timeline.lastOffset, epoch: timeline.epoch } } : {};
    // My messages still shown as waiting for review: the ack says what became of them.
    const held = heldQuery(timeline.own.values());
    if (held.length > 0) payload.held = held;
    const ack = await conn.request("join", payload, { beforeJoin: true });
    if (seq !== joinSeq || stopped()) return;
    if (!ack.ok) {
      const error = ack.error || {};
      if (error.local) {
        if (conn.connected) setTimeout(() => seq === joinSeq && join(), RETRY_MS);
        return;
      }
      if (error.code === "unavailable" || error.code === "rate_limited") {
        dispatch({ type: "status", state: "joining", text: "joining… (the server is busy)" });
        setTimeout(() => seq === joinSeq && join(), retryDelay(error, RETRY_MS));
        return;
      }
      if (error.code === "forbidden" && /removed/i.test(String(error.message || ""))) {
        removedFromRoom(); // removed while we were away: same kind message, no retries
        return;
      }
      const text = errorText(error, "Could not join the room.");
      feedback.showError(text);
      stop("refused", text);
      conn.close();
      return;
    }
    joined(ack);
  }

  function joined(ack) {
    const before = store.getState().timeline;
    const r = ack.room || {};
    const list = Array.isArray(ack.entries) ? ack.entries : [];
    const continues = Boolean(ack.recovered) && before.epoch !== null && r.epoch === before.epoch;
    conversation.withScroll(
      () => {
        // A fresh page: the ack's `history` says when what came before is gone for good.
        if (!continues) dispatch({ type: "timeline_reset", history: ack.history });
        for (const e of list) {
          if (!e || typeof e !== "object") continue;
          if (!hasOffset(e) || e.offset > before.lastOffset || !continues) dispatch({ type: "entry", entry: e, live: false });
        }
      },
      { force: !continues },
    );
    // After the entries: an approved message already in them has taken its placeholder's place.
    dispatch({ type: "joined", ack, continues });

    conn.setJoined(true);
    feedback.clearError();
    const early = buffered;
    buffered = [];
    for (const [name, payload] of early) serverEvent(name, payload);
    cache.clearRemoved(); // in the room: any old "you were removed" note is over
    hooks.joined(store.getState());
  }

  const handlers = {
    connect: join,
    refused(raw) {
      const message = raw || "The server refused the connection.";
      const text = refusalText(message);
      const hint = text === message && /^unauthorized/.test(message) ? " Please ask your facilitator for a new link." : "";
      feedback.showError(text + hint);
      stop("refused", text);
    },
    reconnecting() {
      dispatch({ type: "status", state: "reconnecting", text: "reconnecting…" });
    },
    disconnect() {
      joinSeq += 1;
      buffered = [];
      dispatch({ type: "disconnected" });
      dispatch({ type: "typing_cleared" });
      hooks.disconnected();
      if (!stopped()) dispatch({ type: "status", state: "reconnecting", text: "reconnecting…" });
    },
    live,
  };

  return {
    handlers,
    /** The connection is made with these handlers, then handed back here. */
    attach(connection) {
      conn = connection;
    },
    join,
    stop,
  };
}
