"""Microbenchmark: CPU per published log entry on a worker's Redis subscription.

    .venv/bin/python bench/pubsub_listener_bench.py [--messages 30000] [--rounds 3]
        [--loop uvloop|asyncio] [--root /tmp/before] [--port 6379 --db 5]

Subscribes a RedisBackend to one room, has a separate process publish N log entries to
the room's channel (as append.lua does), and reports the listener process's CPU time
per entry from the first publish to the last delivery (decode, order check, listener
call), and the wall-clock entries per second over the same span (bounded by the
publisher). Starts a private redis-server on a free 127.0.0.1 port (no persistence)
unless ``--port`` names one, whose database ``--db`` is flushed before and after.
``--root`` imports chatserver from another checkout (e.g. a git worktree of the commit
before a change) so before/after run the same bench.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PUBLISHER = r"""
import sys, msgpack, redis
port, db, channel, epoch, start, count = sys.argv[1:7]
r = redis.Redis(host="127.0.0.1", port=int(port), db=int(db))
body = msgpack.packb({"room": "bench", "id": "x" * 16, "ts": 1, "client_id": "",
                      "user": {"id": "u", "name": "U", "role": "member"}, "text": "y" * 80})
pipe = r.pipeline(transaction=False)
for i in range(int(start), int(start) + int(count)):
    pipe.publish(channel, b"L" + epoch.encode() + b"\n" + str(i).encode() + b"\nmessage\n" + body)
    if i % 500 == 0:
        pipe.execute()
pipe.execute()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, workdir: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
            "--save", "", "--appendonly", "no"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


async def run(port: int, db: int, messages: int) -> tuple[float, float]:
    """(listener CPU µs per entry, entries per second) for one run."""
    import redis.asyncio as aioredis

    from chatserver.redis_backend import RedisBackend, room_keys

    url = f"redis://127.0.0.1:{port}/{db}"
    admin = aioredis.Redis.from_url(url)
    await admin.flushdb()
    backend = RedisBackend(url)
    await backend.start()
    received = 0
    done = asyncio.Event()

    def listener(_: object) -> None:
        nonlocal received
        received += 1
        if received >= messages:
            done.set()

    try:
        last = await backend.subscribe("bench", listener)
        epoch = (await backend.read("bench", None, 0)).epoch
        wall, started = time.perf_counter(), time.process_time()
        publisher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PUBLISHER,
            str(port),
            str(db),
            room_keys("bench")["channel"],
            epoch,
            str(last + 1),
            str(messages),
        )
        await asyncio.wait_for(done.wait(), 120)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
        await publisher.wait()
        return cpu / messages * 1e6, messages / wall
    finally:
        await backend.close()
        await admin.flushdb()
        await admin.aclose()


def run_on(loop_kind: str, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    if loop_kind == "uvloop":
        import uvloop

        return uvloop.run(factory())
    return asyncio.run(factory())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--port", type=int, default=0, help="an existing server (0: private)")
    parser.add_argument("--db", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    if not 1 <= args.messages <= 1_000_000 or not 1 <= args.rounds <= 20:
        parser.error("--messages 1..1,000,000, --rounds 1..20")
    if not 0 <= args.port <= 65535 or not 0 <= args.db <= 15:
        parser.error("--port 0..65535, --db 0..15")
    sys.path.insert(0, str(args.root.resolve()))
    port, db, proc, workdir = args.port, args.db, None, None
    if port == 0:
        workdir = tempfile.mkdtemp(prefix="huddle-bench-redis-")
        port, db = free_port(), 0
        proc = start_redis(port, workdir)
    try:
        print(f"chatserver from {args.root.resolve()}, loop {args.loop}")
        figures = [
            run_on(args.loop, lambda: run(port, db, args.messages)) for _ in range(args.rounds)
        ]
        cpus = sorted(cpu for cpu, _ in figures)
        rates = sorted(rate for _, rate in figures)
        print(
            f"listener CPU per entry (us): median {statistics.median(cpus):.2f}"
            f" ({', '.join(f'{c:.2f}' for c in cpus)}); entries/s median"
            f" {statistics.median(rates):,.0f}"
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
