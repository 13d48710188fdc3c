"""A huddle worker that records its garbage-collector pauses (--gc-log).

    BENCH_GC_OUT=bench/out/gc.json .venv/bin/python bench/gc_worker.py serve --port P

The same as ``python -m chatserver serve``, with a gc callback timing every collection
(generation, pause, objects collected). A summary is written to $BENCH_GC_OUT after each
full (generation 2) collection and at exit. With BENCH_GC_FREEZE=1 it also calls
gc.freeze() once the app is serving (the objects of start-up are then never scanned
again), and BENCH_GC_THRESHOLD="a,b,c" sets gc.set_threshold: both are here to test a
change before proposing it to chatserver/.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_OUT = os.environ.get("BENCH_GC_OUT")
_started: list[float] = [0.0]
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_full: list[tuple[float, float]] = []
"""(wall-clock time at the end, pause in ms) of every full collection."""


def _summary() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for gen, pauses in _pauses.items():
        s = sorted(pauses)
        out[f"gen{gen}"] = {
            "count": len(s),
            "total_ms": round(sum(s), 1),
            "p50_ms": round(s[len(s) // 2], 2) if s else None,
            "max_ms": round(s[-1], 2) if s else None,
        }
    out["gen2_events"] = [[round(t, 3), round(ms, 1)] for t, ms in _full]
    out["tracked_objects"] = len(gc.get_objects())
    out["frozen"] = gc.get_freeze_count()
    out["threshold"] = gc.get_threshold()
    return out


def _write() -> None:
    if _OUT:
        Path(_OUT).write_text(json.dumps(_summary(), indent=2))


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    gen = int(info.get("generation", 0))
    pause_ms = (time.perf_counter() - _started[0]) * 1000
    _pauses[gen].append(pause_ms)
    if gen == 2:
        _full.append((time.time(), pause_ms))
        _write()


def main() -> int:
    gc.callbacks.append(_callback)
    threshold = os.environ.get("BENCH_GC_THRESHOLD")
    if threshold:
        a, b, c = (int(x) for x in threshold.split(","))
        gc.set_threshold(a, b, c)
    from aiohttp import web

    from chatserver.cli import main as huddle_main

    if os.environ.get("BENCH_GC_FREEZE") == "1":
        run_app = web.run_app

        def run_app_frozen(app: web.Application, **kwargs: Any) -> None:
            async def freeze(app: web.Application) -> None:
                gc.collect()
                gc.freeze()

            app.on_startup.append(freeze)
            run_app(app, **kwargs)

        web.run_app = run_app_frozen  # type: ignore[assignment]
    try:
        return huddle_main(sys.argv[1:])
    finally:
        _write()


if __name__ == "__main__":
    raise SystemExit(main())
