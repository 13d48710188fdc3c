// The connection: the only module that touches the socket. It connects with the link's
// token, reconnects (also after the server closes the session), and offers a promise-based
// request(event, payload) that always settles: with the server's ack, or with a local
// error {ok: false, error: {code: "offline" | "timeout" | "invalid", local: true}}.

import { io } from "/vendor/socket.io.esm.min.js";

export const ACK_TIMEOUT_MS = 10_000; // no ack by then: the request settles as "timeout"
export const LIVE_EVENTS = ["message", "room_event", "presence", "typing", "hand", "notice", "alert", "space"];

const LOCAL_ERRORS = {
  offline: "You are not connected right now. Please try again in a moment.",
  timeout: "The server did not answer. Please try again.",
  invalid: "The server gave an unexpected answer.",
};

function localError(code) {
  return { ok: false, error: { code, message: LOCAL_ERRORS[code], local: true } };
}

/**
 * handlers: connect(), disconnect(reason), refused(message) (the server will not have us:
 * no more retries), reconnecting(), live(name, payload).
 */
export function createConnection({ room, token, handlers }) {
  let joined = false; // the current connection has a successful join ack
  let serverKicks = 0; // consecutive "io server disconnect" without a join in between
  let closed = false;

  const socket = io({
    auth: { token },
    transports: ["websocket", "polling"], // websocket first; polling if it cannot open
    tryAllTransports: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5_000,
    randomizationFactor: 0.5,
    timeout: ACK_TIMEOUT_MS,
  });

  socket.on("connect", () => handlers.connect());
  socket.on("connect_error", (err) => {
    if (!socket.active) {
      // Refused by the server (bad or expired token …): the reason is for people.
      closed = true;
      handlers.refused((err && err.message) || "");
    } else {
      handlers.reconnecting();
    }
  });
  socket.on("disconnect", (reason) => {
    joined = false;
    handlers.disconnect(reason);
    if (closed) return;
    if (reason === "io server disconnect") {
      // The server closed this session (e.g. it is draining): come back with a jittered
      // backoff so a whole room does not reconnect at the same instant.
      serverKicks += 1;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(serverKicks - 1, 5)) * (0.5 + Math.random());
      setTimeout(() => !closed && !socket.connected && socket.connect(), delay);
    }
  });
  for (const name of LIVE_EVENTS) {
    socket.on(name, (payload) => {
      if (closed || !payload || typeof payload !== "object") return;
      if (payload.room != null && payload.room !== room) return;
      handlers.live(name, payload);
    });
  }

  /**
   * Send `event` {room, ...payload} and wait for its ack. Before the join ack only `join`
   * itself may go (`beforeJoin`): socket.io-client would otherwise buffer the emit and
   * send it ahead of the join.
   */
  function request(event, payload = {}, { beforeJoin = false, timeoutMs = ACK_TIMEOUT_MS } = {}) {
    return new Promise((resolve) => {
      if (closed || !socket.connected || (!joined && !beforeJoin)) {
        resolve(localError("offline"));
        return;
      }
      socket.timeout(timeoutMs).emit(event, { room, ...payload }, (err, ack) => {
        if (err) resolve(localError("timeout"));
        else if (ack && typeof ack === "object") resolve(ack);
        else resolve(localError("invalid"));
      });
    });
  }

  /** Fire and forget (typing): only while joined. */
  function notify(event, payload = {}) {
    if (closed || !joined || !socket.connected) return;
    socket.timeout(ACK_TIMEOUT_MS).emit(event, { room, ...payload }, () => {});
  }

  return {
    request,
    notify,
    get connected() {
      return !closed && socket.connected;
    },
    get joined() {
      return joined && socket.connected;
    },
    setJoined(value) {
      joined = value;
      if (value) serverKicks = 0;
    },
    /** For good: refused or removed. */
    close() {
      closed = true;
      joined = false;
      socket.disconnect();
    },
  };
}
