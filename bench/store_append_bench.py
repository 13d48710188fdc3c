"""What the embedded store costs a message: appends through MemoryBackend and SqliteBackend.

    .venv/bin/python bench/store_append_bench.py                  # 5 rounds, both backends
    .venv/bin/python bench/store_append_bench.py --appends 20000 --in-flight 1,8,64

Each round appends ``--appends`` chat messages to 20 rooms with ``--in-flight`` appenders
at once (a busy server has many members' messages in flight; one member's are one at a
time), each awaiting its own append (for SQLite: until its group commit is durable and
it was delivered). Reported per backend and in-flight count: appends/s (wall clock),
process CPU µs per append (every thread: the event loop and the writer), the part of it
not on the writer thread (the event loop's: what limits a worker), commits per
1,000 appends, and the append latency p50/p99. Backends alternate within each round, so
a busier moment of a shared machine falls on both. The SQLite file is a fresh one in a
temporary directory on the same disk as the repository (``--dir``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatserver.backend import Backend, Delivery  # noqa: E402
from chatserver.memory_backend import MemoryBackend  # noqa: E402
from chatserver.sqlite_backend import ROOMS_FILE, SqliteBackend  # noqa: E402
from rooms.entries import message_entry  # noqa: E402

ROOMS = 20
TEXT = "Had a rough night with the flare but pacing the morning helped a bit, thank you all"


async def run(kind: str, appends: int, in_flight: int, data: Path, sync: str) -> dict[str, float]:
    backend: Backend
    if kind == "memory":
        backend = MemoryBackend()
    else:
        backend = SqliteBackend(
            Path(tempfile.mkdtemp(dir=data)) / ROOMS_FILE, synchronous=sync.upper()
        )
    await backend.start()
    delivered = 0

    def listener(delivery: Delivery) -> None:
        nonlocal delivered
        delivered += 1

    for r in range(ROOMS):
        await backend.subscribe(f"room{r}", listener)
    latencies: list[float] = []
    per_worker = appends // in_flight

    async def appender(worker: int) -> None:
        user = {"id": f"u{worker}", "name": f"U{worker}", "role": "member"}
        for i in range(per_worker):
            room = f"room{(worker + i) % ROOMS}"
            entry = message_entry(
                room=room,
                msg_id=uuid.uuid4().hex[:16],
                user=user,
                text=TEXT,
                ts=int(time.time() * 1000),
                client_id=str(uuid.uuid4()),
            )
            started = time.perf_counter()
            await backend.append(room, entry, guard=None, now_ms=entry["ts"])
            latencies.append(time.perf_counter() - started)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(appender(w) for w in range(in_flight)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = per_worker * in_flight
    commits = backend.journal.batches if isinstance(backend, SqliteBackend) else 0
    writer = backend.journal.writer_cpu_s if isinstance(backend, SqliteBackend) else 0.0
    await backend.close()
    assert delivered == done, (delivered, done)
    latencies.sort()
    return {
        "appends_per_s": done / wall,
        "cpu_us_per_append": cpu / done * 1e6,
        "loop_cpu_us_per_append": (cpu - writer) / done * 1e6,
        "commits_per_1k": commits / done * 1000,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--appends", type=int, default=6000)
    p.add_argument("--in-flight", default="1,16,128")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--sync", choices=("full", "normal"), default="full")
    p.add_argument("--dir", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    flights = [int(x) for x in args.in_flight.split(",")]
    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for flight in flights:
            for kind in ("memory", "sqlite"):
                figures = asyncio.run(run(kind, args.appends, flight, args.dir, args.sync))
                results.setdefault(f"{kind} x{flight}", []).append(figures)
    print(f"{args.appends} appends a run, {args.rounds} rounds, synchronous={args.sync}; medians")
    head = f"{'':16}{'appends/s':>11}{'CPU µs':>9}{'loop µs':>9}{'commits/1k':>12}"
    print(f"{head}{'p50 ms':>9}{'p99 ms':>9}")
    summary = {}
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        summary[name] = {"median": med, "runs": runs}
        print(
            f"{name:16}{med['appends_per_s']:>11,.0f}{med['cpu_us_per_append']:>9.1f}"
            f"{med['loop_cpu_us_per_append']:>9.1f}"
            f"{med['commits_per_1k']:>12.1f}{med['p50_ms']:>9.2f}{med['p99_ms']:>9.2f}"
        )
    out = args.dir / "store_append_bench.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
