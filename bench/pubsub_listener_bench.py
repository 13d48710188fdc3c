"""Microbenchmark: CPU per published log entry on a worker's Redis subscription.

    .venv/bin/python bench/pubsub_listener_bench.py [--messages 30000] [--port 6379 --db 5]

Subscribes a RedisBackend to one room, has a separate process publish N log entries to
the room's channel (as append.lua does), and reports the listener process's CPU time
per entry from the first publish to the last delivery (decode, order check, listener
call). Only 127.0.0.1; flushes the chosen database before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from chatserver.redis_backend import RedisBackend, room_keys  # noqa: E402

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


async def run(port: int, db: int, messages: int) -> float:
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
        started = time.process_time()
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
        cpu = time.process_time() - started
        await publisher.wait()
        return cpu / messages * 1e6
    finally:
        await backend.close()
        await admin.flushdb()
        await admin.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--db", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.messages <= 1_000_000 or not 1 <= args.rounds <= 20:
        parser.error("--messages 1..1,000,000, --rounds 1..20")
    figures = [asyncio.run(run(args.port, args.db, args.messages)) for _ in range(args.rounds)]
    print("listener CPU per entry (us): " + ", ".join(f"{f:.1f}" for f in figures))


if __name__ == "__main__":
    main()
