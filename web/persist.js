// What this tab keeps across a reload (sessionStorage, via room-cache.js's RoomCache): the log
// position, the last entries, the outbox, my own unlogged messages and a facilitator's
// open alerts. Saved a moment after changes, at once after a send, and on pagehide.

const SAVE_DELAY_MS = 250;

export function createPersistence({ cache, store, outboxSnapshot }) {
  let timer = null;

  function now() {
    clearTimeout(timer);
    const state = store.getState();
    if (state.self.stopped) return; // refused or removed: nothing to come back to
    const alerts =
      state.self.role === "facilitator"
        ? state.review.alerts.map(({ id, kind, user, entry, reason, priority, kinds, ts, received }) => ({ id, kind, user, entry, reason, priority, kinds, ts, received }))
        : [];
    cache.save({
      epoch: state.timeline.epoch,
      offset: state.timeline.lastOffset,
      entries: state.timeline.entries,
      outbox: outboxSnapshot(),
      alerts,
      own: [...state.timeline.own.values()],
    });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(now, SAVE_DELAY_MS);
  }

  store.subscribe((state, event, previous) => {
    if (state.timeline !== previous.timeline || state.review.alerts !== previous.review.alerts) soon();
  });
  window.addEventListener("pagehide", now);
  return { now, soon };
}
