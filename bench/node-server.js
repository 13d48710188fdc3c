#!/usr/bin/env node
// A minimal Node reference server for Scenario B: socket.io 4.8 + @socket.io/redis-adapter.
//
// It implements only what the benchmark uses, with huddle's protocol shapes (DESIGN §3):
//   connect  auth {token}: an HS256 JWT signed with HUDDLE_SECRET ({sub, name, rooms, exp})
//   join     {room}                  -> ack {ok, room: {id, epoch, offset, ...}, recovered, entries}
//   message  {room, text, client_id} -> ack {ok, id, offset, text}
//            and "message" {room, id, offset, user, text, ts, client_id} to everyone in the room
// A message takes one Redis round trip (INCR of the room's offset) like a real server that
// numbers its messages would; it keeps no log, no moderation, no dedupe: this is the floor
// a Node server of the same shape costs, not a feature-equivalent of huddle.
//
// With --presence (NODE_BENCH_PRESENCE=1) a join does the visible work huddle's does: the
// joiner is added to the room's presence (a Redis hash) and the members are read in the
// same round trip (MULTI), everyone else in the room is told {room, joined, members}, and
// the ack carries the members. Still no grace, hands, state or history.
//
// Usage: REDIS_URL=redis://127.0.0.1:P HUDDLE_SECRET=... node node-server.js --port Q
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const PORT = Number(arg("port", process.env.PORT || 8090));
const HOST = arg("host", "127.0.0.1");
const REDIS_URL = process.env.REDIS_URL;
const SECRET = process.env.HUDDLE_SECRET || "";
const MAX_CHARS = 2000;
const EPOCH = "bench";
const PRESENCE = process.argv.includes("--presence") || process.env.NODE_BENCH_PRESENCE === "1";

// As huddle orders members (rooms/presence.py in_member_order): facilitators, then names.
function memberOrder(a, b) {
  const fa = a.role === "facilitator";
  const fb = b.role === "facilitator";
  if (fa !== fb) return fa ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

if (!REDIS_URL || !REDIS_URL.startsWith("redis://127.0.0.1:")) {
  console.error("node-server: REDIS_URL must be a redis://127.0.0.1:PORT url");
  process.exit(2);
}
if (SECRET.length < 32) {
  console.error("node-server: HUDDLE_SECRET must be at least 32 characters");
  process.exit(2);
}

// HS256 check: enough to refuse a token not made with the secret, as huddle does.
function verifyToken(token) {
  if (typeof token !== "string") throw new Error("token missing");
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("token malformed");
  const mac = crypto.createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const sig = Buffer.from(parts[2], "base64url");
  if (sig.length !== mac.length || !crypto.timingSafeEqual(sig, mac)) {
    throw new Error("token signature invalid");
  }
  const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  if (!claims.exp || claims.exp * 1000 <= Date.now()) throw new Error("token expired");
  if (typeof claims.sub !== "string" || typeof claims.rooms !== "object" || !claims.rooms) {
    throw new Error("token malformed");
  }
  return claims;
}

function fail(code, message) {
  return { ok: false, error: { code, message } };
}

async function main() {
  const pub = createClient({ url: REDIS_URL });
  const sub = pub.duplicate();
  const cmd = pub.duplicate(); // commands (INCR) on their own connection
  for (const c of [pub, sub, cmd]) c.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pub.connect(), sub.connect(), cmd.connect()]);

  const httpServer = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, worker: `node:${process.pid}` }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub),
    maxHttpBufferSize: 64 * 1024,
    pingInterval: 20000,
    pingTimeout: 20000,
    perMessageDeflate: false,
    serveClient: false,
  });

  io.use((socket, next) => {
    try {
      socket.data.claims = verifyToken(socket.handshake.auth && socket.handshake.auth.token);
      next();
    } catch (err) {
      next(new Error(`unauthorized: ${err.message}`));
    }
  });

  io.on("connection", (socket) => {
    const claims = socket.data.claims;
    const user = (room) => ({ id: claims.sub, name: claims.name, role: claims.rooms[room] });

    socket.on("join", async (data, ack) => {
      if (typeof ack !== "function") return;
      const room = data && data.room;
      if (typeof room !== "string" || !claims.rooms[room]) {
        ack(fail("forbidden", "Your invitation does not include this room."));
        return;
      }
      try {
        let offset;
        let members = [];
        if (PRESENCE) {
          const me = user(room);
          const [added, all, stored] = await cmd
            .multi()
            .hSet(`bench:{${room}}:presence`, me.id, JSON.stringify(me))
            .hGetAll(`bench:{${room}}:presence`)
            .get(`bench:{${room}}:offset`)
            .exec();
          offset = Number(stored || 0);
          members = Object.values(all)
            .map((v) => JSON.parse(v))
            .sort(memberOrder);
          socket.join(room);
          if (Number(added) === 1) socket.to(room).emit("presence", { room, joined: me, members });
        } else {
          offset = Number((await cmd.get(`bench:{${room}}:offset`)) || 0);
          socket.join(room);
        }
        ack({
          ok: true,
          room: {
            id: room,
            epoch: EPOCH,
            offset,
            locked: false,
            slow_mode_s: 0,
            pinned: [],
            members,
            you: { role: claims.rooms[room], muted_until: null },
          },
          recovered: false,
          entries: [],
        });
      } catch (err) {
        ack(fail("unavailable", "The chat is briefly unavailable; please try again."));
      }
    });

    socket.on("message", async (data, ack) => {
      if (typeof ack !== "function") return;
      if (!data || typeof data !== "object") {
        ack(fail("invalid_payload", "The payload must be an object."));
        return;
      }
      const { room, text, client_id: clientId } = data;
      if (typeof room !== "string" || !socket.rooms.has(room)) {
        ack(fail("not_in_room", "Join the room before sending to it."));
        return;
      }
      if (typeof text !== "string" || typeof clientId !== "string") {
        ack(fail("invalid_payload", "`text` and `client_id` must be strings."));
        return;
      }
      if (text.length > MAX_CHARS) {
        ack(fail("too_long", "That message is too long."));
        return;
      }
      let offset;
      try {
        offset = await cmd.incr(`bench:{${room}}:offset`);
      } catch (err) {
        ack(fail("unavailable", "The chat is briefly unavailable; please try again."));
        return;
      }
      const id = crypto.randomBytes(8).toString("hex");
      io.to(room).emit("message", {
        room,
        id,
        offset,
        user: user(room),
        text,
        ts: Date.now(),
        client_id: clientId,
      });
      ack({ ok: true, id, offset, text });
    });
  });

  httpServer.listen(PORT, HOST, 2048, () => {
    console.log(`node-server: listening on http://${HOST}:${PORT} pid ${process.pid}`);
  });

  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit(), cmd.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error("node-server:", err);
  process.exit(1);
});
