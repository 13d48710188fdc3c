"""A huddle worker under cProfile, switched on and off by signals.

    BENCH_CPROFILE_OUT=out.pstats .venv/bin/python bench/profiled_worker.py serve --port P

The same as ``python -m chatserver serve``; SIGUSR1 starts profiling, SIGUSR2 stops it and
writes the statistics (CPU time of the loop's thread) to $BENCH_CPROFILE_OUT (read them
with ``python -m pstats``). Used by bench/message_path_instructions.py --cprofile.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(os.environ.get("PYTHONPATH") or ROOT))

# CPU time, not wall time: on a shared machine a worker is often waiting for a core, and
# a wall-clock profile charges that wait to whatever function happened to be running.
_profile = cProfile.Profile(time.thread_time_ns, 1e-9)


def _start(_signum: int, _frame: FrameType | None) -> None:
    _profile.enable()


def _stop(_signum: int, _frame: FrameType | None) -> None:
    _profile.disable()
    _profile.dump_stats(os.environ["BENCH_CPROFILE_OUT"])


signal.signal(signal.SIGUSR1, _start)
signal.signal(signal.SIGUSR2, _stop)

from chatserver.cli import main  # noqa: E402

sys.argv[0] = "chatserver"
raise SystemExit(main())
