"""How long a room's first join on a worker takes to be answered, beside a later join.

    .venv/bin/python bench/first_join_bench.py [--rooms 150] [--baseline /tmp/before]

One huddle worker on its own redis-server (started as ``bench/run_scenario_b.py`` starts
them), one python-socketio client at a time: for each of ``--rooms`` new rooms, a first
member joins (the worker subscribes the room, then runs the join script), then a second
member (one script). Prints the join ack's median and 90th percentile for each, and the
first join's extra time over the later one: the round trips a room's first join waits
for. With ``--baseline``, the other checkout's worker is measured the same way, the two
alternating room by room-batch so the machine's moments fall on both.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import run_scenario_b as scenario  # noqa: E402
import socketio  # noqa: E402

from chatserver.auth import issue_token  # noqa: E402

BATCH = 10


async def join_once(url: str, secret: str, user: str, room: str) -> float:
    """Seconds from sending a join to its ack (the connect is not counted)."""
    token = issue_token(
        secret, user_id=user, name=user, rooms={room: "member"}, now=int(time.time()), ttl_s=600
    )
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    try:
        started = time.perf_counter()
        ack = await client.call("join", {"room": room}, timeout=10)
        took = time.perf_counter() - started
        if not ack.get("ok"):
            raise RuntimeError(f"join refused: {ack}")
        return took
    finally:
        await client.disconnect()


async def measure(
    urls: dict[str, str], secret: str, rooms: int
) -> dict[str, dict[str, list[float]]]:
    got: dict[str, dict[str, list[float]]] = {k: {"first": [], "later": []} for k in urls}
    prefix = secrets.token_hex(3)
    for batch in range(0, rooms, BATCH):
        for kind, url in urls.items():
            for n in range(batch, min(batch + BATCH, rooms)):
                room = f"{prefix}-{kind}-{n}"
                got[kind]["first"].append(await join_once(url, secret, f"a{n}", room))
                got[kind]["later"].append(await join_once(url, secret, f"b{n}", room))
    return got


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rooms", type=int, default=150)
    p.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    args = p.parse_args()
    secret = secrets.token_urlsafe(48)
    roots = {"huddle": scenario.ROOT}
    if args.baseline is not None:
        roots["baseline"] = args.baseline.resolve()
    clusters = {}
    try:
        for kind, root in roots.items():
            clusters[kind] = scenario.start_cluster(
                kind, "first-join", 1, secret, {}, huddle_root=root
            )
        urls = {kind: f"http://{scenario.HOST}:{c.ports[0]}" for kind, c in clusters.items()}
        got = asyncio.run(measure(urls, secret, args.rooms))
    finally:
        for cluster in clusters.values():
            scenario.stop_cluster(cluster)
    for kind, times in got.items():
        first, later = times["first"], times["later"]
        extra = statistics.median(first) - statistics.median(later)
        print(
            f"{kind:9s} ({roots[kind]}): first join p50 {statistics.median(first) * 1e3:.2f} ms,"
            f" p90 {quantile(first, 0.9) * 1e3:.2f} ms; later join p50"
            f" {statistics.median(later) * 1e3:.2f} ms, p90 {quantile(later, 0.9) * 1e3:.2f} ms;"
            f" first - later (p50) {extra * 1e3:.2f} ms  [{len(first)} rooms]"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
