#!/usr/bin/env node
// Reconnect storm: R rooms x M members on the official socket.io-client, spread round-robin
// over two workers A and B (connected directly, websocket only). Once everyone has joined
// and each room has some history, this prints "PHASE ready"; the driver (run_storm.py)
// kills worker A with SIGKILL and writes the kill time (ms since the epoch) on stdin. Every
// member that was on A then reconnects at once to B and joins with `since` (its last
// offset and the room's epoch), as the web client does after a worker dies. A refused join
// is retried after `retry_after_s` with jitter, as the web client does. Meanwhile one
// member per room on B keeps talking; at the end a barrier message per room proves that
// every member has every entry exactly once, in order.
//
//   node storm.js --a http://127.0.0.1:8101 --b http://127.0.0.1:8102 --secret S \
//       --rooms 250 --members 20
//
// Lines on stdout: "PHASE <json>" and, last, "RESULT <json>". Every wait is bounded
// (--ramp-timeout, --recover-timeout, --max-run); only loopback URLs are accepted.
"use strict";

const crypto = require("node:crypto");
const readline = require("node:readline");
const { io } = require("socket.io-client");

const DEFAULTS = {
  a: "",
  b: "",
  secret: process.env.HUDDLE_SECRET || "",
  rooms: 250,
  members: 20,
  "talk-interval": 1.0,
  "ramp-concurrency": 100,
  "ramp-timeout": 120,
  "recover-timeout": 60,
  "ack-timeout": 20,
  "max-run": 400,
  "room-prefix": "storm",
};

function parseArgs(argv) {
  const opts = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in DEFAULTS) || argv[i + 1] === undefined) die(`bad option ${argv[i]}`);
    opts[key] = typeof DEFAULTS[key] === "number" ? Number(argv[i + 1]) : argv[i + 1];
  }
  return opts;
}

function die(msg) {
  console.error(`storm: ${msg}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
for (const u of [opts.a, opts.b]) {
  if (!u) die("--a and --b are required");
  const host = new URL(u).hostname;
  if (!(host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host))) die(`refusing ${u}`);
}
if (opts.secret.length < 32) die("--secret of at least 32 characters is required");
if (!(opts.rooms * opts.members >= 2 && opts.rooms * opts.members <= 20000)) die("1 < rooms x members <= 20000");
setTimeout(() => die(`--max-run ${opts["max-run"]} s passed`), opts["max-run"] * 1000).unref();

const say = (kind, obj) => process.stdout.write(`${kind} ${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const JWT_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

function token(userId, room) {
  const now = Math.floor(Date.now() / 1000);
  const body = { sub: userId, name: `Storm ${userId}`, rooms: { [room]: "member" }, iat: now, exp: now + 3600 };
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  const sig = crypto.createHmac("sha256", opts.secret).update(`${JWT_HEADER}.${payload}`).digest("base64url");
  return `${JWT_HEADER}.${payload}.${sig}`;
}

const stats = {
  reconnecting: 0,
  recovered: 0,
  not_recovered_flag: 0,
  refused: {},
  members_refused: 0,
  connect_errors: 0,
  recovery_ms: [],
  lost: 0,
  duplicated: 0,
  out_of_order: 0,
  stages: { disconnect: [], connect: [], join: [] },
};
const members = [];
let killedAt = 0;
let phase = "ramp";

// One member: its socket, the offsets it has seen (history, live and recovered).
function newMember(index) {
  const roomIndex = Math.floor(index / opts.members);
  const room = `${opts["room-prefix"]}-${roomIndex}`;
  const onA = index % 2 === 0;
  return { index, room, roomIndex, onA, userId: `${opts["room-prefix"]}-u${index}`, epoch: null, last: 0, seen: new Set(), socket: null, refusedOnce: false };
}

function observe(member, entry) {
  const off = Number(entry && entry.offset);
  if (!Number.isFinite(off) || off <= 0) return;
  if (member.seen.has(off)) stats.duplicated++;
  else if (off < member.last) stats.out_of_order++;
  member.seen.add(off);
  if (off > member.last) member.last = off;
}

function connect(member, url, since) {
  return new Promise((resolve) => {
    const socket = io(url, {
      transports: ["websocket"],
      auth: { token: token(member.userId, member.room) },
      reconnection: false,
      forceNew: true,
      timeout: opts["ack-timeout"] * 1000,
    });
    member.socket = socket;
    socket.on("message", (e) => observe(member, e));
    socket.on("room_event", (e) => observe(member, e));
    socket.on("connect_error", () => {
      stats.connect_errors++;
      resolve(false);
    });
    socket.on("disconnect", () => {
      if (phase === "storm" && member.onA && member.socket === socket && !member.recovering) {
        member.recovering = true;
        member.tDisconnect = Date.now();
        stats.reconnecting++;
        rejoin(member);
      }
    });
    socket.once("connect", async () => {
      member.tConnect = Date.now();
      resolve(await join(member, since));
    });
  });
}

async function join(member, since) {
  const payload = since ? { room: member.room, since } : { room: member.room };
  for (let attempt = 0; attempt < 50; attempt++) {
    let ack;
    try {
      ack = await member.socket.timeout(opts["ack-timeout"] * 1000).emitWithAck("join", payload);
    } catch {
      ack = { ok: false, error: { code: "ack_timeout" } };
    }
    if (ack && ack.ok) {
      if (member.epoch !== null && ack.room.epoch !== member.epoch) stats.lost++; // a new log
      member.epoch = ack.room.epoch;
      if (since && !ack.recovered) stats.not_recovered_flag++;
      for (const e of ack.entries || []) observe(member, e);
      if (!since) member.last = Math.max(member.last, Number(ack.room.offset) || 0);
      return true;
    }
    const code = (ack && ack.error && ack.error.code) || "bad_ack";
    const why = `${code}: ${String((ack && ack.error && ack.error.message) || "").slice(0, 60)}`;
    stats.refused[why] = (stats.refused[why] || 0) + 1;
    if (!member.refusedOnce) {
      member.refusedOnce = true;
      stats.members_refused++;
    }
    if (code !== "unavailable" && code !== "rate_limited" && code !== "ack_timeout") return false;
    // As the web client: wait what the server asked, spread by up to half again.
    const wait = Number(ack && ack.error && ack.error.retry_after_s) || 1;
    await sleep(wait * 1000 * (1 + Math.random() * 0.5));
  }
  return false;
}

async function rejoin(member) {
  const since = { epoch: member.epoch, offset: member.last };
  const ok = await connect(member, opts.b, since);
  if (ok) {
    stats.recovered++;
    stats.recovery_ms.push(Date.now() - killedAt);
    stats.stages.disconnect.push(member.tDisconnect - killedAt);
    stats.stages.connect.push(member.tConnect - member.tDisconnect);
    stats.stages.join.push(Date.now() - member.tConnect);
  }
}

async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function talk(room, label) {
  const talker = members.find((m) => m.roomIndex === room && !m.onA);
  const cid = `${label}-${room}-${crypto.randomBytes(4).toString("hex")}`;
  try {
    const ack = await talker.socket.timeout(opts["ack-timeout"] * 1000).emitWithAck("message", {
      room: talker.room,
      text: `${label} for room ${room}`,
      client_id: cid,
    });
    return ack && ack.ok ? Number(ack.offset) : 0;
  } catch {
    return 0;
  }
}

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main() {
  for (let i = 0; i < opts.rooms * opts.members; i++) members.push(newMember(i));
  const rampStart = Date.now();
  let failed = 0;
  await inBatches(members, opts["ramp-concurrency"], async (m) => {
    if (!(await connect(m, m.onA ? opts.a : opts.b, null))) failed++;
  });
  if (failed > 0) die(`${failed} members failed to connect and join`);
  if (Date.now() - rampStart > opts["ramp-timeout"] * 1000) die("the ramp took longer than --ramp-timeout");
  // Some history in every room, so `since` means something.
  for (let round = 0; round < 2; round++) {
    await inBatches([...Array(opts.rooms).keys()], 50, (r) => talk(r, "before"));
  }
  await sleep(1000);
  say("PHASE", { name: "ready", members: members.length, on_a: members.filter((m) => m.onA).length });
  phase = "storm";
  const rl = readline.createInterface({ input: process.stdin });
  killedAt = await new Promise((resolve) => rl.once("line", (line) => resolve(Number(line) || Date.now())));
  rl.close();
  // Talk on B through the storm, one member per room, until everyone is back (bounded).
  const deadline = Date.now() + opts["recover-timeout"] * 1000;
  const expected = members.filter((m) => m.onA).length;
  while (Date.now() < deadline && stats.recovered < expected) {
    const t0 = Date.now();
    await inBatches([...Array(opts.rooms).keys()], 50, (r) => talk(r, "during"));
    await sleep(Math.max(0, opts["talk-interval"] * 1000 - (Date.now() - t0)));
  }
  const waitedMs = Date.now() - killedAt;
  say("PHASE", { name: "recovered", recovered: stats.recovered, of: expected });
  // The barrier: one last message per room; everyone must end with every offset once.
  const finals = new Map();
  await inBatches([...Array(opts.rooms).keys()], 50, async (r) => finals.set(r, await talk(r, "barrier")));
  const barrierDeadline = Date.now() + 30000;
  const behind = () => members.filter((m) => m.last < (finals.get(m.roomIndex) || 0));
  while (behind().length > 0 && Date.now() < barrierDeadline) await sleep(200);
  for (const m of members) {
    const final = finals.get(m.roomIndex) || 0;
    const first = Math.min(...m.seen);
    for (let off = first; off <= final; off++) if (!m.seen.has(off)) stats.lost++;
  }
  const rec = stats.recovery_ms.sort((x, y) => x - y);
  say("RESULT", {
    members: members.length,
    reconnecting: stats.reconnecting,
    recovered: stats.recovered,
    not_recovered_flag: stats.not_recovered_flag,
    members_refused: stats.members_refused,
    refusals: stats.refused,
    connect_errors: stats.connect_errors,
    recovery_ms_p50: quantile(rec, 0.5),
    recovery_ms_p99: quantile(rec, 0.99),
    recovery_ms_last: rec.length ? rec[rec.length - 1] : null,
    waited_ms: waitedMs,
    stages_ms_p50_p99: Object.fromEntries(
      Object.entries(stats.stages).map(([k, v]) => {
        const sorted = v.sort((x, y) => x - y);
        return [k, [quantile(sorted, 0.5), quantile(sorted, 0.99)]];
      }),
    ),
    behind_at_barrier: behind().length,
    lost: stats.lost,
    duplicated: stats.duplicated,
    out_of_order: stats.out_of_order,
  });
  for (const m of members) m.socket && m.socket.close();
  process.exit(0);
}

main().catch((err) => die(err && err.stack ? err.stack : String(err)));
