// Who is here: the members present, who came and went while this tab watched (arrived,
// left), every name seen (for naming people who left), the queue of raised hands in raise
// order, and who is typing. Pure: "now" comes with the event (`at`).

/** Someone who left this long ago or less is shown as reconnecting (a dropped phone). */
export const RECONNECT_GRACE_MS = 20_000;
/** Facilitators see someone who left for this long (longer while an alert about them is open). */
export const LEFT_SHOWN_MS = 10 * 60_000;
/** "joined 10:02" shows this long after someone arrives. */
export const ARRIVED_SHOWN_MS = 2 * 60_000;

export function initialPeople() {
  return {
    members: [], // [{id, name, role}] present now, facilitators first, then by name
    known: new Map(), // user id -> {id, name, role}
    hands: [], // [{id, name, role}] in the order hands were raised
    typing: new Map(), // user id -> name
    arrived: new Map(), // user id -> when they joined, seen live (not those here when I came)
    left: new Map(), // user id -> {id, name, role, at}: left while I watched, not back yet
  };
}

/** Live comings and goings: `left` gets whoever went, loses whoever is back. */
function withMovement(people, p, at) {
  let { arrived, left } = people;
  if (p.left && p.left.id != null) {
    const id = String(p.left.id);
    left = new Map(left);
    left.set(id, { id, name: p.left.name || "", role: p.left.role || "", at });
    if (arrived.has(id)) {
      arrived = new Map(arrived);
      arrived.delete(id);
    }
  }
  if (p.joined && p.joined.id != null) {
    const id = String(p.joined.id);
    const back = left.get(id);
    if (back) {
      left = new Map(left);
      left.delete(id);
    }
    // Back within the grace is a reconnect, not an arrival.
    if (!back || at - back.at > RECONNECT_GRACE_MS) {
      arrived = new Map(arrived);
      arrived.set(id, at);
    }
  }
  return arrived === people.arrived && left === people.left ? people : { ...people, arrived, left };
}

/**
 * The comings and goings in one `presence` event, oldest first: those a server gathered
 * from a short window (`earlier`, each `{joined}` or `{left}`), then the event's own.
 */
export function presenceChanges(p) {
  const changes = [];
  for (const c of [...(Array.isArray(p.earlier) ? p.earlier : []), p]) {
    if (!c) continue;
    if (c.left && c.left.id != null) changes.push({ left: c.left });
    if (c.joined && c.joined.id != null) changes.push({ joined: c.joined });
  }
  return changes;
}

/** Whoever is present is not "left" (a join ack's list, or a full list in `presence`). */
function withoutPresent(people) {
  const present = new Set(people.members.map((m) => m.id));
  if (![...people.left.keys()].some((id) => present.has(id))) return people;
  return { ...people, left: new Map([...people.left].filter(([id]) => !present.has(id))) };
}

function sortMembers(list) {
  return [...list].sort(
    (a, b) => (a.role !== "facilitator") - (b.role !== "facilitator") || String(a.name).localeCompare(String(b.name)),
  );
}

/** `known` with these users' names and roles (a copy only when something is new). */
function remember(known, users) {
  let next = known;
  for (const user of users) {
    if (!user || user.id == null) continue;
    const id = String(user.id);
    const old = next.get(id);
    if (!old || (user.name && user.name !== old.name) || (user.role && user.role !== old.role)) {
      if (next === known) next = new Map(known);
      next.set(id, { id, name: user.name || (old && old.name) || "", role: user.role || (old && old.role) || "" });
    }
  }
  return next;
}

function withMembers(people, list) {
  const members = sortMembers((Array.isArray(list) ? list : []).filter((m) => m && m.id != null));
  return { ...people, members, known: remember(people.known, members) };
}

function withHands(people, list) {
  const hands = (Array.isArray(list) ? list : []).filter((u) => u && u.id != null).map((u) => ({ ...u, id: String(u.id) }));
  return { ...people, hands, known: remember(people.known, hands) };
}

function withoutTyper(people, id) {
  if (!people.typing.has(id)) return people;
  const typing = new Map(people.typing);
  typing.delete(id);
  return { ...people, typing };
}

export function reducePeople(people, event, state) {
  switch (event.type) {
    case "joined": {
      const r = event.ack.room || {};
      const next = withoutPresent(withMembers(people, r.members));
      return Array.isArray(r.hands) ? withHands(next, r.hands) : next;
    }
    case "presence": {
      const p = event.payload;
      const at = Number.isFinite(event.at) ? event.at : Date.now();
      let next;
      if (Array.isArray(p.members)) {
        next = withMembers(people, p.members);
      } else {
        let list = people.members;
        if (p.left) list = list.filter((m) => m.id !== p.left.id);
        if (p.joined && !list.some((m) => m.id === p.joined.id)) list = [...list, p.joined];
        next = withMembers(people, list);
      }
      const me = state.self.id;
      for (const change of presenceChanges(p)) {
        const user = change.joined || change.left;
        if (user.id === me) continue;
        next = withMovement(next, change, at);
        if (change.left) next = withoutTyper(next, user.id);
      }
      return withoutPresent(next);
    }
    case "hand": {
      const p = event.payload;
      if (p.cleared) return withHands(people, []);
      if (Array.isArray(p.hands)) return withHands(people, p.hands);
      // Without the queue (an older server): add or remove this one hand.
      const user = p.user || {};
      if (user.id == null) return people;
      const rest = people.hands.filter((u) => u.id !== String(user.id));
      return withHands(people, p.raised ? [...rest, user] : rest);
    }
    case "typing": {
      const user = event.payload.user || {};
      if (user.id == null || user.id === state.self.id) return people;
      if (!event.payload.active) return withoutTyper(people, user.id);
      const typing = new Map(people.typing);
      typing.set(user.id, user.name || nameOf(state, user.id) || "Someone");
      return { ...people, typing };
    }
    case "typing_expired":
      return withoutTyper(people, event.id);
    case "typing_cleared":
      return people.typing.size ? { ...people, typing: new Map() } : people;
    case "entry": {
      const e = event.entry;
      return { ...people, known: remember(people.known, [e.by, e.user]) };
    }
    case "alert": {
      const a = event.payload;
      return { ...people, known: remember(people.known, [a.user, a.entry && a.entry.user]) };
    }
    case "audit_loaded":
      return { ...people, known: remember(people.known, event.entries.map((a) => a.by)) };
    case "removed_from_room":
      // No longer in the room: who is there is not ours to see.
      return { ...people, members: [], typing: new Map(), arrived: new Map(), left: new Map() };
    default:
      return people;
  }
}

/** A user's display name: present members, then anyone seen, then myself; "" if unknown. */
export function nameOf(state, userId) {
  const id = String(userId);
  const member = state.people.members.find((m) => m.id === id);
  if (member && member.name) return member.name;
  const seen = state.people.known.get(id);
  if (seen && seen.name) return seen.name;
  if (id === state.self.id) return state.self.name || "You";
  return "";
}

export function hasHand(people, userId) {
  return people.hands.some((u) => u.id === userId);
}

/** Whom an alert is about: the message's author, else its user (a report's reporter is not). */
export function alertSubject(a) {
  const subject = (a.entry && a.entry.user) || (a.kind !== "report" ? a.user : null);
  return subject && subject.id != null ? String(subject.id) : null;
}

/**
 * A facilitator's list of people at `now`: those present (`presence: "here"`, with
 * `since` when they arrived while I watched), then those who left, newest first
 * (`"reconnecting"` within the grace, then `"left"`), shown for a while, and for as long
 * as an alert about them is open (`alert: true`; also marked on those present). People
 * removed from the room are not here: they are listed under "Removed".
 */
export function roster(state, now) {
  const { members, arrived, left } = state.people;
  const flagged = new Set(state.review.alerts.map(alertSubject).filter(Boolean));
  const removed = state.room.moderation.removed;
  const here = members.map((m) => {
    const at = arrived.get(m.id);
    return { ...m, presence: "here", since: at != null && now - at < ARRIVED_SHOWN_MS ? at : null, alert: flagged.has(m.id) };
  });
  const gone = [...left.values()]
    .filter((m) => !removed.has(m.id) && m.id !== state.self.id && (flagged.has(m.id) || now - m.at < LEFT_SHOWN_MS))
    .sort((x, y) => y.at - x.at)
    .map((m) => ({
      id: m.id,
      name: m.name || nameOf(state, m.id),
      role: m.role,
      presence: now - m.at < RECONNECT_GRACE_MS ? "reconnecting" : "left",
      since: m.at,
      alert: flagged.has(m.id),
    }));
  return [...here, ...gone];
}

/** When the roster next changes by itself (a grace or a "joined" running out), or null. */
export function rosterChangesAt(state, now) {
  const times = [
    ...[...state.people.left.values()].flatMap((m) => [m.at + RECONNECT_GRACE_MS, m.at + LEFT_SHOWN_MS]),
    ...[...state.people.arrived.values()].map((at) => at + ARRIVED_SHOWN_MS),
  ].filter((t) => t > now);
  return times.length ? Math.min(...times) : null;
}
