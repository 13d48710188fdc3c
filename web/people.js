// Who is here: the members present, every name seen (for naming people who left), the
// queue of raised hands in raise order, and who is typing. Pure.

export function initialPeople() {
  return {
    members: [], // [{id, name, role}] present now, facilitators first, then by name
    known: new Map(), // user id -> {id, name, role}
    hands: [], // [{id, name, role}] in the order hands were raised
    typing: new Map(), // user id -> name
  };
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
      const next = withMembers(people, r.members);
      return Array.isArray(r.hands) ? withHands(next, r.hands) : next;
    }
    case "presence": {
      const p = event.payload;
      let next;
      if (Array.isArray(p.members)) {
        next = withMembers(people, p.members);
      } else {
        let list = people.members;
        if (p.left) list = list.filter((m) => m.id !== p.left.id);
        if (p.joined && !list.some((m) => m.id === p.joined.id)) list = [...list, p.joined];
        next = withMembers(people, list);
      }
      return p.left ? withoutTyper(next, p.left.id) : next;
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
      return { ...people, members: [], typing: new Map() };
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
