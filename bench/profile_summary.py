"""Summarise a py-spy speedscope profile: where a huddle worker's time goes.

    .venv/bin/python bench/profile_summary.py bench/out/profile.speedscope.json [--top 30]

Prints the share of samples by function (self and inclusive) and by area (event loop and
sockets, Socket.IO/Engine.IO, aiohttp websocket, redis-py, huddle's own code, JSON/msgpack,
...), so the costs per delivery can be compared with DESIGN §6. Idle samples (the loop
waiting in select/epoll) are reported separately and left out of the shares.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

IDLE = ("select (selectors.py", "poll (selectors.py", "_run_once (asyncio/base_events.py")

AREAS: list[tuple[str, str]] = [
    ("huddle: transport/service", "chatserver/"),
    ("huddle: moderation", "moderation/"),
    ("huddle: rooms", "rooms/"),
    ("redis-py", "site-packages/redis/"),
    ("socketio", "site-packages/socketio/"),
    ("engineio", "site-packages/engineio/"),
    ("aiohttp", "site-packages/aiohttp/"),
    ("msgpack", "msgpack"),
    ("json", "json/"),
    ("prometheus_client", "prometheus_client/"),
    ("asyncio (loop, tasks, queues)", "asyncio/"),
    ("jwt", "site-packages/jwt/"),
]


def area_of(file: str) -> str:
    for name, needle in AREAS:
        if needle in file:
            return name
    return "other: " + file.rsplit("/", 2)[-2] if "/" in file else "other"


def load(path: Path) -> tuple[list[dict[str, Any]], list[tuple[list[int], float]]]:
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    samples: list[tuple[list[int], float]] = []
    for prof in doc["profiles"]:
        weights = prof.get("weights") or [1] * len(prof["samples"])
        samples.extend(zip(prof["samples"], weights, strict=True))
    return frames, samples


def label(frame: dict[str, Any]) -> str:
    file = str(frame.get("file") or "")
    short = "/".join(file.split("/")[-2:])
    return f"{frame.get('name')} ({short}:{frame.get('line')})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args()
    frames, samples = load(args.profile)
    self_t: Counter[str] = Counter()
    incl_t: Counter[str] = Counter()
    area_self: Counter[str] = Counter()
    idle = 0.0
    busy = 0.0
    for stack, weight in samples:
        if not stack:
            continue
        leaf = frames[stack[-1]]
        leaf_label = label(leaf)
        if any(leaf_label.startswith(i) for i in IDLE):
            idle += weight
            continue
        busy += weight
        self_t[leaf_label] += weight
        area_self[area_of(str(leaf.get("file") or ""))] += weight
        for name in {label(frames[i]) for i in stack}:
            incl_t[name] += weight
    total = idle + busy
    print(f"samples: {total:.0f}, busy {100 * busy / total:.1f}%, idle {100 * idle / total:.1f}%")
    print("\nself time by area (share of busy samples)")
    for name, t in area_self.most_common():
        print(f"  {100 * t / busy:5.1f}%  {name}")
    print(f"\nself time, top {args.top} functions")
    for name, t in self_t.most_common(args.top):
        print(f"  {100 * t / busy:5.1f}%  {name}")
    print(f"\ninclusive time, top {args.top} functions")
    for name, t in incl_t.most_common(args.top):
        print(f"  {100 * t / busy:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
