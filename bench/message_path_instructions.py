"""Instructions per chat message on a whole worker, counted by callgrind: a client's frame
in, its ack and every member's delivery out.

`quiet_path_instructions.py` counts the Redis part of a quiet message (the pipe and the
subscription). This counts all of it, in a real worker (``python -m chatserver serve``,
its moderation pipeline and Redis backend as shipped) run under
``valgrind --tool=callgrind --instr-atstart=no``: M members (20) connect over websockets
and join one room, a few messages warm the worker up, then instrumentation is switched on
(``callgrind_control -i on``) and messages are sent one at a time by the members in turn,
each waited for until its sender has the ack and every member the delivery. The counters
are dumped after N messages, again after 2N more, and again after an idle window (no
message): (second - first) / N is one message, whatever the switch costs, once what the
idle worker does per second (timers, pings; a window under valgrind lasts a minute or
more, and longer when the machine is busy) is taken out at the idle window's rate.
Instruction counts are repeatable on a shared machine, where CPU time is not.

    .venv/bin/python bench/message_path_instructions.py [--messages 100] [--members 20]
        [--root OTHER_CHECKOUT] [--keep-dumps DIR] [--cprofile OUT.pstats]

``--root`` runs the worker from another checkout (a git worktree of main) to compare.
``--keep-dumps DIR`` keeps the callgrind dumps (``callgrind_annotate`` reads them: where
the instructions go, by C function). ``--cprofile OUT`` runs the worker without valgrind
under cProfile (bench/profiled_worker.py) over 3N messages instead, for where the time goes
by Python function (profiled time is inflated, its proportions roughly right);
``--py-spy OUT`` samples it with py-spy (``$BENCH_PY_SPY`` or ``py-spy`` on the PATH; raw
collapsed stacks) over 3N messages.
The messages are the load generator's (bench/loadgen.js: numbered, 80 characters of
ordinary chat, never a duplicate). Starts a private redis-server on a free 127.0.0.1
port; needs valgrind. The driving clients run in this process, outside the count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import jwt

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

from append_pipe_bench import free_port, start_redis  # noqa: E402

PHRASES = [
    "checking in from the group tonight, the heat pad helps a little",
    "thanks everyone for sharing, it really helps to hear this",
    "my back is stiff today but the walk went better than last week",
    "does anyone have tips for sleeping through the flare ups",
    "I tried the pacing plan and it made the afternoon easier",
    "good to see you all again, hope the week is kind to you",
]
ROOM = "bench-path"
START_TIMEOUT_S = 900.0  # start-up under valgrind: minutes on a loaded 2-core machine
REPLY_TIMEOUT_S = 120.0


def text_of(n: int, chars: int = 80) -> str:
    """bench/loadgen.js's message text (``filler``): unique, ordinary, no long digit run."""
    s = PHRASES[n % len(PHRASES)]
    while len(s) < chars:
        s += f" {PHRASES[(n + len(s)) % len(PHRASES)]}"
    return f"n={n} {s[: max(chars, 16)]}"


class Member:
    """One websocket client speaking Engine.IO 4 / Socket.IO 5 by hand."""

    def __init__(self, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.index = index
        self.ws = ws
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.deliveries: dict[str, asyncio.Future[None]] = {}
        self.next_ack = 0
        self.reader: asyncio.Task[None] | None = None

    async def read_forever(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data == "2":
                await self.ws.send_str("3")  # engine.io ping
            elif data.startswith("43"):
                head, _, body = data[2:].partition("[")
                fut = self.acks.pop(int(head), None)
                if fut is not None and not fut.done():
                    fut.set_result(json.loads("[" + body)[0])
            elif data.startswith("42"):
                event, payload = json.loads(data[2:])
                if event == "message":
                    waiting = self.deliveries.get(payload.get("client_id", ""))
                    if waiting is not None and not waiting.done():
                        waiting.set_result(None)

    async def request(self, event: str, payload: dict[str, Any]) -> Any:
        ack_id = self.next_ack
        self.next_ack += 1
        fut = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = fut
        await self.ws.send_str(f"42{ack_id}" + json.dumps([event, payload]))
        return await asyncio.wait_for(fut, REPLY_TIMEOUT_S)


async def connect(session: aiohttp.ClientSession, port: int, index: int, secret: str) -> Member:
    now = int(time.time())
    token = jwt.encode(
        {"sub": f"bench-u{index}", "name": f"Bench {index}", "rooms": {ROOM: "member"},
         "iat": now, "exp": now + 7200},
        secret, algorithm="HS256",
    )  # fmt: skip
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    ws = await session.ws_connect(url, max_msg_size=0)
    opened = await ws.receive(timeout=REPLY_TIMEOUT_S)
    if not str(opened.data).startswith("0"):
        raise SystemExit(f"unexpected Engine.IO open: {opened.data!r}")
    await ws.send_str("40" + json.dumps({"token": token}))
    connected = await ws.receive(timeout=REPLY_TIMEOUT_S)
    if not str(connected.data).startswith("40"):
        raise SystemExit(f"Socket.IO connect refused: {connected.data!r}")
    member = Member(index, ws)
    member.reader = asyncio.get_running_loop().create_task(member.read_forever())
    ack = await member.request("join", {"room": ROOM})
    if not ack.get("ok"):
        raise SystemExit(f"join refused: {ack!r}")
    return member


async def one_message(members: list[Member], n: int) -> None:
    """Member n % M sends message n; returns once its ack and every delivery are in."""
    sender = members[n % len(members)]
    client_id = str(uuid.uuid4())
    loop = asyncio.get_running_loop()
    waits = []
    for member in members:
        fut = loop.create_future()
        member.deliveries[client_id] = fut
        waits.append(fut)
    request = {"room": ROOM, "text": text_of(n), "client_id": client_id}
    ack = await sender.request("message", request)
    if not ack.get("ok"):
        raise SystemExit(f"message {n} refused: {ack!r}")
    await asyncio.wait_for(asyncio.gather(*waits), REPLY_TIMEOUT_S)
    for member in members:
        del member.deliveries[client_id]


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}) before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1.0)
    raise SystemExit("the worker was not ready in time")


def callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=600)


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    argv = [os.environ.get("BENCH_PY_SPY", "py-spy"), "record", "-r", "250", "-f", "raw",
            "-o", str(out), "-p", str(pid)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dump_counts(pid: int, directory: Path) -> tuple[Path, int]:
    """Dump (and zero) the worker's counters; the dump's total instructions (waits for
    valgrind to write it)."""
    before = set(directory.glob("callgrind.out.*"))
    callgrind_control("-d", str(pid))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        new = sorted(set(directory.glob("callgrind.out.*")) - before)
        for path in new:
            found = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
            if found:
                return path, int(found.group(1))
        time.sleep(0.5)
    raise SystemExit("no callgrind dump appeared")


async def drive(args: argparse.Namespace, port: int, secret: str, worker: subprocess.Popen[bytes],
                dumps: Path | None) -> list[tuple[int, float]] | None:  # fmt: skip
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        members = []
        for i in range(args.members):
            members.append(await connect(session, port, i, secret))
        n = 0
        for _ in range(args.warmup):
            await one_message(members, n)
            n += 1
        counts: list[tuple[int, float]] = []
        if dumps is not None:
            callgrind_control("-i", "on", str(worker.pid))
            started = time.monotonic()
            for batch in (args.messages, 2 * args.messages, 0):
                for _ in range(batch):
                    await one_message(members, n)
                    n += 1
                if not batch:
                    await asyncio.sleep(args.idle)
                path, total = dump_counts(worker.pid, dumps)
                now = time.monotonic()
                counts.append((total, now - started))
                started = now
                print(f"dump {path.name}: {total:,} instructions in {counts[-1][1]:.1f} s "
                      f"after {batch} messages")  # fmt: skip
        elif args.py_spy is not None:
            spy = start_py_spy(worker.pid, args.py_spy)
            await asyncio.sleep(1.0)
            for _ in range(3 * args.messages):
                await one_message(members, n)
                n += 1
            spy.send_signal(signal.SIGINT)  # written on the way out
            spy.wait(60)
        else:
            worker.send_signal(signal.SIGUSR1)  # profiling on
            await asyncio.sleep(0.5)
            for _ in range(3 * args.messages):
                await one_message(members, n)
                n += 1
            worker.send_signal(signal.SIGUSR2)  # written
            await asyncio.sleep(2.0)
        for member in members:
            await member.ws.close()
            if member.reader is not None:
                member.reader.cancel()
        return counts or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle window")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--keep-dumps", type=Path, default=None)
    parser.add_argument("--cprofile", type=Path, default=None)
    parser.add_argument("--py-spy", type=Path, default=None, help="raw py-spy samples (collapsed)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the worker")
    args = parser.parse_args()
    if not 10 <= args.messages <= 10_000 or not 1 <= args.members <= 200:
        parser.error("--messages 10..10,000, --members 1..200")
    if args.cprofile is None and args.py_spy is None and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    root = args.root.resolve()
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    secret = secrets.token_urlsafe(48)
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        rport, port = free_port(), free_port()
        redis = start_redis(rport, workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_")}
        env.update({
            "REDIS_URL": f"redis://127.0.0.1:{rport}/0", "HUDDLE_SECRET": secret,
            "HUDDLE_RATE_BURST": "1000", "HUDDLE_RATE_REFILL_S": "0.001",
            "HUDDLE_LOG_LEVEL": "warning", "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1",
            "HUDDLE_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
            # The same dict and set orders in every run: counts comparable across trees.
            "PYTHONHASHSEED": "0",
        })  # fmt: skip
        env.update(dict(item.split("=", 1) for item in args.env))
        serve = ["-m", "chatserver", "serve", "--host", "127.0.0.1", "--port", str(port)]
        dumps: Path | None = None
        if args.py_spy is not None:
            argv = [str(python), *serve]
        elif args.cprofile is not None:
            env["BENCH_CPROFILE_OUT"] = str(args.cprofile.resolve())
            argv = [str(python), str(BENCH / "profiled_worker.py"), *serve[2:]]
        else:
            dumps = args.keep_dumps.resolve() if args.keep_dumps else work / "dumps"
            dumps.mkdir(parents=True, exist_ok=True)
            out = f"--callgrind-out-file={dumps}/callgrind.out.%p"
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", out, str(python), *serve]
        log = (work / "worker.log").open("wb")
        worker = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, worker)
            counts = asyncio.run(drive(args, port, secret, worker, dumps))
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(120)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
            redis.terminate()
            redis.wait(10)
            log.close()
            tail = (work / "worker.log").read_text(errors="replace")[-1500:]
            if worker.returncode not in (0, -signal.SIGTERM) and tail:
                print(tail, file=sys.stderr)
    print(f"chatserver from {root}; {args.members} members in one room")
    if counts is not None:
        (one, one_s), (two, two_s), (idle, idle_s) = counts
        n = args.messages
        # What the worker does with no message at all (timers, pings) runs for as long as
        # a window lasts, and under valgrind that is long and varies with the machine's
        # load: taken out at the idle window's rate.
        rate = idle / idle_s
        print(f"{(two - one) / n:,.0f} instructions per message, raw; idle {rate:,.0f}/s")
        corrected = ((two - rate * two_s) - (one - rate * one_s)) / n
        print(f"{corrected:,.0f} instructions per message "
              f"(frame in -> ack + {args.members} deliveries out)")  # fmt: skip
    else:
        print(f"profile of {3 * args.messages} messages: {args.cprofile or args.py_spy}")


if __name__ == "__main__":
    main()
