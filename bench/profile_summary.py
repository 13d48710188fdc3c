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
from collections import defaultdict
from collections.abc import Iterable
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


# What a sample was doing, by the first marker found anywhere in its stack (innermost
# first). py-spy's asyncio stacks are sometimes cut at a task boundary, so markers name
# functions that appear wherever the stack is cut.
PATHS: list[tuple[str, tuple[str, ...]]] = [
    ("log records and tracebacks", ("Logger._log", "Formatter.format", "print_exception")),
    (
        "fan-out writer per recipient (engineio queue -> aiohttp frame -> write)",
        ("_websocket_handler.<locals>.writer", "AsyncSocket.poll", "Queue.get"),
    ),
    (
        "redis pub/sub listener (decode, gap check, local emit)",
        ("_listen_forever", "_pump", "SubscriptionReader"),
    ),
    (
        "redis commands (pool, pack, send, parse)",
        ("execute_command", "AsyncScript.__call__", "_send_packed_command", "get_connection"),
    ),
    (
        "inbound events (frame read, socketio decode, handler, service)",
        (
            "_handle_event_internal",
            "_trigger_event",
            "websocket_wait",
            "Joining.",
            "Posting.",
            "Controls.",
            "Connections.",
            "_handler.<locals>.handle",
            "_handle_eio_message",
        ),
    ),
    ("connect/upgrade/http", ("_handle_request", "_handle_connect")),
    ("timers and wait_for bookkeeping", ("wait_for", "call_later", "call_at", "_release_waiter")),
    ("event loop: epoll, ready queue", ("select", "_run_once", "Handle._run")),
]


def path_of(names: list[str]) -> str:
    for path, markers in PATHS:
        for name in reversed(names):
            if any(m in name for m in markers):
                return path
    return "other"


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


def top(items: Iterable[tuple[str, float]], n: int | None = None) -> list[tuple[str, float]]:
    return sorted(items, key=lambda kv: -kv[1])[:n]


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
    self_t: defaultdict[str, float] = defaultdict(float)
    incl_t: defaultdict[str, float] = defaultdict(float)
    area_self: defaultdict[str, float] = defaultdict(float)
    paths: defaultdict[str, float] = defaultdict(float)
    idle: float = 0.0
    busy: float = 0.0
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
        paths[path_of([str(frames[i].get("name")) for i in stack])] += weight
        for name in {label(frames[i]) for i in stack}:
            incl_t[name] += weight
    total = idle + busy
    print(f"samples: {total:.0f}, busy {100 * busy / total:.1f}%, idle {100 * idle / total:.1f}%")
    print("\nwhat the worker was doing (share of busy samples)")
    for name, t in top(paths.items()):
        print(f"  {100 * t / busy:5.1f}%  {name}")
    print("\nself time by area (share of busy samples)")
    for name, t in top(area_self.items()):
        print(f"  {100 * t / busy:5.1f}%  {name}")
    print(f"\nself time, top {args.top} functions")
    for name, t in top(self_t.items(), args.top):
        print(f"  {100 * t / busy:5.1f}%  {name}")
    print(f"\ninclusive time, top {args.top} functions")
    for name, t in top(incl_t.items(), args.top):
        print(f"  {100 * t / busy:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
