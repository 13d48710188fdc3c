"""A reconnect storm, one command: a worker dies and its members all come back at once.

    .venv/bin/python bench/run_storm.py                       # 250 rooms x 20, 2 workers
    .venv/bin/python bench/run_storm.py --rooms 150 --repeat 3
    .venv/bin/python bench/run_storm.py --repeat 3 --baseline /tmp/before   # A/B, interleaved

Two huddle workers on a private redis-server (started and stopped here, loopback only).
bench/storm.js connects R x M members round-robin over both, gives every room some
history, then this script kills worker A with SIGKILL. Every member that was on A
reconnects at once to worker B and joins with `since`, retrying a refused join after
`retry_after_s` with jitter (as the web client does), while one member per room on B keeps
talking. Reported: how many reconnected and recovered, how long the last one took (from
the kill), how many were refused at least once and with which codes, and whether any
member lost, duplicated or reordered an entry (a barrier message per room at the end),
and who was busy when: the surviving worker's, the clients' and the whole machine's CPU
in each half second after the kill (``--profile``: py-spy on the surviving worker).
Results: a table on stdout and bench/out/storm.json. ``--baseline DIR`` runs another
checkout's workers (e.g. a git worktree of the commit before a change, with its own
.venv or this one's) the same way, alternating with this tree's run by run, each run
with the machine's load average at its start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run_scenario_b as scenario

OUT = scenario.OUT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=250)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument(
        "--clients",
        type=int,
        default=2,
        help="storm.js processes sharing the rooms (one core each)",
    )
    p.add_argument("--recover-timeout", type=float, default=60.0)
    p.add_argument(
        "--huddle-env", action="append", default=[], metavar="KEY=VALUE", help="worker setting"
    )
    p.add_argument(
        "--baseline",
        type=Path,
        help="another checkout to run alternately with this one (before/after)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record the surviving worker from the kill until everyone is back"
        " (bench/out/profile-storm.txt: py-spy's raw format, one collapsed stack and its"
        " count per line)",
    )
    p.add_argument(
        "--gc-log",
        action="store_true",
        help="run the huddle workers under bench/gc_worker.py: the surviving worker's"
        " garbage-collector pauses during the storm are reported",
    )
    p.add_argument("--out", default=str(OUT / "storm.json"))
    return p.parse_args(argv)


def storm_once(args: argparse.Namespace, run: int, root: Path = scenario.ROOT) -> dict[str, Any]:
    secret = secrets.token_hex(32)
    extra = dict(kv.split("=", 1) for kv in args.huddle_env)
    load = os.getloadavg()
    cluster = scenario.start_cluster(
        "huddle", f"storm{run}", 2, secret, extra, huddle_root=root, gc_log=args.gc_log
    )
    worker_a, worker_b = cluster.workers
    share = [
        args.rooms // args.clients + (i < args.rooms % args.clients) for i in range(args.clients)
    ]
    clients = [
        StormClient(i, run, share[i], args, cluster.urls, secret) for i in range(args.clients)
    ]
    try:
        for client in clients:
            client.start()
        for client in clients:
            client.wait_for("ready", 300)
        b_before = scenario.cpu_ticks(worker_b.pid)
        clients_before = sum(scenario.cpu_ticks(c.proc.pid) for c in clients)
        timeline = Timeline(worker_b.pid, cluster.redis.pid, [c.proc.pid for c in clients])
        profiler = None
        if args.profile:
            profiler = subprocess.Popen(
                [
                    *(str(scenario.PY_SPY), "record", "-r", "250", "-p", str(worker_b.pid)),
                    *("--nonblocking", "-f", "raw", "-o", str(OUT / "profile-storm.txt")),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        wall_before = time.monotonic_ns()
        os.kill(worker_a.pid, signal.SIGKILL)
        timeline.start()
        killed_ms = int(time.time() * 1000)
        for client in clients:
            client.tell(f"{killed_ms}")
        for client in clients:
            client.wait_for("recovered", args.recover_timeout + 30)
        timeline.stop()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=30)
        b_after = scenario.cpu_ticks(worker_b.pid)
        clients_after = sum(scenario.cpu_ticks(c.proc.pid) for c in clients)
        wall_s = (time.monotonic_ns() - wall_before) / 1e9
        results = [c.result(120) for c in clients]
    finally:
        for client in clients:
            client.stop()
        scenario.stop_cluster(cluster)
    merged = merge(results)
    merged["tree"] = str(root)
    merged["killed_at_ms"] = killed_ms
    merged["load_average_at_start"] = [round(x, 2) for x in load]
    cpu_ms = (b_after - b_before) * 1000 / scenario.CLK_TCK
    client_ms = (clients_after - clients_before) * 1000 / scenario.CLK_TCK
    merged["worker_b_cpu_ms"] = round(cpu_ms)
    merged["worker_b_busy_pct"] = round(cpu_ms / 10 / wall_s) if wall_s else None
    merged["client_cpu_ms"] = round(client_ms)
    merged["client_busy_pct"] = round(client_ms / 10 / wall_s) if wall_s else None
    merged["timeline"] = timeline.rows
    return merged


class Timeline:
    """Who was busy when, from the kill until every member is back: % of a core used in
    each TICK_S by the surviving worker, the storm clients (all together), Redis and the
    whole machine (all cores; the rest is other work)."""

    TICK_S = 0.25

    def __init__(self, worker: int, redis: int, clients: list[int]) -> None:
        self._pids = {"worker_b": [worker], "clients": clients, "redis": [redis]}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rows: list[dict[str, float]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def _sample(self) -> dict[str, int]:
        sample = {"machine": scenario.machine_ticks()}
        for name, pids in self._pids.items():
            total = 0
            for pid in pids:
                with contextlib.suppress(OSError):
                    total += scenario.cpu_ticks(pid)
            sample[name] = total
        return sample

    def _run(self) -> None:
        started = time.monotonic()
        before = self._sample()
        for _ in range(int(120 / self.TICK_S)):  # bounded: two minutes at most
            if self._done.wait(self.TICK_S):
                break
            now = self._sample()
            row: dict[str, float] = {"t_s": round(time.monotonic() - started, 2)}
            for name, ticks in now.items():
                row[name] = round(100 * (ticks - before[name]) / scenario.CLK_TCK / self.TICK_S)
            self.rows.append(row)
            before = now


class StormClient:
    """One bench/storm.js process with its share of the rooms, followed on a thread."""

    def __init__(
        self,
        index: int,
        run: int,
        rooms: int,
        args: argparse.Namespace,
        urls: list[str],
        secret: str,
    ) -> None:
        self.argv = [
            "node",
            str(scenario.BENCH / "storm.js"),
            "--a",
            urls[0],
            "--b",
            urls[1],
            "--secret",
            secret,
            "--rooms",
            str(rooms),
            "--members",
            str(args.members),
            "--recover-timeout",
            str(args.recover_timeout),
            "--room-prefix",
            f"storm{index}",
        ]
        self.name = f"storm{run}-client{index}"
        self.phases: dict[str, threading.Event] = {
            "ready": threading.Event(),
            "recovered": threading.Event(),
            "result": threading.Event(),
        }
        self.outcome: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes]

    def start(self) -> None:
        self.errlog = (OUT / f"{self.name}.stderr.log").open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=scenario.BENCH,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errlog,
            start_new_session=True,
        )
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            kind, _, body = raw.decode(errors="replace").strip().partition(" ")
            if kind == "PHASE":
                name = json.loads(body).get("name", "")
                print(f"    {self.name}: {name}", flush=True)
                if name in self.phases:
                    self.phases[name].set()
            elif kind == "RESULT":
                self.outcome = json.loads(body)
                self.phases["result"].set()

    def wait_for(self, phase: str, timeout_s: float) -> None:
        if not self.phases[phase].wait(timeout_s):
            raise RuntimeError(f"{self.name}: no {phase!r} within {timeout_s:g} s")

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def result(self, timeout_s: float) -> dict[str, Any]:
        self.wait_for("result", timeout_s)
        return self.outcome

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.errlog.close()


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One storm from its clients' shares: counts add up; the slowest share's times."""
    merged: dict[str, Any] = {}
    for key in (
        "members",
        "reconnecting",
        "recovered",
        "not_recovered_flag",
        "members_refused",
        "connect_errors",
        "behind_at_barrier",
        "lost",
        "duplicated",
        "out_of_order",
    ):
        merged[key] = sum(r[key] for r in results)
    for key in ("recovery_ms_p50", "recovery_ms_p99", "recovery_ms_last", "waited_ms"):
        values = [r[key] for r in results if r[key] is not None]
        merged[key] = max(values) if values else None
    refusals: dict[str, int] = {}
    for r in results:
        for code, count in r["refusals"].items():
            refusals[code] = refusals.get(code, 0) + count
    merged["refusals"] = refusals
    stages: dict[str, list[int]] = {}
    for r in results:
        for stage, (p50, p99) in r["stages_ms_p50_p99"].items():
            if p50 is None:
                continue
            low, high = stages.get(stage, [0, 0])
            stages[stage] = [max(low, p50), max(high, p99)]
    merged["stages_ms_p50_p99"] = stages
    return merged


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        ("tree", lambda r: Path(r.get("tree", "")).name),
        ("load average (1 min) at start", lambda r: r.get("load_average_at_start", ["-"])[0]),
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
        ("worker B % of a core, each 0.5 s after the kill", lambda r: _busy(r, "worker_b")),
        ("storm clients % of a core, each 0.5 s", lambda r: _busy(r, "clients")),
        ("whole machine % of a core, each 0.5 s", lambda r: _busy(r, "machine")),
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


def _busy(r: dict[str, Any], who: str) -> str:
    """The timeline's ticks, two at a time (half seconds), as one line."""
    rows = r.get("timeline") or []
    halves = [rows[i : i + 2] for i in range(0, len(rows), 2)]
    return " ".join(str(round(sum(x[who] for x in h) / len(h))) for h in halves)


def _integrity(r: dict[str, Any]) -> str:
    return f"{r['lost']} / {r['duplicated']} / {r['out_of_order']}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (1 <= args.repeat <= 5) or not (1 <= args.clients <= 8):
        raise SystemExit("--repeat is between 1 and 5, --clients between 1 and 8")
    OUT.mkdir(exist_ok=True)
    scenario.raise_nofile(4 * args.rooms * args.members + 1024)
    results = []
    try:
        roots = [scenario.ROOT] if args.baseline is None else [args.baseline, scenario.ROOT]
        for run in range(args.repeat):
            for root in roots:
                print(f"== storm run {run + 1} of {args.repeat}: {root}", flush=True)
                results.append(storm_once(args, run + 1, root))
    finally:
        scenario.PROCS.stop_all()
    print(table(results))
    report = {"machine": scenario.machine(), "args": vars(args), "runs": results}
    report["args"]["baseline"] = str(args.baseline) if args.baseline else None
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
