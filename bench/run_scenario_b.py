"""Scenario B: huddle next to a Node socket.io reference, on this machine, one command.

    .venv/bin/python bench/run_scenario_b.py                 # load + idle, huddle and node
    .venv/bin/python bench/run_scenario_b.py --only huddle --idle 0 --profile

Load: R rooms x M members (default 50 x 20) spread round-robin over 2 workers (connected
directly, websocket only), every member sends every S seconds (0.5) => R*M*M/S deliveries/s
(40,000). After a warm-up, D seconds (20) are measured by bench/loadgen.js (one Node
process, the official socket.io-client): delivered %, end-to-end latency, acks. This
script samples the servers' CPU time (/proc/<pid>/stat utime+stime) over exactly the
measured window and reports server CPU ms per 1,000 deliveries.

Idle: N clients (5,000) connected and joined (rooms of --idle-members) on ONE worker;
RSS per connection = (RSS with the clients - RSS before) / N.

Each target gets its own private redis-server on a free loopback port, started and stopped
here; nothing else is touched. Every wait is bounded. Results: a table on stdout and
bench/out/scenario_b.json. Everything competes for the same 2 cores (servers, Redis and the
load generator); the load generator's own CPU is reported next to the servers'.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
PYTHON = ROOT / ".venv" / "bin" / "python"
PY_SPY = Path(os.environ.get("BENCH_PY_SPY", ROOT / ".venv" / "bin" / "py-spy"))
"""py-spy: the venv's, or $BENCH_PY_SPY (one installed elsewhere, e.g. pip --target)."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
# "baseline" is huddle from another checkout (--baseline), run the same way.
HUDDLE_KINDS = ("huddle", "baseline")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
HOST = "127.0.0.1"  # the only address any load goes to

TRACE_OUT = OUT / "huddle-idle-tracemalloc.json"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


# -- processes -------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Procs:
    """Every process this script starts, stopped by pid (never by name)."""

    items: list[Proc] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        log: Path,
        cwd: Path = ROOT,
    ) -> Proc:
        fh = log.open("wb")
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen, fh)
        self.items.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.kill()
                proc.popen.wait(5)
        if proc.log is not None:
            proc.log.close()
            proc.log = None
        if proc in self.items:
            self.items.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.items)):
            self.stop(proc)


PROCS = Procs()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_nofile(want: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name may contain spaces: fields after the closing parenthesis.
    fields_ = stat[stat.rindex(")") + 2 :].split()
    return int(fields_[11]) + int(fields_[12])  # utime + stime (fields 14, 15)


def system_ticks(pid: int) -> int:
    """The kernel's share of ``cpu_ticks``: system calls (socket reads and writes)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2 :].split()[12])  # stime (field 15)


def machine_ticks() -> int:
    """Busy CPU ticks of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in cpu[:8])
    return user + nice + system + irq + softirq + steal


def others_busy_pct(window_s: float = 2.0) -> float:
    """CPU (% of one core) used by everything on the machine for a short window; this
    runs while none of our servers or load generators run, so it is all someone else's."""
    t0 = machine_ticks()
    time.sleep(window_s)
    return 100 * (machine_ticks() - t0) / CLK_TCK / window_s


def wait_quiet(limit_pct: float, max_wait_s: float) -> float:
    """Wait (bounded) until the machine is quiet enough to measure; returns the last reading."""
    deadline = time.monotonic() + max_wait_s
    busy = others_busy_pct()
    while busy > limit_pct and time.monotonic() < deadline:
        print(f"    machine busy ({busy:.0f}% of a core used by others); waiting", flush=True)
        time.sleep(5)
        busy = others_busy_pct()
    if busy > limit_pct:
        print(f"    machine still busy ({busy:.0f}%); measuring anyway", flush=True)
    return round(busy, 1)


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def wait_redis(port: int, proc: Proc) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"redis-server on {port} exited; see its log in bench/out/")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on {port} did not answer PING")


def wait_http(url: str, proc: Proc) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited at start; see bench/out/{proc.name}.log")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready at {url}")


# A worker's metrics listener by the worker's port (checkouts from before it: none).
METRICS_PORTS: dict[int, int] = {}


def fetch_metrics(port: int) -> dict[str, float]:
    """huddle_* counters of a worker, summed over labels."""
    url = f"http://{HOST}:{METRICS_PORTS.get(port, port)}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            text = resp.read().decode()
    except (OSError, urllib.error.URLError):
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("huddle_") or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        if name.endswith(("_created", "_bucket")):
            continue
        with contextlib.suppress(ValueError):
            out[name] = out.get(name, 0.0) + float(value)
    return out


# -- targets ---------------------------------------------------------------------------


@dataclass
class Cluster:
    kind: str  # huddle | node
    redis: Proc
    redis_port: int
    workers: list[Proc]
    ports: list[int]

    @property
    def urls(self) -> list[str]:
        return [f"http://{HOST}:{p}" for p in self.ports]


def start_cluster(
    kind: str,
    phase: str,
    n_workers: int,
    secret: str,
    extra_env: dict[str, str],
    *,
    traced: bool = False,
    gc_log: bool = False,
    huddle_root: Path = ROOT,
    embedded: bool = False,
    node_presence: bool = False,
) -> Cluster:
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    rport = free_port()
    redis = PROCS.start(
        f"{kind}-{phase}-redis",
        [
            redis_bin,
            "--port",
            str(rport),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ],
        log=OUT / f"{kind}-{phase}-redis.log",
    )
    wait_redis(rport, redis)
    redis_url = f"redis://{HOST}:{rport}/0"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HUDDLE_") and k not in ("REDIS_URL",)
    }
    env.update(
        {
            "REDIS_URL": redis_url,
            "HUDDLE_SECRET": secret,
            # The scenario measures delivery, not the member rate limit.
            "HUDDLE_RATE_BURST": "1000",
            "HUDDLE_RATE_REFILL_S": "0.001",
            "HUDDLE_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    workers: list[Proc] = []
    ports: list[int] = []
    for i in range(n_workers):
        port = free_port()
        cwd = ROOT
        if kind in HUDDLE_KINDS:
            # Another checkout's workers (--huddle-root) run its own code with its own venv.
            w_env = {**env, **extra_env, "PYTHONPATH": str(huddle_root)}
            if embedded:
                # The embedded default: no Redis (the private one idles), a fresh data
                # directory for its files (the SQLite room store, where the tree has one).
                del w_env["REDIS_URL"]
                w_env["HUDDLE_DATA_DIR"] = tempfile.mkdtemp(prefix=f"{kind}-{phase}-data-", dir=OUT)
            root_python = huddle_root / ".venv" / "bin" / "python"
            python = root_python if root_python.exists() else PYTHON
            argv = [str(python), "-m", "chatserver", "serve", "--host", HOST, "--port", str(port)]
            cwd = huddle_root
            if "max_connections_per_address" in (huddle_root / "chatserver/config.py").read_text():
                # Thousands of clients from this one address.
                w_env["HUDDLE_MAX_CONNECTIONS_PER_ADDRESS"] = "1000000"
            config_text = (huddle_root / "chatserver" / "config.py").read_text()
            if phase == "idle" and "cache_dir" in config_text:
                # Lists compiled at start, as trees before the cache did: a worker that loads
                # them from the cache starts ~27 MB smaller and puts its connections in fresh
                # memory instead of the compiler's freed memory, which read as 5.9 KB per
                # connection instead of 1.1 (docs/benchmarks.md, issue 18 items 2-4).
                w_env["HUDDLE_CACHE_DIR"] = "off"
            if "metrics_port" in (huddle_root / "chatserver" / "config.py").read_text():
                # Metrics are served on a listener of their own (not the clients' port).
                METRICS_PORTS[port] = free_port()
                w_env["HUDDLE_METRICS_PORT"] = str(METRICS_PORTS[port])
            if traced:
                argv[1:3] = [str(BENCH / "traced_worker.py")]
                w_env["BENCH_TRACE_OUT"] = str(TRACE_OUT)
            elif gc_log:
                argv[1:3] = [str(BENCH / "gc_worker.py")]
                w_env["BENCH_GC_OUT"] = str(OUT / f"{kind}-{phase}-w{i + 1}-gc.json")
            ready = f"http://{HOST}:{port}/readyz"
        else:
            w_env = env
            argv = ["node", str(BENCH / "node-server.js"), "--host", HOST, "--port", str(port)]
            if node_presence:
                argv.append("--presence")
            ready = f"http://{HOST}:{port}/healthz"
        name = f"{kind}-{phase}-w{i + 1}"
        proc = PROCS.start(name, argv, env=w_env, log=OUT / f"{name}.log", cwd=cwd)
        workers.append(proc)
        ports.append(port)
        wait_http(ready, proc)
    return Cluster(kind, redis, rport, workers, ports)


def stop_cluster(cluster: Cluster) -> None:
    for w in cluster.workers:
        PROCS.stop(w)
    PROCS.stop(cluster.redis)


# -- load generator --------------------------------------------------------------------


def loadgen_argv(urls: list[str], secret: str, args: argparse.Namespace, **extra: Any) -> list[str]:
    argv = ["node", str(BENCH / "loadgen.js"), "--urls", ",".join(urls), "--secret", secret]
    for key, value in extra.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


def run_loadgen(
    argv: list[str],
    *,
    cap_s: float,
    on_phase: dict[str, Any],
    log_name: str,
    stdin: bool = False,
) -> dict[str, Any]:
    """Run the load generator, calling on_phase[name](proc) at its PHASE lines."""
    errlog = (OUT / f"{log_name}.stderr.log").open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=BENCH,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=errlog,
        start_new_session=True,
    )
    timer = threading.Timer(cap_s, proc.kill)
    timer.start()
    result: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            kind, _, body = line.partition(" ")
            if kind == "PHASE":
                phase = json.loads(body)
                print(f"    loadgen: {phase}", flush=True)
                hook = on_phase.get(phase["name"])
                if hook is not None:
                    hook(proc, phase)
            elif kind == "RESULT":
                result = json.loads(body)
        proc.wait(10)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        errlog.close()
    if not result:
        raise RuntimeError(f"loadgen gave no result; see bench/out/{log_name}.stderr.log")
    return result


def measure_load(cluster: Cluster, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    servers = {w.name: w.pid for w in cluster.workers}
    samples: dict[str, dict[str, int]] = {}
    wall: dict[str, float] = {}
    profiler: list[subprocess.Popen[bytes]] = []

    def sample(loadgen_pid: int) -> dict[str, int]:
        pids = {**servers, "redis": cluster.redis.pid, "loadgen": loadgen_pid}
        # Everything else on the machine, to see whether something outside competed.
        pids_total = sum(cpu_ticks(p) for p in pids.values())
        return (
            {k: cpu_ticks(pid) for k, pid in pids.items()}
            | {f"{k}:system": system_ticks(pid) for k, pid in servers.items()}
            | {"machine": machine_ticks(), "others": machine_ticks() - pids_total}
        )

    def on_start(proc: subprocess.Popen[bytes], phase: dict[str, Any]) -> None:
        wall["start"] = time.monotonic()
        wall["start_epoch"] = time.time()
        samples["start"] = sample(proc.pid)
        if args.profile and cluster.kind == "huddle":
            target = cluster.workers[0]
            out = OUT / f"profile.{args.profile_format}"
            if args.profile_format == "speedscope":
                out = OUT / "profile.speedscope.json"
            profiler.append(
                subprocess.Popen(
                    [
                        str(PY_SPY),
                        "record",
                        "-d",
                        str(max(1, int(args.duration) - 2)),
                        "-r",
                        "100",
                        "-p",
                        str(target.pid),
                        "-o",
                        str(out),
                        "--format",
                        args.profile_format,
                        "--nonblocking",
                    ],
                    stdout=(OUT / "py-spy.log").open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def on_end(proc: subprocess.Popen[bytes], phase: dict[str, Any]) -> None:
        wall["end"] = time.monotonic()
        wall["end_epoch"] = time.time()
        samples["end"] = sample(proc.pid)
        samples["rss_kb"] = {w.name: rss_kb(w.pid) for w in cluster.workers}
        samples["hwm_kb"] = {w.name: rss_kb(w.pid, "VmHWM") for w in cluster.workers}

    argv = loadgen_argv(
        cluster.urls,
        secret,
        args,
        rooms=args.rooms,
        members=args.members,
        interval=args.interval,
        warmup=args.warmup,
        duration=args.duration,
        drain=args.drain,
        room_prefix=f"b{secrets.token_hex(3)}",
        out=OUT / f"{cluster.kind}-loadgen.json",
    )
    cap = 120 + args.warmup + args.duration + args.drain + 60
    result = run_loadgen(
        argv,
        cap_s=cap,
        on_phase={"measure_start": on_start, "measure_end": on_end},
        log_name=f"{cluster.kind}-loadgen",
    )
    for p in profiler:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    if "start" not in samples or "end" not in samples:
        raise RuntimeError("the load generator never reached the measured window")
    elapsed = wall["end"] - wall["start"]
    cpu_ms = {
        k: (samples["end"][k] - samples["start"][k]) * 1000 / CLK_TCK for k in samples["start"]
    }
    server_ms = sum(cpu_ms[w.name] for w in cluster.workers)
    server_system_ms = sum(cpu_ms[f"{w.name}:system"] for w in cluster.workers)
    received = result.get("received_all") or 0
    # Deliveries during the window: those of measured messages (in flight ones arrive
    # just after the window while warm-up ones arrived in it, roughly the same number).
    result["server"] = {
        "window_s": round(elapsed, 2),
        "window_epoch": [round(wall["start_epoch"], 3), round(wall["end_epoch"], 3)],
        "cpu_ms": {k: round(v) for k, v in cpu_ms.items()},
        "cpu_pct_of_core": {k: round(100 * v / 1000 / elapsed, 1) for k, v in cpu_ms.items()},
        "server_cpu_ms": round(server_ms),
        "server_cpu_ms_per_1k_deliveries": round(server_ms / (received / 1000), 2)
        if received
        else None,
        "server_system_cpu_ms_per_1k_deliveries": round(server_system_ms / (received / 1000), 2)
        if received
        else None,
        "rss_kb_end": samples["rss_kb"],
        "rss_kb_peak": samples["hwm_kb"],
    }
    if cluster.kind in HUDDLE_KINDS:
        result["server"]["metrics"] = {
            w.name: fetch_metrics(port)
            for w, port in zip(cluster.workers, cluster.ports, strict=True)
        }
    result["server"]["log_warnings"] = {
        w.name: count_warnings(OUT / f"{w.name}.log") for w in cluster.workers
    }
    return result


def count_warnings(path: Path) -> int:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    marks = (" WARNING ", " ERROR ", "Traceback")
    return sum(1 for line in text.splitlines() if any(m in line for m in marks))


def measure_idle(cluster: Cluster, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    worker = cluster.workers[0]
    traced = args.trace_memory and cluster.kind == "huddle"
    time.sleep(1.0)
    if traced:
        TRACE_OUT.unlink(missing_ok=True)
        os.kill(worker.pid, signal.SIGUSR1)
        time.sleep(2.0)
    before = rss_kb(worker.pid)
    profiler: subprocess.Popen[bytes] | None = None
    if args.profile and cluster.kind == "huddle":
        # The connects and joins of the ramp (py-spy stops, and writes, on SIGINT).
        profiler = subprocess.Popen(
            [
                *(str(PY_SPY), "record", "-r", "100", "-p", str(worker.pid), "--nonblocking"),
                *("-o", str(OUT / "profile-idle.speedscope.json"), "--format", "speedscope"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    ticks_before = cpu_ticks(worker.pid)
    redis_before = cpu_ticks(cluster.redis.pid)
    machine_before = machine_ticks()
    measured: dict[str, Any] = {}

    def on_ready(proc: subprocess.Popen[bytes], phase: dict[str, Any]) -> None:
        # The worker's CPU for every connect and join of the ramp, before it settles.
        measured["ramp_cpu_ms"] = 1000 * (cpu_ticks(worker.pid) - ticks_before) / CLK_TCK
        # Beside it: the loadgen's (its own count over the ramp), Redis's, the machine's.
        measured["ramp_loadgen_cpu_ms"] = phase.get("cpu_ms") or 0
        measured["ramp_redis_cpu_ms"] = (
            1000 * (cpu_ticks(cluster.redis.pid) - redis_before) / CLK_TCK
        )
        measured["ramp_machine_cpu_ms"] = 1000 * (machine_ticks() - machine_before) / CLK_TCK
        measured["ramp_connect_ms"] = phase.get("connect_ms")
        measured["ramp_join_ms"] = phase.get("join_ms")
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=30)
        # Let the worker settle (a ping round, buffers) before reading RSS.
        time.sleep(args.idle_settle)
        measured["rss_after_kb"] = rss_kb(worker.pid)
        measured["hwm_kb"] = rss_kb(worker.pid, "VmHWM")
        if traced:
            os.kill(worker.pid, signal.SIGUSR1)
            deadline = time.monotonic() + 60
            while not TRACE_OUT.exists() and time.monotonic() < deadline:
                time.sleep(0.5)
        measured["joined"] = phase.get("joined", 0)
        measured["connected"] = phase.get("connected", 0)
        assert proc.stdin is not None
        proc.stdin.write(b"stop\n")
        proc.stdin.flush()

    rooms = max(1, args.idle // args.idle_members)
    argv = loadgen_argv(
        [cluster.urls[0]],
        secret,
        args,
        idle=True,
        rooms=rooms,
        members=args.idle_members,
        room_prefix=f"i{secrets.token_hex(3)}",
        ramp_timeout=180,
        hold_cap=120,
        out=OUT / f"{cluster.kind}-idle-loadgen.json",
    )
    result = run_loadgen(
        argv,
        cap_s=180 + 120 + 60,
        on_phase={"ready": on_ready},
        log_name=f"{cluster.kind}-idle-loadgen",
        stdin=True,
    )
    n = measured.get("joined") or 0
    after = measured.get("rss_after_kb", 0)
    breakdown: dict[str, Any] | None = None
    if traced and TRACE_OUT.exists() and n:
        trace = json.loads(TRACE_OUT.read_text())
        breakdown = {
            "note": "tracemalloc on: RSS figures of this run are inflated by it",
            "python_bytes_per_connection": round(trace["total_diff"] / n),
            "by_file_bytes_per_connection": {
                e["where"]: round(e["size_diff"] / n) for e in trace["by_file"][:15]
            },
            "by_line_bytes_per_connection": {
                e["where"]: round(e["size_diff"] / n) for e in trace["by_line"][:25]
            },
        }
    return {
        "tracemalloc": breakdown,
        "clients": rooms * args.idle_members,
        "connected": measured.get("connected"),
        "joined": n,
        "ramp_s": result.get("ramp_s"),
        "connect_errors": result.get("connect_errors"),
        "join_errors": result.get("join_errors"),
        "rss_before_kb": before,
        "rss_after_kb": after,
        "rss_peak_kb": measured.get("hwm_kb"),
        "kb_per_connection": round((after - before) / n, 1) if n else None,
        "cpu_ms_per_join": round(measured["ramp_cpu_ms"] / n, 3)
        if n and "ramp_cpu_ms" in measured
        else None,
        "ramp_cpu_ms": {
            k: round(measured[f"ramp_{k}_cpu_ms"])
            for k in ("loadgen", "redis", "machine")
            if f"ramp_{k}_cpu_ms" in measured
        },
        "ramp_connect_ms": measured.get("ramp_connect_ms"),
        "ramp_join_ms": measured.get("ramp_join_ms"),
    }


# -- report ----------------------------------------------------------------------------


def fmt(v: Any, suffix: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}{suffix}" if abs(v) < 100 else f"{v:,.0f}{suffix}"
    if isinstance(v, int):
        return f"{v:,}{suffix}"
    return f"{v}{suffix}"


def dig(obj: Any, path: str) -> Any:
    for key in path.split("."):
        obj = obj[key]
    return obj


def dig_or(obj: Any, path: str, default: Any = None) -> Any:
    try:
        return dig(obj, path)
    except (KeyError, TypeError):
        return default


def calibration_loop_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (as in bench/moderation_bench.py): how
    fast this shared VM is at the moment (25 ms when quiet here, twice that at times)."""
    started = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i
    return round((time.perf_counter() - started) * 1000, 1)


def repeat_summary(results: dict[str, dict[str, Any]]) -> str:
    """Every load run: delivered %, p50/p99, CPU per 1k; then the median and worst p99 and
    how many runs met the target (100 % delivered of all sent, p99 <= 50 ms)."""
    lines = ["run  server  loop_ms  delivered%  p50_ms   p99_ms  cpu_ms/1k  target"]
    for kind, result in results.items():
        loads = result.get("load_runs") or ([result["load"]] if "load" in result else [])
        met = 0
        p99s: list[float] = []
        for i, load in enumerate(loads, 1):
            p99 = float(dig_or(load, "latency_ms.p99", float("inf")))
            delivered = float(load.get("delivered_pct_of_sent") or 0.0)
            ok = delivered >= 100.0 and p99 <= 50.0
            met += ok
            p99s.append(p99)
            lines.append(
                f"{i:>3}  {kind:<6}  {load.get('calibration_loop_ms', '-'):>7}  "
                f"{delivered:>10}  {dig_or(load, 'latency_ms.p50', '-'):>6}  {p99:>7}  "
                f"{dig_or(load, 'server.server_cpu_ms_per_1k_deliveries', '-'):>9}  "
                f"{'met' if ok else 'NOT met'}"
            )
        if p99s:
            ordered = sorted(p99s)
            lines.append(
                f"     {kind}: p99 median {ordered[(len(ordered) - 1) // 2]} ms, worst "
                f"{ordered[-1]} ms; target met in {met} of {len(p99s)} runs"
            )
    return "\n".join(lines)


def table(results: dict[str, dict[str, Any]]) -> str:
    kinds = [k for k in ("huddle", "baseline", "node") if k in results]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, getter: Callable[[dict[str, Any]], Any], suffix: str = "") -> None:
        vals = []
        for k in kinds:
            try:
                vals.append(fmt(getter(results[k]), suffix))
            except (KeyError, TypeError, ValueError):
                vals.append("-")
        rows.append((label, vals))

    def path(label: str, p: str, suffix: str = "") -> None:
        row(label, lambda r: dig(r, p), suffix)

    if any("load" in results[k] for k in kinds):
        path("delivered % (of acked ok)", "load.delivered_pct", " %")
        path("delivered % (of all sent)", "load.delivered_pct_of_sent", " %")
        path("deliveries/s achieved", "load.deliveries_per_s")
        path("  target deliveries/s", "load.target_deliveries_per_s")
        path("latency p50", "load.latency_ms.p50", " ms")
        path("latency p99", "load.latency_ms.p99", " ms")
        path("latency max", "load.latency_ms.max", " ms")
        path("ack latency p99", "load.ack_latency_ms.p99", " ms")
        row("messages sent / target", lambda r: "{sent} / {target_messages}".format(**r["load"]))
        row(
            "acks ok / error / timeout / none",
            lambda r: "{acks_ok} / {acks_failed} / {acks_timeout} / {acks_none}".format(
                **r["load"]
            ),
        )
        path("disconnects during run", "load.disconnects")
        path("out-of-order deliveries", "load.order_violations")
        path("server CPU ms / 1k deliveries", "load.server.server_cpu_ms_per_1k_deliveries")
        path(
            "  of which system calls (kernel)",
            "load.server.server_system_cpu_ms_per_1k_deliveries",
        )
        row(
            "server CPU % of a core (sum)",
            lambda r: sum(
                v
                for k, v in r["load"]["server"]["cpu_pct_of_core"].items()
                if "-w" in k and ":" not in k
            ),
            " %",
        )
        path("redis CPU % of a core", "load.server.cpu_pct_of_core.redis", " %")
        path("loadgen CPU % of a core", "load.server.cpu_pct_of_core.loadgen", " %")
        path("rest of machine % of a core", "load.server.cpu_pct_of_core.others", " %")
        path("loadgen timer lag p99", "load.loadgen_loop_delay_ms.p99", " ms")
        row(
            "server RSS peak (largest worker)",
            lambda r: round(max(r["load"]["server"]["rss_kb_peak"].values()) / 1024, 1),
            " MB",
        )
    if any("idle" in results[k] for k in kinds):
        path("idle: clients joined on 1 worker", "idle.joined")
        row(
            "idle: RSS before -> after",
            lambda r: "{:.1f} -> {:.1f} MB".format(
                r["idle"]["rss_before_kb"] / 1024, r["idle"]["rss_after_kb"] / 1024
            ),
        )
        path("idle: RSS per connection", "idle.kb_per_connection", " KB")
        path("idle: worker CPU per connect + join", "idle.cpu_ms_per_join", " ms")
        path("idle: time to connect and join all", "idle.ramp_s", " s")
        path("idle: connect p50 (loadgen)", "idle.ramp_connect_ms.p50", " ms")
        path("idle: connect p99 (loadgen)", "idle.ramp_connect_ms.p99", " ms")
        path("idle: join ack p50 (loadgen)", "idle.ramp_join_ms.p50", " ms")
        path("idle: join ack p99 (loadgen)", "idle.ramp_join_ms.p99", " ms")
        path("idle: loadgen CPU over the ramp", "idle.ramp_cpu_ms.loadgen", " ms")
        row(
            "idle: worker busy over the ramp",
            lambda r: round(
                r["idle"]["cpu_ms_per_join"] * r["idle"]["joined"] / r["idle"]["ramp_s"] / 10
            ),
            " % of a core",
        )
        row(
            "idle: loadgen busy over the ramp",
            lambda r: round(r["idle"]["ramp_cpu_ms"]["loadgen"] / r["idle"]["ramp_s"] / 10),
            " % of a core",
        )
        path("idle: redis CPU over the ramp", "idle.ramp_cpu_ms.redis", " ms")
        path("idle: machine CPU over the ramp", "idle.ramp_cpu_ms.machine", " ms")
    width = max(len(label) for label, _ in rows) + 2
    colw = [max(len(k), *(len(v[i]) for _, v in rows)) + 2 for i, k in enumerate(kinds)]
    head = "".ljust(width) + "".join(k.rjust(colw[i]) for i, k in enumerate(kinds))
    lines = [head, "-" * len(head)]
    for label, vals in rows:
        lines.append(label.ljust(width) + "".join(v.rjust(colw[i]) for i, v in enumerate(vals)))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    def npm_version(pkg: str) -> str:
        try:
            meta = json.loads((BENCH / "node_modules" / pkg / "package.json").read_text())
            return str(meta["version"])
        except (OSError, ValueError, KeyError):
            return "?"

    pyver = version(
        [
            str(PYTHON),
            "-c",
            "from importlib.metadata import version as v; print(', '.join(f'{p} {v(p)}' for p in "
            "('python-socketio', 'python-engineio', 'aiohttp', 'redis', 'hiredis')))",
        ]
    )
    # The server code changes under active development: tie each result to what ran.
    digest = hashlib.sha256()
    newest = 0.0
    for pkg in ("chatserver", "rooms", "moderation"):
        for src in sorted((ROOT / pkg).rglob("*")):
            if src.is_file() and "__pycache__" not in src.parts:
                digest.update(str(src.relative_to(ROOT)).encode() + b"\0" + src.read_bytes())
                newest = max(newest, src.stat().st_mtime)
    return {
        "server_code_sha256": digest.hexdigest()[:16],
        "server_code_newest_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest)),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": version([str(PYTHON), "--version"]),
        "python_packages": pyver,
        "node": version(["node", "--version"]),
        "redis": version(["redis-server", "--version"]),
        "socket.io": npm_version("socket.io"),
        "socket.io-client": npm_version("socket.io-client"),
        "@socket.io/redis-adapter": npm_version("@socket.io/redis-adapter"),
        "redis (node)": npm_version("redis"),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


# -- main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--interval", type=float, default=0.5, help="seconds between a member's sends")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    p.add_argument("--drain", type=float, default=5.0, help="max wait for late deliveries")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", choices=("huddle", "node"))
    p.add_argument(
        "--node-presence",
        action="store_true",
        help="the Node reference announces presence on join as huddle does (a Redis hash"
        " read in the join's round trip, {room, joined, members} to the others, members in"
        " the ack): the same visible work per join",
    )
    p.add_argument(
        "--embedded",
        action="store_true",
        help="huddle without Redis (the embedded default, one worker): use with --only huddle\n"
        "--workers 1; each run gets a fresh HUDDLE_DATA_DIR under bench/out/",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also run huddle from another checkout (e.g. a git worktree of an older commit,\n"
        "with its own .venv), interleaved with this one: a before/after in one run",
    )
    p.add_argument("--idle", type=int, default=5000, help="idle clients on one worker; 0: skip")
    p.add_argument("--idle-members", type=int, default=20, help="room size in the idle test")
    p.add_argument("--idle-settle", type=float, default=3.0)
    p.add_argument("--skip-load", action="store_true", help="only the idle measurement")
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record huddle worker 1 while measured (load: profile.speedscope.json;"
        " idle ramp: profile-idle.speedscope.json)",
    )
    p.add_argument(
        "--profile-format", choices=("speedscope", "flamegraph", "raw"), default="speedscope"
    )
    p.add_argument(
        "--huddle-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the huddle workers (repeatable)",
    )
    p.add_argument(
        "--trace-memory",
        action="store_true",
        help="idle run of huddle under tracemalloc: per-connection breakdown by source line\n"
        "(its RSS figure is then inflated; use with --skip-load --only huddle)",
    )
    p.add_argument(
        "--gc-log",
        action="store_true",
        help="run the huddle workers under bench/gc_worker.py and report GC pauses\n"
        "(try a change with --huddle-env BENCH_GC_FREEZE=1 or BENCH_GC_THRESHOLD=a,b,c)",
    )
    p.add_argument(
        "--quiet-pct",
        type=float,
        default=15.0,
        help="before each run, wait while other processes use more than this %% of a core",
    )
    p.add_argument("--quiet-wait", type=float, default=180.0, help="the longest such wait (s)")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="load runs per server, interleaved (huddle, node, huddle, ...): one run's p99\n"
        "moves with the machine's moment; the summary gives every run, median and worst",
    )
    p.add_argument("--out", type=Path, default=OUT / "scenario_b.json")
    args = p.parse_args(argv)
    if not (1 <= args.rooms * args.members <= 20000):
        p.error("--rooms x --members must be between 1 and 20000")
    if not (0 <= args.idle <= 15000):
        p.error("--idle must be between 0 and 15000")
    if not (0 < args.duration <= 600 and 0 <= args.warmup <= 120 and args.interval >= 0.01):
        p.error("0 < --duration <= 600, 0 <= --warmup <= 120, --interval >= 0.01")
    if not (1 <= args.workers <= 4):
        p.error("--workers must be 1..4")
    if not (1 <= args.repeat <= 10):
        p.error("--repeat must be 1..10")
    if args.embedded and (args.only != "huddle" or args.workers != 1):
        p.error("--embedded is one process: use it with --only huddle --workers 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if not (BENCH / "node_modules" / "socket.io-client").exists():
        print("bench: installing npm packages (npm ci)", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=300)
    if args.profile and not PY_SPY.exists():
        print("bench: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    need = max(args.rooms * args.members, args.idle) * 2 + 1024
    nofile = raise_nofile(max(need, 65536))
    if nofile[0] < need:
        print(f"bench: open-file limit {nofile[0]} is below the {need} needed", file=sys.stderr)
        return 2
    extra_env = dict(kv.split("=", 1) for kv in args.huddle_env)
    secret = secrets.token_urlsafe(48)
    kinds = [args.only] if args.only else ["huddle", "node"]
    if args.baseline is not None:
        kinds.insert(1, "baseline")

    def root_of(kind: str) -> Path:
        return args.baseline if kind == "baseline" else ROOT

    results: dict[str, dict[str, Any]] = {}

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        results = {kind: {} for kind in kinds}
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        # Interleaved, so that a slower or busier stretch of a shared VM falls on both.
        for rep in range(0 if args.skip_load else args.repeat):
            for kind in kinds:
                label = f" (run {rep + 1} of {args.repeat})" if args.repeat > 1 else ""
                print(f"== {kind}: load, {args.workers} workers{label}", flush=True)
                busy = wait_quiet(args.quiet_pct, args.quiet_wait)
                speed = calibration_loop_ms()
                gc_log = args.gc_log and kind == "huddle"
                cluster = start_cluster(
                    kind,
                    "load",
                    args.workers,
                    secret,
                    extra_env,
                    gc_log=gc_log,
                    huddle_root=root_of(kind),
                    embedded=args.embedded,
                    node_presence=args.node_presence,
                )
                try:
                    load = measure_load(cluster, secret, args)
                    load["others_busy_before_pct"] = busy
                    load["calibration_loop_ms"] = speed
                finally:
                    stop_cluster(cluster)
                if gc_log:
                    t0, t1 = load["server"]["window_epoch"]
                    load["gc"] = {}
                    for w in cluster.workers:
                        path = OUT / f"{w.name}-gc.json"
                        if path.exists():
                            gc_doc = json.loads(path.read_text())
                            gc_doc["gen2_in_window_ms"] = [
                                ms for t, ms in gc_doc["gen2_events"] if t0 <= t <= t1
                            ]
                            load["gc"][w.name] = gc_doc
                runs[kind].append(load)
        for kind in kinds:
            if runs[kind]:
                # The table shows the run with the median p99; every run is in load_runs.
                ranked = sorted(runs[kind], key=lambda r: dig_or(r, "latency_ms.p99", float("inf")))
                results[kind]["load"] = ranked[(len(ranked) - 1) // 2]
                if len(ranked) > 1:
                    results[kind]["load_runs"] = runs[kind]
        for kind in kinds:
            if args.idle:
                print(f"== {kind}: idle, {args.idle} clients on 1 worker", flush=True)
                wait_quiet(args.quiet_pct, args.quiet_wait)
                traced = args.trace_memory and kind == "huddle"
                cluster = start_cluster(
                    kind,
                    "idle",
                    1,
                    secret,
                    extra_env,
                    traced=traced,
                    huddle_root=root_of(kind),
                    embedded=args.embedded,
                    node_presence=args.node_presence,
                )
                try:
                    results[kind]["idle"] = measure_idle(cluster, secret, args)
                finally:
                    stop_cluster(cluster)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        PROCS.stop_all()
    doc = {
        "scenario": "B",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "command": " ".join([".venv/bin/python", "bench/run_scenario_b.py", *sys.argv[1:]]),
        "machine": machine(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    # Keep every run: a figure quoted in docs/benchmarks.md should stay findable.
    stamped = args.out.with_name(f"{args.out.stem}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    stamped.write_text(json.dumps(doc, indent=2))
    print()
    print(
        f"Scenario B: {args.rooms} rooms x {args.members} members, every {args.interval}s, "
        f"{args.workers} workers, {args.duration:g}s measured after {args.warmup:g}s warm-up"
    )
    print(table(results))
    if args.repeat > 1:
        print()
        print(repeat_summary(results))
    print(f"\nwritten: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
