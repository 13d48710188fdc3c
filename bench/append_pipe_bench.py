"""Microbenchmark: the Redis hot path, appends per second and worker CPU per append.

    .venv/bin/python bench/append_pipe_bench.py [--appends 20000] [--rounds 3]
        [--in-flight 1,8,64] [--loop uvloop|asyncio] [--root /tmp/before] [--guard]

Starts a private redis-server on a free 127.0.0.1 port (no persistence), then for each
number of appends in flight runs ``RedisBackend.append`` (the append script through
``chatserver/redis_pipe.py``) that many at a time over 8 rooms, and reports wall-clock
appends per second and this process's CPU time per append (redis-server's CPU is not
counted). ``--root`` imports chatserver from another checkout (e.g. a git worktree of
the commit before a change) so before/after run the same bench.
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


async def measure(
    url: str, appends: int, in_flight: int, guarded: bool
) -> tuple[float, float, float]:
    """(appends per second, worker CPU µs per append, redis-server µs per append script
    as its INFO commandstats counts them) for one run. ``guarded``: each append is a
    member's post, checked by the script's post guard as live messages are."""
    import redis.asyncio as aioredis

    from chatserver.backend import PostGuard
    from chatserver.redis_backend import RedisBackend
    from rooms.entries import message_entry

    backend = RedisBackend(url, history_size=1000)
    await backend.start()
    user = {"id": "u", "name": "U", "role": "member"}
    text = "y" * 80
    counter = 0

    async def one_after_another(count: int) -> None:
        nonlocal counter
        for _ in range(count):
            counter += 1
            entry = message_entry(
                room=f"bench{counter % 8}",
                msg_id=f"{counter:016x}",
                user=user,
                text=text,
                ts=counter,
                client_id=f"c{counter}",
            )
            guard = PostGuard("u", "member") if guarded else None
            await backend.append(entry["room"], entry, guard=guard, now_ms=counter)

    try:
        await one_after_another(200)  # warm: connections open, script loaded
        each = appends // in_flight
        stats = aioredis.Redis.from_url(url)
        await stats.config_resetstat()
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one_after_another(each) for _ in range(in_flight)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done = each * in_flight
        info = await stats.info("commandstats")
        await stats.aclose()
        script = info.get("cmdstat_evalsha", {}).get("usec_per_call", 0.0)
        return done / wall, cpu / done * 1e6, float(script)
    finally:
        await backend.close()


def run_on(loop_kind: str, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    if loop_kind == "uvloop":
        import uvloop

        return uvloop.run(factory())
    return asyncio.run(factory())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", default="1,8,64")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument(
        "--guard", action="store_true", help="append as a member's post (the post guard runs)"
    )
    args = parser.parse_args()
    levels = [int(n) for n in args.in_flight.split(",")]
    if not 1 <= args.appends <= 1_000_000 or not 1 <= args.rounds <= 20:
        parser.error("--appends 1..1,000,000, --rounds 1..20")
    if not all(1 <= n <= 1000 for n in levels):
        parser.error("--in-flight values 1..1000")
    sys.path.insert(0, str(args.root.resolve()))
    workdir = tempfile.mkdtemp(prefix="huddle-bench-redis-")
    port = free_port()
    proc = start_redis(port, workdir)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        print(f"chatserver from {args.root.resolve()}, loop {args.loop}")
        for n in levels:
            figures = [
                run_on(args.loop, lambda n=n: measure(url, args.appends, n, args.guard))
                for _ in range(args.rounds)
            ]
            rates = sorted(rate for rate, _, _ in figures)
            cpus = sorted(cpu for _, cpu, _ in figures)
            scripts = sorted(script for _, _, script in figures)
            print(
                f"{n:>4} in flight: appends/s median {statistics.median(rates):,.0f}"
                f" best {rates[-1]:,.0f}; CPU µs per append median"
                f" {statistics.median(cpus):.1f} best {cpus[0]:.1f}"
                f" ({', '.join(f'{c:.1f}' for c in cpus)}); redis µs per append script"
                f" median {statistics.median(scripts):.2f}"
                f" ({', '.join(f'{s:.2f}' for s in scripts)})"
            )
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
