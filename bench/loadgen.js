#!/usr/bin/env node
// Scenario B load generator: R rooms x M members on the official socket.io-client,
// websocket transport only, spread round-robin over the given worker URLs (connected
// directly, no proxy). Every member sends one message every S seconds (jittered start)
// for a warm-up and then D measured seconds; every delivery's end-to-end latency (the
// sender's emit -> a member's "message" event, one clock: this process) is recorded.
//
//   node loadgen.js --urls http://127.0.0.1:8101,http://127.0.0.1:8102 --secret S \
//       --rooms 50 --members 20 --interval 0.5 --warmup 5 --duration 20 --out result.json
//   node loadgen.js --idle --urls http://127.0.0.1:8101 --rooms 250 --members 20 ...
//
// Idle mode connects and joins, prints "PHASE ready", holds the connections until a line
// arrives on stdin (or --hold-cap seconds pass), then reports and exits.
//
// Lines on stdout a driver can follow: "PHASE <name> <json>" and, last, "RESULT <json>".
// Everything is bounded: the connection ramp (--ramp-timeout), the whole run (--max-run),
// every ack (--ack-timeout). Only loopback URLs are accepted.
"use strict";

const crypto = require("node:crypto");
const readline = require("node:readline");
const fs = require("node:fs");
const { performance, monitorEventLoopDelay } = require("node:perf_hooks");
const { io } = require("socket.io-client");

// -- options ---------------------------------------------------------------------------

const DEFAULTS = {
  urls: "",
  secret: process.env.HUDDLE_SECRET || "",
  rooms: 50,
  members: 20,
  interval: 0.5,
  warmup: 5,
  duration: 20,
  drain: 5,
  "text-chars": 80,
  "room-prefix": "bench",
  "ramp-concurrency": 100,
  "ramp-timeout": 120,
  "ack-timeout": 10,
  "hold-cap": 300,
  "max-run": 0,
  idle: false,
  out: "",
};

function parseArgs(argv) {
  const opts = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (!(key in DEFAULTS)) throw new Error(`unknown option ${a}`);
    if (typeof DEFAULTS[key] === "boolean") {
      opts[key] = true;
    } else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`option ${a} needs a value`);
      opts[key] = typeof DEFAULTS[key] === "number" ? Number(v) : v;
      if (typeof DEFAULTS[key] === "number" && !Number.isFinite(opts[key])) {
        throw new Error(`option ${a} needs a number`);
      }
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const URLS = opts.urls.split(",").filter(Boolean);
if (URLS.length === 0) die("--urls is required");
for (const u of URLS) {
  const host = new URL(u).hostname;
  if (!(host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    die(`refusing a non-loopback target ${u}`);
  }
}
if (opts.secret.length < 32) die("--secret (or HUDDLE_SECRET) of at least 32 characters is required");
if (!(opts.rooms >= 1 && opts.members >= 1 && opts.rooms * opts.members <= 20000)) {
  die("--rooms x --members must be between 1 and 20000");
}
if (!(opts.interval >= 0.01) || !(opts.duration > 0) || opts.duration > 600 || opts.warmup > 120) {
  die("--interval >= 0.01, 0 < --duration <= 600, --warmup <= 120");
}
const MAX_RUN_S =
  opts["max-run"] > 0
    ? opts["max-run"]
    : opts.idle
      ? opts["ramp-timeout"] + opts["hold-cap"] + 30
      : opts["ramp-timeout"] + opts.warmup + opts.duration + opts.drain + 30;

function die(msg) {
  console.error(`loadgen: ${msg}`);
  process.exit(2);
}

function say(kind, obj) {
  process.stdout.write(`${kind} ${JSON.stringify(obj)}\n`);
}

// -- tokens ----------------------------------------------------------------------------

const JWT_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

function token(userId, name, room) {
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(
    JSON.stringify({ sub: userId, name, rooms: { [room]: "member" }, iat: now, exp: now + 3600 }),
  ).toString("base64url");
  const sig = crypto
    .createHmac("sha256", opts.secret)
    .update(`${JWT_HEADER}.${payload}`)
    .digest("base64url");
  return `${JWT_HEADER}.${payload}.${sig}`;
}

// -- state -----------------------------------------------------------------------------

const PHRASES = [
  "checking in from the group tonight, the heat pad helps a little",
  "thanks everyone for sharing, it really helps to hear this",
  "my back is stiff today but the walk went better than last week",
  "does anyone have tips for sleeping through the flare ups",
  "I tried the pacing plan and it made the afternoon easier",
  "good to see you all again, hope the week is kind to you",
];

const stats = {
  connect_ok: 0,
  connect_failed: 0,
  connect_errors: {},
  join_ok: 0,
  join_failed: 0,
  join_errors: {},
  disconnects: 0,
  disconnect_reasons: {},
  sent: 0,
  acks_ok: 0,
  acks_failed: 0,
  ack_errors: {},
  acks_timeout: 0,
  acks_none: 0,
  expected: 0,
  received: 0,
  late: 0,
  over_delivered: 0,
  order_violations: 0,
  warmup_sent: 0,
};

const members = []; // {socket, room, roomIndex, joined, lastOffset}
const roomJoined = new Array(opts.rooms).fill(0);
const messages = new Map(); // client_id -> {t0, measured, expected, received, ok}

const latCapacity = Math.ceil(
  ((opts.rooms * opts.members * opts.members) / opts.interval) * opts.duration * 1.3 + 10000,
);
let latencies = opts.idle ? new Float64Array(0) : new Float64Array(latCapacity);
let latCount = 0;
let latTruncated = 0;
const ackLat = [];

let phase = "ramp"; // ramp -> warmup -> measure -> drain -> done
let measureStart = 0;
let measureEnd = 0;
let drainEnd = 0;
let seq = 0;
// The ramp: each client's io() to its "connect", and its join to the join's ack (ms).
const rampConnectMs = [];
const rampJoinMs = [];

function bump(obj, key) {
  obj[key] = (obj[key] || 0) + 1;
}

// -- connections -----------------------------------------------------------------------

function connectMember(index) {
  const roomIndex = Math.floor(index / opts.members);
  const room = `${opts["room-prefix"]}-${roomIndex}`;
  const url = URLS[index % URLS.length];
  const member = { index, room, roomIndex, url, socket: null, joined: false, lastOffset: 0 };
  members.push(member);
  const opened = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(ok);
      }
    };
    const timer = setTimeout(() => {
      bump(stats.connect_errors, "timeout");
      stats.connect_failed++;
      done(false);
    }, 30000);
    const socket = io(url, {
      transports: ["websocket"],
      auth: { token: token(`bench-u${index}`, `Bench ${index}`, room) },
      reconnection: false,
      forceNew: true,
      timeout: 20000,
    });
    member.socket = socket;
    socket.on("connect_error", (err) => {
      bump(stats.connect_errors, String(err && err.message).slice(0, 80));
      stats.connect_failed++;
      done(false);
    });
    socket.on("disconnect", (reason) => {
      if (phase !== "done") {
        stats.disconnects++;
        bump(stats.disconnect_reasons, reason);
      }
      if (member.joined) {
        member.joined = false;
      }
    });
    socket.on("message", (payload) => onMessage(member, payload));
    socket.once("connect", () => {
      stats.connect_ok++;
      const connected = performance.now();
      rampConnectMs.push(connected - opened);
      socket.timeout(20000).emit("join", { room }, (err, ack) => {
        rampJoinMs.push(performance.now() - connected);
        if (err || !ack || !ack.ok) {
          stats.join_failed++;
          bump(stats.join_errors, err ? "timeout" : (ack && ack.error && ack.error.code) || "bad_ack");
          done(false);
          return;
        }
        member.joined = true;
        member.lastOffset = Number(ack.room && ack.room.offset) || 0;
        stats.join_ok++;
        roomJoined[roomIndex]++;
        done(true);
      });
    });
  });
}

async function ramp() {
  const total = opts.rooms * opts.members;
  const deadline = performance.now() + opts["ramp-timeout"] * 1000;
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < total && performance.now() < deadline) {
      await connectMember(next++);
    }
  }
  const workers = [];
  for (let i = 0; i < Math.min(opts["ramp-concurrency"], total); i++) workers.push(worker());
  await Promise.race([
    Promise.all(workers),
    new Promise((r) => setTimeout(r, opts["ramp-timeout"] * 1000 + 1000)),
  ]);
  return (performance.now() - started) / 1000;
}

// -- deliveries ------------------------------------------------------------------------

function onMessage(member, payload) {
  const now = performance.now();
  if (!payload || typeof payload !== "object") return;
  if (typeof payload.offset === "number") {
    if (payload.offset <= member.lastOffset) stats.order_violations++;
    else member.lastOffset = payload.offset;
  }
  const rec = messages.get(payload.client_id);
  if (rec === undefined || !rec.measured) return;
  if (now > drainEnd && drainEnd > 0) {
    stats.late++;
    return;
  }
  rec.received++;
  if (rec.received > rec.expected) stats.over_delivered++;
  const lat = now - rec.t0;
  if (latCount < latencies.length) latencies[latCount++] = lat;
  else latTruncated++;
}

function filler(n) {
  let s = PHRASES[n % PHRASES.length];
  while (s.length < opts["text-chars"]) s += ` ${PHRASES[(n + s.length) % PHRASES.length]}`;
  return s.slice(0, Math.max(opts["text-chars"], 16));
}

function send(member) {
  const now = performance.now();
  const measured = now >= measureStart && now < measureEnd;
  const clientId = crypto.randomUUID();
  const n = seq++;
  // Ordinary chat text: no long digit run (an epoch timestamp here made every message look
  // like a possible phone number to the moderation stage). Latency is taken from this
  // process's monotonic clock by client_id.
  const text = `n=${n} ${filler(n)}`; // unique (never a duplicate or raid), < 7 digits
  const rec = { t0: now, measured, expected: roomJoined[member.roomIndex], received: 0, ok: null };
  messages.set(clientId, rec);
  if (measured) stats.sent++;
  else stats.warmup_sent++;
  member.socket
    .timeout(opts["ack-timeout"] * 1000)
    .emit("message", { room: member.room, text, client_id: clientId }, (err, ack) => {
      const t = performance.now();
      rec.ok = !err && ack && ack.ok === true;
      if (!measured) return;
      if (err) {
        stats.acks_timeout++;
      } else if (rec.ok) {
        stats.acks_ok++;
        ackLat.push(t - rec.t0);
      } else {
        stats.acks_failed++;
        bump(stats.ack_errors, (ack && ack.error && ack.error.code) || "bad_ack");
      }
    });
}

function schedule(member, sendStart) {
  const period = opts.interval * 1000;
  let due = sendStart + Math.random() * period;
  const tick = () => {
    if (performance.now() >= measureEnd || !member.joined) return;
    send(member);
    due += period;
    setTimeout(tick, Math.max(0, due - performance.now()));
  };
  setTimeout(tick, Math.max(0, due - performance.now()));
}

// -- figures ---------------------------------------------------------------------------

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return round(sorted[i]);
}

function round(x) {
  return x === null || x === undefined ? null : Math.round(x * 100) / 100;
}

function summary(extra) {
  const lat = latencies.subarray(0, latCount).sort();
  const acks = Float64Array.from(ackLat).sort();
  // Two views: of the messages the server accepted (ack ok), how many deliveries arrived;
  // and of every message the members sent, whatever its ack said (or did not say).
  let expected = 0;
  let received = 0;
  let expectedAll = 0;
  let receivedAll = 0;
  for (const rec of messages.values()) {
    if (!rec.measured) continue;
    expectedAll += rec.expected;
    receivedAll += Math.min(rec.received, rec.expected);
    if (rec.ok) {
      expected += rec.expected;
      received += Math.min(rec.received, rec.expected);
    }
  }
  stats.expected = expected;
  stats.received = received;
  stats.expected_all = expectedAll;
  stats.received_all = receivedAll;
  stats.acks_none = stats.sent - stats.acks_ok - stats.acks_failed - stats.acks_timeout;
  let sum = 0;
  for (let i = 0; i < lat.length; i++) sum += lat[i];
  return {
    mode: opts.idle ? "idle" : "load",
    urls: URLS,
    rooms: opts.rooms,
    members: opts.members,
    interval_s: opts.interval,
    warmup_s: opts.warmup,
    duration_s: opts.duration,
    drain_s: opts.drain,
    target_deliveries_per_s: (opts.rooms * opts.members * opts.members) / opts.interval,
    delivered_pct: expected ? round((100 * received) / expected) : null,
    delivered_pct_of_sent: expectedAll ? round((100 * receivedAll) / expectedAll) : null,
    deliveries_per_s: round(receivedAll / opts.duration),
    target_messages: Math.round(((opts.rooms * opts.members) / opts.interval) * opts.duration),
    latency_ms: {
      count: lat.length,
      truncated: latTruncated,
      mean: lat.length ? round(sum / lat.length) : null,
      p50: quantile(lat, 0.5),
      p90: quantile(lat, 0.9),
      p99: quantile(lat, 0.99),
      p999: quantile(lat, 0.999),
      max: lat.length ? round(lat[lat.length - 1]) : null,
    },
    ack_latency_ms: { p50: quantile(acks, 0.5), p99: quantile(acks, 0.99) },
    ...stats,
    ...extra,
  };
}

// -- run -------------------------------------------------------------------------------

async function main() {
  const hardStop = setTimeout(() => {
    say("RESULT", { error: `run cap of ${MAX_RUN_S}s reached`, ...summary({}) });
    process.exit(3);
  }, MAX_RUN_S * 1000);
  hardStop.unref();

  const rampCpu = process.cpuUsage();
  const rampS = await ramp();
  const rampCpuUsed = process.cpuUsage(rampCpu);
  const joined = members.filter((m) => m.joined);
  const spread = (xs) => {
    const sorted = Float64Array.from(xs).sort();
    return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  };
  say("PHASE", {
    name: "ready",
    connected: stats.connect_ok,
    joined: joined.length,
    ramp_s: round(rampS),
    connect_ms: spread(rampConnectMs),
    join_ms: spread(rampJoinMs),
    // The loadgen's own CPU over the ramp: near ramp_s * 1000, it is what set the pace.
    cpu_ms: round((rampCpuUsed.user + rampCpuUsed.system) / 1000),
  });

  if (opts.idle) {
    await new Promise((resolve) => {
      const rl = readline.createInterface({ input: process.stdin });
      rl.once("line", resolve);
      rl.once("close", resolve);
      setTimeout(resolve, opts["hold-cap"] * 1000).unref();
    });
    const still = members.filter((m) => m.socket && m.socket.connected).length;
    phase = "done";
    finish({ ramp_s: round(rampS), still_connected: still });
    return;
  }

  const t0 = performance.now();
  measureStart = t0 + opts.warmup * 1000;
  measureEnd = measureStart + opts.duration * 1000;
  drainEnd = measureEnd + opts.drain * 1000;
  phase = "warmup";
  for (const m of joined) schedule(m, t0);

  const LOOP_RES_MS = 5;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RES_MS });
  let cpu0;
  await sleepUntil(measureStart);
  phase = "measure";
  cpu0 = process.cpuUsage();
  loopDelay.enable();
  say("PHASE", { name: "measure_start" });
  await sleepUntil(measureEnd);
  const cpu = process.cpuUsage(cpu0);
  loopDelay.disable();
  say("PHASE", { name: "measure_end" });
  phase = "drain";
  // Wait for in-flight deliveries, but not longer than needed: stop early once every
  // measured, acked message reached everyone (checked cheaply every 250 ms).
  while (performance.now() < drainEnd) {
    await sleep(250);
    let pending = false;
    for (const rec of messages.values()) {
      if (rec.measured && (rec.ok === null || (rec.ok && rec.received < rec.expected))) {
        pending = true;
        break;
      }
    }
    if (!pending) break;
  }
  drainEnd = performance.now();
  phase = "done";
  finish({
    ramp_s: round(rampS),
    loadgen_cpu_ms: round((cpu.user + cpu.system) / 1000),
    loadgen_cpu_pct: round((cpu.user + cpu.system) / 10 / (opts.duration * 1000)),
    // How late this process's timers ran (beyond the sampling period): when this is
    // large, the load generator itself was short of CPU and its latencies include that.
    loadgen_loop_delay_ms: {
      p50: round(Math.max(0, loopDelay.percentile(50) / 1e6 - LOOP_RES_MS)),
      p99: round(Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RES_MS)),
      max: round(Math.max(0, loopDelay.max / 1e6 - LOOP_RES_MS)),
    },
  });
}

function finish(extra) {
  const result = summary(extra);
  if (opts.out) fs.writeFileSync(opts.out, JSON.stringify(result, null, 2));
  say("RESULT", result);
  for (const m of members) if (m.socket) m.socket.close();
  setTimeout(() => process.exit(0), 200).unref();
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function sleepUntil(t) {
  return sleep(Math.max(0, t - performance.now()));
}

main().catch((err) => {
  console.error("loadgen:", err);
  process.exit(1);
});
