"""A reconnect storm, one command: a worker dies and its members all come back at once.

    .venv/bin/python bench/run_storm.py                       # 250 rooms x 20, 2 workers
    .venv/bin/python bench/run_storm.py --rooms 150 --repeat 3

Two huddle workers on a private redis-server (started and stopped here, loopback only).
bench/storm.js connects R x M members round-robin over both, gives every room some
history, then this script kills worker A with SIGKILL. Every member that was on A
reconnects at once to worker B and joins with `since`, retrying a refused join after
`retry_after_s` with jitter (as the web client does), while one member per room on B keeps
talking. Reported: how many reconnected and recovered, how long the last one took (from
the kill), how many were refused at least once and with which codes, and whether any
member lost, duplicated or reordered an entry (a barrier message per room at the end).
Results: a table on stdout and bench/out/storm.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run_scenario_b as scenario

OUT = scenario.OUT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=250)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--recover-timeout", type=float, default=60.0)
    p.add_argument(
        "--huddle-env", action="append", default=[], metavar="KEY=VALUE", help="worker setting"
    )
    p.add_argument("--out", default=str(OUT / "storm.json"))
    return p.parse_args(argv)


def storm_once(args: argparse.Namespace, run: int) -> dict[str, Any]:
    secret = secrets.token_hex(32)
    extra = dict(kv.split("=", 1) for kv in args.huddle_env)
    cluster = scenario.start_cluster("huddle", f"storm{run}", 2, secret, extra)
    worker_a, worker_b = cluster.workers
    ticks: dict[str, int] = {}
    try:
        argv = [
            "node",
            str(scenario.BENCH / "storm.js"),
            "--a",
            cluster.urls[0],
            "--b",
            cluster.urls[1],
            "--secret",
            secret,
            "--rooms",
            str(args.rooms),
            "--members",
            str(args.members),
            "--recover-timeout",
            str(args.recover_timeout),
        ]

        def on_ready(proc: subprocess.Popen[bytes], phase: dict[str, Any]) -> None:
            ticks["b_before"] = scenario.cpu_ticks(worker_b.pid)
            ticks["client_pid"] = proc.pid
            ticks["client_before"] = scenario.cpu_ticks(proc.pid)
            ticks["wall_before"] = time.monotonic_ns()
            os.kill(worker_a.pid, signal.SIGKILL)
            killed_ms = int(time.time() * 1000)
            assert proc.stdin is not None
            proc.stdin.write(f"{killed_ms}\n".encode())
            proc.stdin.flush()

        def on_recovered(proc: subprocess.Popen[bytes], phase: dict[str, Any]) -> None:
            ticks["b_after"] = scenario.cpu_ticks(worker_b.pid)
            ticks["client_after"] = scenario.cpu_ticks(proc.pid)
            ticks["wall_after"] = time.monotonic_ns()

        result = scenario.run_loadgen(
            argv,
            cap_s=600,
            on_phase={"ready": on_ready, "recovered": on_recovered},
            log_name=f"storm{run}-storm",
            stdin=True,
        )
        # Over the storm itself: from the kill until every member was back (or gave up).
        wall_s = (ticks["wall_after"] - ticks["wall_before"]) / 1e9
        cpu_ms = (ticks["b_after"] - ticks["b_before"]) * 1000 / scenario.CLK_TCK
        result["worker_b_cpu_ms"] = round(cpu_ms)
        result["worker_b_busy_pct"] = round(cpu_ms / 10 / wall_s) if wall_s else None
        result["client_cpu_ms"] = round(
            (ticks["client_after"] - ticks["client_before"]) * 1000 / scenario.CLK_TCK
        )
        result["client_busy_pct"] = round(result["client_cpu_ms"] / 10 / wall_s) if wall_s else None
        return result
    finally:
        scenario.stop_cluster(cluster)


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        ("members (on the killed worker)", lambda r: f"{r['members']} ({r['reconnecting']})"),
        ("rejoined and recovered", lambda r: r["recovered"]),
        ("recovery p50 / p99 / last (ms after the kill)", _recovery),
        ("of which: disconnect seen / connect / join (p50, p99 ms)", _stages),
        ("members refused at least once", lambda r: r["members_refused"]),
        ("refusals by code", lambda r: json.dumps(r["refusals"]) if r["refusals"] else "none"),
        ("lost / duplicated / reordered entries", _integrity),
        ("joins answered without `recovered`", lambda r: r["not_recovered_flag"]),
        ("surviving worker busy (% of a core)", lambda r: r.get("worker_b_busy_pct")),
        ("storm client busy (% of a core)", lambda r: r.get("client_busy_pct")),
    ]
    lines = ["| storm | " + " | ".join(f"run {i + 1}" for i in range(len(results))) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(str(get(r)) for r in results) + " |")
    return "\n".join(lines)


def _recovery(r: dict[str, Any]) -> str:
    return f"{r['recovery_ms_p50']} / {r['recovery_ms_p99']} / {r['recovery_ms_last']}"


def _stages(r: dict[str, Any]) -> str:
    stages = r.get("stages_ms_p50_p99", {})
    return " / ".join(f"{v[0]}, {v[1]}" for v in stages.values())


def _integrity(r: dict[str, Any]) -> str:
    return f"{r['lost']} / {r['duplicated']} / {r['out_of_order']}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (1 <= args.repeat <= 5):
        raise SystemExit("--repeat is between 1 and 5")
    OUT.mkdir(exist_ok=True)
    scenario.raise_nofile(4 * args.rooms * args.members + 1024)
    results = []
    try:
        for run in range(args.repeat):
            print(f"== storm run {run + 1} of {args.repeat}", flush=True)
            results.append(storm_once(args, run + 1))
    finally:
        scenario.PROCS.stop_all()
    print(table(results))
    report = {"machine": scenario.machine(), "args": vars(args), "runs": results}
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
