"""Two pieces of the connect/join path, measured in one process (no sockets, no Redis):

    .venv/bin/python bench/join_path_bench.py [--root /tmp/before]

- disconnects: N Socket.IO sessions connected to python-socketio's manager, then all of
  them leaving (a network blip, a drain): CPU seconds for python-socketio's own
  ``AsyncManager`` and huddle's ``SessionRooms`` (chatserver/transport/session_rooms.py);
- admission: 2,500 joins arriving at once at the join admission gate
  (chatserver/service/admission.py), each holding its place for one loop turn: CPU µs
  per join through the gate, on uvloop.

``--root`` measures another checkout's admission gate beside this one (a before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import socketio  # noqa: E402
import uvloop  # noqa: E402

from chatserver.transport.session_rooms import SessionRooms  # noqa: E402


class _Ids:
    """What the managers ask the server for: a new sid."""

    def __init__(self) -> None:
        self.eio = self
        self.n = 0

    def generate_id(self) -> str:
        self.n += 1
        return f"s{self.n}"


async def disconnects(manager: Any, n: int) -> float:
    manager.server = _Ids()
    sids = [await manager.pre_connect(f"e{i}", "/") for i in range(n)]
    for sid in sids:
        await manager.connect(sid, "/")
    started = time.process_time()
    for sid in sids:
        await manager.disconnect(sid, "/")
    return time.process_time() - started


def admission_module(root: Path) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"admission_{abs(hash(root))}", root / "chatserver" / "service" / "admission.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def admitted(module: Any, n: int) -> float:
    gate = module.JoinAdmission()

    async def join() -> None:
        async with gate.admitted(recovering=True):
            await asyncio.sleep(0)

    started = time.process_time()
    await asyncio.gather(*(join() for _ in range(n)))
    return (time.process_time() - started) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="another checkout's admission gate too")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for n in (1000, 5000, 10000):
        for manager in (socketio.AsyncManager, SessionRooms):
            seconds = [asyncio.run(disconnects(manager(), n)) for _ in range(args.rounds)]
            print(
                f"disconnects: {n:>6} sessions leaving, {manager.__name__:<13}"
                f" {min(seconds):.3f} s CPU (best of {args.rounds})"
            )
    roots = [ROOT] + ([args.root] if args.root else [])
    for root in roots:
        module = admission_module(root)
        per_join = [uvloop.run(admitted(module, 2500)) for _ in range(args.rounds)]
        print(
            f"admission: 2,500 joins at once, {root}: "
            + " · ".join(f"{x:.1f}" for x in per_join)
            + " µs CPU per join"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
