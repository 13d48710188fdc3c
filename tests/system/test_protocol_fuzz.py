"""A real worker process (``python -m chatserver serve``) against what an attacker sends:
a bounded protocol fuzz, slow and silent connections, reconnect storms. Run on whichever
websocket path HUDDLE_WS_FAST_PATH chooses (CI runs the suite on both).

The fuzz sends generated Engine.IO and Socket.IO packets (text and binary, every event the
server knows with generated payloads, before and after signing in; over websockets and
long-polling) for a fixed budget of packets and seconds, from a seeded generator (the seed
is in every failure message; ``FUZZ_SEED=<n>`` replays one). Throughout, a probe client (a
real python-socketio client) must keep getting its own messages back; afterwards the
worker's memory must have grown by less than ``FUZZ_RSS_GROWTH_MB`` and its log must hold
no traceback and stay small.

docs/security.md, "The connection: before and after signing in", quotes these figures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.protocol import State

from chatserver.app import SIO_KEY, create_app
from tests.cluster import wait_http
from tests.conftest import SECRET, Client, make_settings, make_token, open_client
from tests.processes import stop_process
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]

FUZZ_SECONDS = 10.0
FUZZ_MAX_PACKETS = 30_000
FUZZ_WEBSOCKETS = 4  # at once
FUZZ_RSS_GROWTH_MB = 40
STORM_CYCLES = 500
STORM_RSS_GROWTH_MB = 25
LOG_LIMIT_BYTES = 200_000
CONNECT_TIMEOUT_S = 2
REQUEST_TIMEOUT_S = 2


@dataclass
class WorkerProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    path: str

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerProcess]:
    port = free_port()
    logdir = Path(tempfile.mkdtemp(prefix="huddle-fuzz-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_")}
    env.update(
        HUDDLE_SECRET=SECRET,
        HUDDLE_DATA_DIR=str(logdir),
        HUDDLE_LOG_LEVEL="info",
        HUDDLE_CONNECT_TIMEOUT_S=str(CONNECT_TIMEOUT_S),
        HUDDLE_HTTP_REQUEST_TIMEOUT_S=str(REQUEST_TIMEOUT_S),
        # The probe checks delivery every 0.7 s; the member rate limit is not under test.
        HUDDLE_RATE_BURST="200",
        HUDDLE_RATE_REFILL_S="0.02",
    )
    path = os.environ.get("HUDDLE_WS_FAST_PATH", "on")
    env["HUDDLE_WS_FAST_PATH"] = path
    log = logdir / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", 20)
        yield WorkerProcess(
            f"http://127.0.0.1:{port}", proc, log, "fast" if path == "on" else "fallback"
        )
    finally:
        stop_process(proc, grace_s=12)


# -- the probe: a real member who must keep being served -----------------------------------


class Probe:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.rounds = 0
        self.worst_s = 0.0

    @classmethod
    async def open(cls, url: str) -> Probe:
        client = await open_client(url, make_token("probe", {"probe": "member"}, name="Probe"))
        assert (await client.call("join", {"room": "probe"}))["ok"] is True
        return cls(client)

    async def round_trip(self, why: str) -> None:
        text = f"probe {uuid.uuid4()}"
        started = time.monotonic()
        ack = await self.client.send("probe", text)
        assert ack["ok"] is True, (why, ack)
        await self.client.wait_for("message", lambda m: m.get("text") == text, timeout=5)
        self.worst_s = max(self.worst_s, time.monotonic() - started)
        self.rounds += 1

    async def keep_probing(self, until: float, why: str) -> None:
        while time.monotonic() < until:
            await self.round_trip(why)
            await asyncio.sleep(0.7)

    async def close(self) -> None:
        await self.client.sio.disconnect()


# -- the generator ----------------------------------------------------------------------

KEYS = (
    "room", "text", "client_id", "since", "offset", "epoch", "held", "active", "raised",
    "user_id", "duration_s", "reason", "id", "role", "approve", "alert_id", "seconds", "kind",
)  # fmt: skip
STRINGS = (
    "", "r1", "probe", "fuzz", "nowhere", str(uuid.uuid4()), "x" * 3000, "\ud800", "\udfff",
    "a\u0000b", "<img src=x onerror=alert(1)>", "line\nbreak", "🙂" * 50, "-1", "NaN",
    "member", "facilitator", "__proto__", "0" * 40, "\u202e", "ünïcödé",
)  # fmt: skip


def known_events() -> list[str]:
    """Every event this server answers, from a real app (so new ones are fuzzed too)."""
    app = create_app(make_settings())
    names = [e for e in app[SIO_KEY].handlers["/"] if e not in ("connect", "disconnect", "*")]
    assert {"join", "message", "typing", "hand", "report"} <= set(names), names
    return sorted(names)


@dataclass
class Fuzzer:
    rng: random.Random
    events: list[str]
    tokens: list[str]
    sent: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.sent += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def string(self) -> str:
        rng = self.rng
        if rng.random() < 0.7:
            return rng.choice(STRINGS)
        return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0xA0, 0xD7FF))))
                       for _ in range(rng.randrange(0, 40)))  # fmt: skip

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if depth > 3 or roll < 0.45:
            return rng.choice(
                [
                    None, True, False, 0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 1.5, 1e308,
                    self.string(), self.string(), str(uuid.uuid4()),
                ]
            )  # fmt: skip
        if roll < 0.7:
            return [self.value(depth + 1) for _ in range(self.rng.randrange(0, 5))]
        return self.payload(depth + 1)

    def payload(self, depth: int = 0) -> Any:
        rng = self.rng
        if rng.random() < 0.1:
            return self.value(depth + 4)  # not an object at all
        keys = rng.sample(KEYS, rng.randrange(0, 6))
        if rng.random() < 0.5:
            keys.append("room")
        data = {k: self.value(depth + 1) for k in keys}
        if "room" in data and rng.random() < 0.7:
            data["room"] = rng.choice(("fuzz", "probe", "r1"))
        return data

    def socketio(self) -> str:
        """A Socket.IO packet, as the text after Engine.IO's ``4``."""
        rng = self.rng
        kind = rng.choices(
            ("event", "ack", "connect", "disconnect", "binary", "junk", "deep", "attach"),
            weights=(50, 5, 8, 3, 6, 10, 3, 3),
        )[0]
        ack_id = str(rng.randrange(0, 10 ** rng.randrange(1, 12))) if rng.random() < 0.7 else ""
        nsp = rng.choice(("", "", "", "/admin,", "/,", "/x?y=1,"))
        if kind == "event":
            args = [rng.choice(self.events)] + [
                self.payload() for _ in range(rng.choice((0, 1, 1, 1, 2)))
            ]
            if rng.random() < 0.05:
                args[0] = self.value()  # an event name that is not a string
            out = "2" + nsp + ack_id + json.dumps(args)
        elif kind == "ack":
            out = "3" + nsp + ack_id + json.dumps([self.value()])
        elif kind == "connect":
            out = "0" + nsp + json.dumps({"token": rng.choice([*self.tokens, "junk", 5, None])})
        elif kind == "disconnect":
            out = "1" + nsp
        elif kind == "binary":
            out = rng.choice("56") + str(rng.randrange(0, 10**10)) + "-" + nsp + ack_id
            out += json.dumps([rng.choice(self.events), {"_placeholder": True, "num": 0}])
        elif kind == "deep":
            depth = rng.choice((500, 990, 5_000, 20_000))
            out = "2" + ack_id + '["message",' + "[" * depth + "]" * depth + "]"
        elif kind == "attach":  # an attachment count on a packet type that takes none
            out = "2" + str(rng.randrange(1, 99)) + "-" + json.dumps([rng.choice(self.events), {}])
        else:
            out = rng.choice(("x", "7", "9", "", "2", "2[", "2{}", "2[]", "2null", '2"x"', "0{"))
        self.count(f"sio:{kind}")
        return out

    def engineio(self) -> str | bytes:
        """An Engine.IO packet: mostly a Socket.IO message, or anything else a client can
        put in a websocket message or a polling body."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.75:
            return "4" + self.socketio()
        if roll < 0.85:
            self.count("eio:binary")
            return rng.randbytes(rng.choice((1, 10, 1000, 65_000)))
        self.count("eio:junk")
        return rng.choice(
            (
                "", "0", "1", "2", "2probe", "3", "5", "6", "7", "8", "9", "x", "\u0000",
                "b" + base64.b64encode(rng.randbytes(50)).decode(), "b!!!", "4" + "[" * 20_000,
                "4{", "40", "4" + self.string(),
            )
        )  # fmt: skip


async def fuzz_websocket(fuzzer: Fuzzer, url: str, deadline: float) -> None:
    rng = fuzzer.rng
    try:
        ws = await ws_connect(
            url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
            compression=None,
            max_size=None,
            open_timeout=5,
        )
    except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake, TimeoutError):
        return  # refused (a limit) or the server is busy: the probe says whether it is
    try:
        await asyncio.wait_for(ws.recv(), 5)
        sign_in_at = rng.choice((0, 0, 1, 3, 10, -1))
        for i in range(rng.randrange(1, 40)):
            if i == sign_in_at:
                await ws.send('40{"token":"' + rng.choice(fuzzer.tokens) + '"}')
            packet = fuzzer.engineio()
            if isinstance(packet, str) and (rng.random() < 0.02 or not utf8(packet)):
                # Not UTF-8 (a lone surrogate, or bytes that are not text at all).
                await ws.send(packet.encode(errors="surrogatepass") + b"\xff\xfe", text=True)
            elif isinstance(packet, bytes) and rng.random() < 0.2:
                for _ in range(rng.randrange(1, 20)):  # a stream of would-be attachments
                    await ws.send(rng.randbytes(65_000))
            else:
                await ws.send(packet)
            if time.monotonic() > deadline or fuzzer.sent >= FUZZ_MAX_PACKETS:
                break
            await drain(ws)
    except (websockets.ConnectionClosed, TimeoutError, OSError):
        pass  # the server ended it: what it should do with most of this
    finally:
        ws.transport.abort()


def utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


async def drain(ws: ClientConnection) -> None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 0.001)
    except TimeoutError:
        pass


async def fuzz_polling(fuzzer: Fuzzer, url: str, deadline: float) -> None:
    rng = fuzzer.rng
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    timeout = aiohttp.ClientTimeout(total=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < deadline and fuzzer.sent < FUZZ_MAX_PACKETS:
            try:
                async with session.get(base) as resp:
                    if resp.status != 200:
                        await asyncio.sleep(0.1)
                        continue
                    sid = json.loads((await resp.text())[1:])["sid"]
                if rng.random() < 0.7:
                    token = rng.choice(fuzzer.tokens)
                    async with session.post(
                        f"{base}&sid={sid}", data='40{"token":"' + token + '"}'
                    ):
                        pass
                for _ in range(rng.randrange(1, 10)):
                    packets = [fuzzer.engineio() for _ in range(rng.randrange(1, 4))]
                    body = "\x1e".join(
                        p if isinstance(p, str) else "b" + base64.b64encode(p).decode()
                        for p in packets
                    )
                    if rng.random() < 0.05:
                        body = "4" + "x" * 70_000  # over the body limit
                    data = body.encode(errors="surrogatepass")
                    async with session.post(f"{base}&sid={sid}", data=data) as resp:
                        await resp.read()
                        if resp.status != 200:
                            break
                async with session.post(f"{base}&sid={sid}", data="1"):  # goodbye
                    pass
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                pass


async def test_protocol_fuzz_keeps_the_worker_serving(worker: WorkerProcess) -> None:
    seed = int(os.environ.get("FUZZ_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    tokens = [make_token(f"fuzz{i}", {"fuzz": "member", "r1": "facilitator"}) for i in range(6)]
    fuzzer = Fuzzer(rng, known_events(), tokens)
    probe = await Probe.open(worker.url)
    try:
        await probe.round_trip("before the fuzz")
        rss_before = worker.rss_mb()
        log_before = len(worker.log_text())
        started = time.monotonic()
        deadline = started + FUZZ_SECONDS

        async def websocket_lane() -> None:
            while time.monotonic() < deadline and fuzzer.sent < FUZZ_MAX_PACKETS:
                await fuzz_websocket(fuzzer, worker.url, deadline)

        await asyncio.wait_for(
            asyncio.gather(
                probe.keep_probing(deadline, f"during the fuzz (seed {seed})"),
                fuzz_polling(fuzzer, worker.url, deadline),
                *(websocket_lane() for _ in range(FUZZ_WEBSOCKETS)),
            ),
            FUZZ_SECONDS + 30,
        )
        elapsed = time.monotonic() - started
        await probe.round_trip(f"after the fuzz (seed {seed})")
        rss_after = worker.rss_mb()
        log = worker.log_text()[log_before:]
        summary = (
            f"seed {seed}: {fuzzer.sent} packets in {elapsed:.1f} s, {probe.rounds} probe "
            f"round trips (worst {probe.worst_s * 1000:.0f} ms), RSS {rss_before:.0f} -> "
            f"{rss_after:.0f} MB, {len(log)} bytes of log; {sorted(fuzzer.kinds.items())}"
        )
        print(summary)
        assert worker.proc.poll() is None, summary
        assert fuzzer.sent >= 500, summary  # the budget was spent on packets, not waiting
        assert probe.rounds >= 5, summary
        assert rss_after - rss_before < FUZZ_RSS_GROWTH_MB, summary
        assert "Traceback" not in log, summary + "\n" + log[log.find("Traceback") - 500 :][:3000]
        assert "RecursionError" not in log, summary
        assert len(log) < LOG_LIMIT_BYTES, summary
    finally:
        await probe.close()


# -- connections that never sign in, and slow headers ----------------------------------------


def slowloris(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


async def test_slow_headers_and_sessions_that_never_sign_in_are_closed(
    worker: WorkerProcess,
) -> None:
    """500 slowloris sockets and 500 websockets that answered pings but never signed in
    were all still open after 60 s. Here 60 of each (on the worker's limits of 2 s for
    both) must be gone within those limits plus 3 s; a signed-in probe stays."""
    probe = await Probe.open(worker.url)
    slow: list[socket.socket] = []
    silent: list[ClientConnection] = []
    url = worker.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    try:
        started = time.monotonic()
        for _ in range(60):
            slow.append(slowloris(worker.port))
            silent.append(await ws_connect(url, compression=None))
        for ws in silent:
            assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
        deadline = started + max(CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S) + 3  # a busy CI
        while time.monotonic() < deadline:
            for sock in slow:
                with contextlib.suppress(OSError):  # once closed by the server
                    sock.send(b"X-Still: here\r\n")  # a header line now and then, never the end
            await asyncio.sleep(0.25)
            if all(ws.state is State.CLOSED for ws in silent) and all(
                closed_by_server(s) for s in slow
            ):
                break
        open_ws = sum(ws.state is not State.CLOSED for ws in silent)
        open_slow = sum(not closed_by_server(s) for s in slow)
        took = time.monotonic() - started
        print(f"silent and slow connections: all closed after {took:.1f} s")
        assert (open_ws, open_slow) == (0, 0), f"open after {took:.1f} s: {open_ws} ws, {open_slow}"
        await probe.round_trip("after the silent connections")
    finally:
        for sock in slow:
            sock.close()
        for ws in silent:
            ws.transport.abort()
        await probe.close()


# -- reconnect storms ------------------------------------------------------------------------


async def storm(url: str, cycles: int, at_once: int = 20) -> None:
    """Members connecting, signing in and dropping, ``at_once`` at a time."""
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    done = 0

    async def lane(n: int) -> None:
        nonlocal done
        token = make_token(f"storm{n}", {"storm": "member"})
        while done < cycles:
            done += 1
            # Unbounded: with the room's presence events unread, a bounded queue stops the
            # client reading, and its close waits 10 s for a close frame it never reads.
            async with ws_connect(ws_url, compression=None, max_queue=None) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                await ws.send('40{"token":"' + token + '"}')
                await asyncio.wait_for(ws.recv(), 5)
                await ws.send('420["join",{"room":"storm"}]')
                await asyncio.wait_for(ws.recv(), 5)

    await asyncio.wait_for(asyncio.gather(*(lane(n) for n in range(at_once))), 60)


async def test_reconnect_storms_leave_no_memory_behind(worker: WorkerProcess) -> None:
    """Three storms took a worker from 147 to 605 MB: each detached websocket kept aiohttp's
    request handler, parser and keep-alive timer alive for the keep-alive timeout."""
    await storm(worker.url, STORM_CYCLES)  # warm-up: first-use allocations, the room's log
    await asyncio.sleep(0.5)
    before = worker.rss_mb()
    for _ in range(3):
        await storm(worker.url, STORM_CYCLES)
    await asyncio.sleep(0.5)
    after = worker.rss_mb()
    print(f"storms: {4 * STORM_CYCLES} cycles, RSS {before:.1f} -> {after:.1f} MB")
    assert after - before < STORM_RSS_GROWTH_MB, f"RSS {before:.0f} -> {after:.0f} MB"
    assert "Traceback" not in worker.log_text()
