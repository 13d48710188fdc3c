"""What an acknowledged append costs on a Redis Cluster with and without waiting for a
replica (HUDDLE_REDIS_WAIT_REPLICAS 0 and 1), on a private 3 + 3 cluster on 127.0.0.1.

    .venv/bin/python bench/cluster_wait_bench.py [--appends 5000] [--rounds 3]
        [--in-flight 1,32]

Starts the same cluster the tests start (tests/redis_cluster.py: six redis-servers,
`redis-cli --cluster create`), then for each number of appends in flight runs
``RedisBackend.append`` that many at a time over 8 rooms (spread over the shards), with
the two settings alternately, and reports appends per second, the median and p99 time
to the acknowledgement, and this process's CPU time per append.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatserver.redis_backend import RedisBackend  # noqa: E402
from chatserver.redis_cluster import ClusterSeeds  # noqa: E402
from rooms.entries import message_entry  # noqa: E402
from tests.redis_cluster import RedisClusterProcesses  # noqa: E402

USER = {"id": "alex", "name": "Alex", "role": "member"}


async def measure(
    seeds: ClusterSeeds, wait: int, appends: int, in_flight: int
) -> tuple[float, float, float, float]:
    backend = RedisBackend(seeds, wait_replicas=wait, history_size=1000)
    await backend.start()
    rooms = [f"bench-{i}" for i in range(8)]
    latencies: list[float] = []
    try:
        queue = iter(range(appends))

        async def sender() -> None:
            for i in queue:
                room = rooms[i % len(rooms)]
                entry = message_entry(
                    room=room,
                    msg_id=uuid.uuid4().hex[:16],
                    user=USER,
                    text=f"message {i}",
                    ts=1_800_000_000_000,
                    client_id=str(uuid.uuid4()),
                )
                started = time.perf_counter()
                await backend.append(room, entry, guard=None, now_ms=1_800_000_000_000)
                latencies.append(time.perf_counter() - started)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await backend.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return appends / wall, statistics.median(latencies) * 1e3, p99 * 1e3, cpu / appends * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", default="1,32")
    args = parser.parse_args()
    cluster = RedisClusterProcesses()
    try:
        cluster.start()
        seeds = ClusterSeeds.parse(cluster.seeds)
        print(
            "| in flight | WAIT replicas | appends/s | ack median ms | ack p99 ms | CPU µs/append |"
        )
        print("|---|---|---|---|---|---|")
        for in_flight in (int(n) for n in args.in_flight.split(",")):
            results: dict[int, list[tuple[float, float, float, float]]] = {0: [], 1: []}
            for _ in range(args.rounds):
                for wait in (0, 1):
                    results[wait].append(asyncio.run(measure(seeds, wait, args.appends, in_flight)))
            for wait in (0, 1):
                runs = results[wait]
                cells = " · ".join(f"{r[0]:,.0f}" for r in runs)
                median = [statistics.median(r[i] for r in runs) for i in range(1, 4)]
                print(
                    f"| {in_flight} | {wait} | {cells} | {median[0]:.2f} | {median[1]:.2f} "
                    f"| {median[2]:.0f} |"
                )
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
