"""A private Redis Cluster for tests: 3 masters and 3 replicas, each a real redis-server
(``--cluster-enabled yes``) on free ports in its own temp dir, joined by
``redis-cli --cluster create``. Tests may kill a master (-9) and wait for its replica to
take over. Missing programs skip the test, or fail it in CI (tests/processes.py)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.processes import require_program, stop_process
from tests.redis_server import free_port

# Short, so a killed master's replica takes over within a couple of seconds.
NODE_TIMEOUT_MS = 1000
START_TIMEOUT_S = 30.0


class ClusterNode:
    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.bus_port = free_port()
        self.dir = root / str(self.port)
        self.dir.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--cluster-port", str(self.bus_port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # A replica may take over however long its link was down (tests kill masters
            # at any moment), and slots of a live master keep serving while one is down.
            "--cluster-replica-validity-factor", "0",
            "--cluster-require-full-coverage", "no",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.command("PING").startswith("+PONG"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server (cluster node) did not start on {self.port}")

    def command(self, *args: str, timeout_s: float = 1.0) -> str:
        """One command over a plain socket: its raw reply, or '' if the node is away."""
        payload = "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s) as s:
                s.sendall(f"*{len(args)}\r\n{payload}".encode())
                chunks = b""
                while True:
                    data = s.recv(65536)
                    chunks += data
                    if not data or _complete(chunks):
                        break
                return chunks.decode(errors="replace")
        except OSError:
            return ""

    def info(self, section: str) -> dict[str, str]:
        reply = (
            self.command("CLUSTER", "INFO")
            if section == "cluster"
            else self.command("INFO", section)
        )
        fields: dict[str, str] = {}
        for line in reply.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip()] = value.strip()
        return fields

    def node_id(self) -> str:
        return self.command("CLUSTER", "MYID").split("\r\n")[1]

    def keys_in_slot(self, slot: int) -> list[str]:
        return _strings(self.command("CLUSTER", "GETKEYSINSLOT", str(slot), "1000"))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            stop_process(self.proc, grace_s=5)


def _complete(data: bytes) -> bool:
    """Whether one whole RESP2 reply arrived."""
    return _parse(data, 0) is not None


def _parse(data: bytes, at: int) -> int | None:
    """Where the reply starting at ``at`` ends, or None if it has not all arrived."""
    end = data.find(b"\r\n", at)
    if end < 0:
        return None
    kind, header = data[at : at + 1], data[at + 1 : end]
    if kind in (b"+", b"-", b":"):
        return end + 2
    size = int(header)
    if kind == b"$":
        if size < 0:
            return end + 2
        return end + 2 + size + 2 if len(data) >= end + 2 + size + 2 else None
    position: int | None = end + 2
    for _ in range(max(size, 0)):
        assert position is not None
        position = _parse(data, position)
        if position is None:
            return None
    return position


def _strings(reply: str) -> list[str]:
    """The bulk strings of a flat array reply."""
    lines = reply.split("\r\n")
    return [
        lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("$") and line != "$-1"
    ]


class RedisClusterProcesses:
    """Six nodes: after `start`, three masters with one replica each, every slot covered."""

    def __init__(self, masters: int = 3, replicas_per_master: int = 1) -> None:
        self.server_binary = require_program("redis-server", "HUDDLE_REQUIRE_REDIS")
        self.cli_binary = require_program("redis-cli", "HUDDLE_REQUIRE_REDIS")
        self.root = Path(tempfile.mkdtemp(prefix="huddle-cluster-"))
        self.replicas_per_master = replicas_per_master
        count = masters * (1 + replicas_per_master)
        self.nodes = [ClusterNode(self.server_binary, self.root) for _ in range(count)]

    @property
    def seeds(self) -> str:
        """What HUDDLE_REDIS_CLUSTER takes: every node, comma-separated."""
        return ",".join(n.address for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                self.cli_binary, "--cluster", "create",
                *(n.address for n in self.nodes),
                "--cluster-replicas", str(self.replicas_per_master),
                "--cluster-yes",
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
        self.wait_ok()
        self.wait_replicas_in_sync()

    def wait_ok(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every live node says ``cluster_state:ok`` and every slot is served."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = [n.info("cluster") for n in self.nodes if n.alive]
            if all(
                s.get("cluster_state") == "ok" and s.get("cluster_slots_ok") == "16384"
                for s in states
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Redis Cluster not ok after {timeout_s} s: {states}")

    def wait_replicas_in_sync(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            replicas = [r for r in (n.info("replication") for n in self.nodes if n.alive)]
            links = [r.get("master_link_status") for r in replicas if r.get("role") == "slave"]
            if links and all(link == "up" for link in links):
                return
            time.sleep(0.1)
        raise RuntimeError("Redis Cluster replicas not in sync")

    def master_of(self, key: str) -> ClusterNode:
        """The live master serving ``key``'s slot now (as a live node's CLUSTER NODES says)."""
        for node in self.nodes:
            if not node.alive:
                continue
            slot = int(node.command("CLUSTER", "KEYSLOT", key).strip().lstrip(":"))
            for line in node.command("CLUSTER", "NODES").splitlines():
                parts = line.split()
                if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                    continue
                port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                for span in parts[8:]:
                    low, _, high = span.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no live master serves {key!r}")

    def restore(self) -> None:
        """Start every killed node again (it rejoins as a replica) and wait until the
        cluster is whole: every slot served, every replica in sync."""
        for node in self.nodes:
            if not node.alive:
                node.start()
        self.wait_ok()
        self.wait_replicas_in_sync()

    def channels_of(self, node: ClusterNode) -> list[str]:
        """The sharded channels someone is subscribed to on ``node``."""
        return _strings(node.command("PUBSUB", "SHARDCHANNELS"))

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        fields = master.info("replication")
        port = int(dict(p.split("=") for p in fields["slave0"].split(","))["port"])
        return next(n for n in self.nodes if n.port == port)

    def masters(self) -> list[ClusterNode]:
        """The live masters."""
        return [n for n in self.nodes if n.alive and n.info("replication").get("role") == "master"]

    def flush(self) -> None:
        for node in self.nodes:
            if node.alive and node.info("replication").get("role") == "master":
                node.command("FLUSHALL")

    def cleanup(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
