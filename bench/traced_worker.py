"""A huddle worker under tracemalloc, for the idle-memory breakdown (--trace-memory).

    .venv/bin/python bench/traced_worker.py serve --host 127.0.0.1 --port P

The same as ``python -m chatserver serve``, with tracemalloc on. SIGUSR1 takes a
snapshot; at the second one the difference (what the idle clients cost, by source line)
is written as JSON to $BENCH_TRACE_OUT. tracemalloc itself costs memory and time, so the
RSS of this process is not the figure to report; the breakdown is what it is for.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_snapshots: list[tracemalloc.Snapshot] = []


def _group(stats: list[tracemalloc.StatisticDiff]) -> list[dict[str, object]]:
    out = []
    for stat in stats[:60]:
        frame = stat.traceback[0]
        out.append(
            {
                "where": f"{frame.filename.replace(str(ROOT) + '/', '')}:{frame.lineno}",
                "size_diff": stat.size_diff,
                "count_diff": stat.count_diff,
            }
        )
    return out


def _on_usr1(signum: int, frame: FrameType | None) -> None:
    _snapshots.append(tracemalloc.take_snapshot())
    if len(_snapshots) != 2:
        return
    before, after = _snapshots
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(filters), after.filter_traces(filters)
    by_line = after.compare_to(before, "lineno")
    by_file = after.compare_to(before, "filename")
    doc = {
        "total_diff": sum(s.size_diff for s in by_file),
        "by_line": _group(by_line),
        "by_file": _group(by_file),
    }
    out = os.environ.get("BENCH_TRACE_OUT")
    if out:
        Path(out).write_text(json.dumps(doc, indent=2))


def main() -> int:
    tracemalloc.start(1)
    signal.signal(signal.SIGUSR1, _on_usr1)
    from chatserver.cli import main as huddle_main

    return huddle_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
