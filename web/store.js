// The page's one store: the state, a pure reduce(state, event), and subscribers.
//
// Every change goes through `store.dispatch(event)`. `reduce` hands the event to each
// slice's owner module, and each owner returns its slice unchanged when the event is not
// about it (so one event, such as a deleted message, can touch the log, the pins and the
// alerts, each in its own module):
//
//   self      identity, role, limits, connection status        (this module)
//   timeline  log position, shown entries, own unlogged msgs   (timeline.js)
//   room      locked/paused/slow mode/floor, pins, mutes        (room.js)
//   people    members, names, raised hands, who is typing       (people.js)
//   review    facilitators' alerts and the audit trail          (review.js)
//   meeting   session, phase, round, statuses, wins, reactions  (meeting.js)
//
// Views subscribe and read the state; none of them keeps a second copy of it. Slices
// are never mutated in place: a Map in the state is copied before it changes, so the
// previous state handed to subscribers stays what it was.

import { initialMeeting, reduceMeeting } from "./meeting.js";
import { initialPeople, reducePeople } from "./people.js";
import { initialReview, reduceReview } from "./review.js";
import { initialRoom, reduceRoom } from "./room.js";
import { initialTimeline, reduceTimeline } from "./timeline.js";

/** Identity and session: who I am (from the token, then the join ack) and how we are connected. */
export function initialSelf({ id = "", name = "", role = "member" } = {}) {
  return {
    id,
    name,
    role,
    // The longest message the server takes, from the join ack's `limits`; null until an
    // ack has said, and then nothing is blocked here (the server refuses with too_long).
    maxMessageChars: null,
    status: "connecting",
    statusText: "connecting…",
    stopped: false, // refused, removed or no link: nothing is sent any more
  };
}

export function reduceSelf(self, event) {
  switch (event.type) {
    case "joined": {
      const you = (event.ack.room && event.ack.room.you) || {};
      const max = event.ack.limits && event.ack.limits.max_message_chars;
      return {
        ...self,
        role: you.role ? String(you.role) : self.role,
        id: self.id || (you.id != null ? String(you.id) : ""),
        name: self.name || (you.name ? String(you.name) : ""),
        maxMessageChars: Number.isInteger(max) && max > 0 ? max : self.maxMessageChars,
        status: "connected",
        statusText: "connected",
      };
    }
    case "status":
      return self.stopped ? self : { ...self, status: event.state, statusText: event.text };
    case "stopped":
      return { ...self, status: event.state, statusText: event.text, stopped: true };
    default:
      return self;
  }
}

export function initialState(me = {}) {
  return {
    self: initialSelf(me),
    timeline: initialTimeline(),
    room: initialRoom(),
    people: initialPeople(),
    review: initialReview(),
    meeting: initialMeeting(),
  };
}

/**
 * The whole page's state after `event`. Each owner sees the state before the event as its
 * third argument (to read another slice, e.g. the pinned message's entry), never after.
 */
export function reduce(state, event) {
  if (!event || typeof event.type !== "string") return state;
  const next = {
    self: reduceSelf(state.self, event, state),
    timeline: reduceTimeline(state.timeline, event, state),
    room: reduceRoom(state.room, event, state),
    people: reducePeople(state.people, event, state),
    review: reduceReview(state.review, event, state),
    meeting: reduceMeeting(state.meeting, event, state),
  };
  const same = Object.keys(next).every((key) => next[key] === state[key]);
  return same ? state : next;
}

/** A store: getState, dispatch, subscribe(listener(state, event, previous)) -> unsubscribe. */
export function createStore(initial, reducer = reduce) {
  let state = initial;
  const listeners = new Set();
  return {
    getState: () => state,
    dispatch(event) {
      const previous = state;
      state = reducer(state, event);
      for (const listener of [...listeners]) listener(state, event, previous);
      return state;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export const isFacilitator = (state) => state.self.role === "facilitator";
