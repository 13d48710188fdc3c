// huddle browser client: one room per tab, driven by the link's fragment
// (#room=<id>&token=<JWT>). Protocol summary in docs/web-client.md. This module only puts
// the page together: it reads the link, creates the store and the connection, mounts one
// module per panel, and loads the facilitator tools (facilitator.js) with import() once a
// join ack says this person is a facilitator. See "Module layout" in docs/web-client.md.

import { createComposer } from "./composer.js";
import { createConnection } from "./connection.js";
import { createConversation } from "./conversation.js";
import { forgetCredential, renewCredential, storedCredential } from "./credential.js";
import { createFeedback } from "./feedback.js";
import { parseFragment, readClaims } from "./lib.js";
import { RoomCache } from "./room-cache.js";
import { createMeetingPanel } from "./meeting-panel.js";
import { createNotices } from "./notices.js";
import { createPeoplePanel } from "./people-panel.js";
import { createPersistence } from "./persist.js";
import { createPins } from "./pins.js";
import { createSending } from "./sending.js";
import { createSession } from "./session.js";
import { createShortcuts } from "./shortcuts.js";
import { createSpacePanel } from "./space-panel.js";
import { createStore, initialState, isFacilitator } from "./store.js";
import { createViews } from "./views.js";

/**
 * Room and token from the link. The token is moved from the address bar into this tab's
 * sessionStorage, so it is not shown on a shared screen or kept in the history, and a
 * reload still finds it.
 */
function resolveLink() {
  const { room, token: fromHash } = parseFragment(location.hash);
  if (!room) return { room, token: fromHash };
  const key = `huddle:v1:token:${room}`;
  let token = fromHash;
  try {
    if (fromHash) {
      sessionStorage.setItem(key, fromHash);
      history.replaceState(null, "", `${location.pathname}${location.search}#room=${encodeURIComponent(room)}`);
    } else {
      token = sessionStorage.getItem(key) || "";
    }
  } catch {
    // No sessionStorage: keep the token in the fragment so a reload still works.
  }
  return { room, token };
}

/**
 * The link's token, else a session credential kept in this browser when the person opened
 * an invitation (credential.js), renewed now: coming back keeps it alive. A place that has
 * ended goes to the page that says so (what happened, who to contact, crisis lines).
 */
async function resolveCredential() {
  const link = resolveLink();
  if (!link.room || link.token) return { ...link, kept: false };
  const storage = globalThis.localStorage;
  const kept = storedCredential(storage, link.room);
  if (!kept) return { ...link, kept: false };
  const renewed = await renewCredential({ storage, room: link.room, token: kept });
  if (renewed.ended) {
    location.replace(endedPage(link.room, renewed.why));
    return null;
  }
  return { room: link.room, token: renewed.token, kept: true };
}

const endedPage = (room, why = "") => `/ended/${encodeURIComponent(room)}${why === "expired" ? "?why=expired" : ""}`;
const PLACE_ENDED = /place in this group has ended/;
const ORGANISER_ENDED = /organiser has ended your place/;

/**
 * The skip links move focus without touching the address bar: the fragment is the room's
 * link, and changing it would otherwise reload the page without its token.
 */
function mountSkipLinks() {
  for (const link of document.querySelectorAll("a.skip")) {
    link.addEventListener("click", (event) => {
      const target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      event.preventDefault();
      document.dispatchEvent(new CustomEvent("huddle:reveal", { detail: { id: target.id } }));
      if (!target.matches("textarea, input, button, select, a[href], [tabindex]")) target.tabIndex = -1;
      target.focus();
    });
  }
}

/** Draw what this tab had before a reload (entries, own messages, outbox, alerts). */
function restore({ saved, store, sending, conversation }) {
  store.dispatch({ type: "position_restored", epoch: saved.epoch, offset: saved.offset });
  if (saved.epoch) for (const entry of saved.entries) store.dispatch({ type: "entry", entry, live: false });
  // Own messages without a place in the log come back in the order they were written.
  const own = [...saved.own.map((m) => ({ ...m, kind: "own" })), ...saved.outbox.map((m) => ({ ...m, kind: "outbox" }))];
  own.sort((x, y) => (x.ts || 0) - (y.ts || 0));
  for (const m of own) {
    const { client_id, text, ts, state, reason } = m;
    if (m.kind === "own") store.dispatch({ type: "own_state", item: { client_id, text, ts, state, reason } });
    else if (!sending.outbox.has(client_id)) sending.restore({ client_id, text, ts });
  }
  if (isFacilitator(store.getState())) {
    for (const a of saved.alerts) store.dispatch({ type: "alert", payload: { ...a, fromCache: true } });
  }
  conversation.scrollToBottom();
}

function start({ room, token, kept }) {
  const claims = readClaims(token);
  // The claims are read unverified, only to label my own messages before the first join.
  const store = createStore(
    initialState({
      id: claims.sub != null ? String(claims.sub) : "",
      name: claims.name != null ? String(claims.name) : "",
      role: (claims.rooms && claims.rooms[room]) || "member",
    }),
  );
  const cache = new RoomCache(globalThis.sessionStorage, room);
  let conn = null;
  const request = (event, payload, options) => conn.request(event, payload, options);
  const notify = (event, payload) => conn && conn.notify(event, payload);

  const feedback = createFeedback({ store, request });
  let composer = null;
  const conversation = createConversation({ store, feedback, onEditFailed: (text) => composer.takeBack(text) });
  const peoplePanel = createPeoplePanel({ store, request, feedback });
  createPins({ store, feedback, showMessage: conversation.showMessage });
  createNotices({ store, feedback });
  createSpacePanel({ store, request, feedback });
  createViews({ store });
  createShortcuts({ store, conversation });
  createMeetingPanel({ store, request, feedback });
  let sending = null;
  const persist = createPersistence({ cache, store, outboxSnapshot: () => sending.outbox.snapshot() });
  let facilitator = null; // the facilitator tools, once loaded

  const session = createSession({
    store,
    conversation,
    feedback,
    cache,
    hooks: {
      async joined(state) {
        persist.soon();
        sending.pump();
        if (!isFacilitator(state)) return;
        if (!facilitator) {
          let tools;
          try {
            tools = await import("./facilitator.js");
          } catch {
            feedback.say("The facilitator tools could not be loaded. Please reload the page.", { error: true });
            return;
          }
          // Two joins in quick succession both wait for the import: mount once.
          facilitator = facilitator || tools.mountFacilitator({ store, feedback, request, conversation, peoplePanel, room });
        }
        facilitator.joined();
      },
      disconnected: () => sending.disconnected(),
    },
  });
  // Sending sees the connection only through request and whether we are joined now.
  const link = {
    request,
    get joined() {
      return Boolean(conn) && conn.joined;
    },
  };
  sending = createSending({ store, conn: link, conversation, feedback, persist, rejoin: () => session.join() });
  composer = createComposer({ store, notify, submit: (text) => sending.submit(text) });

  // A new link (another room, or a token) pasted into this tab reloads the page; a
  // fragment that names neither (an in-page link) does not end the session.
  window.addEventListener("hashchange", () => {
    const next = parseFragment(location.hash);
    if ((next.room && next.room !== room) || next.token) location.reload();
  });
  mountSkipLinks();
  // A credential from an invitation names the group (its display name); a link's token
  // does not, and the room id is shown.
  const heading = typeof claims.group === "string" && claims.group ? claims.group : room;
  document.getElementById("room-name").textContent = heading;
  document.title = heading ? `huddle · ${heading}` : "huddle";
  document.body.dataset.role = store.getState().self.role;
  store.subscribe((state, event, previous) => {
    if (state.self.role !== previous.self.role) document.body.dataset.role = state.self.role;
  });

  if (!room || !token) {
    document.getElementById("room-name").textContent = "";
    const text = "This link has no room or no token. Please open the link you were given.";
    session.stop("refused", text);
    feedback.showError(text);
    return;
  }

  const saved = cache.load();
  if (saved) restore({ saved, store, sending, conversation });

  const handlers = !kept
    ? session.handlers
    : {
        ...session.handlers,
        refused(message) {
          // An organiser ended this person's place: forget the credential, say what happened.
          if (PLACE_ENDED.test(message || "")) {
            forgetCredential(globalThis.localStorage, room);
            location.replace(endedPage(room));
            return;
          }
          session.handlers.refused(message);
        },
      };
  if (kept) {
    // Removed by the organiser (not by a facilitator, which is for now): the place is over,
    // so the credential goes and the page that says what happened and who to contact opens.
    store.subscribe((state, event) => {
      if (event && event.type === "removed_from_room" && ORGANISER_ENDED.test(String(event.reason || ""))) {
        forgetCredential(globalThis.localStorage, room);
        location.replace(endedPage(room));
      }
    });
  }
  conn = createConnection({ room, token, handlers });
  session.attach(conn);
}

resolveCredential().then((link) => link && start(link));
