"""Real processes for multi-worker tests: a private redis-server, N huddle workers and
nginx rendered from deploy/nginx.conf, all on 127.0.0.1, all stopped by the fixture."""

from __future__ import annotations

import asyncio
import os
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from tests.conftest import SECRET, make_token
from tests.processes import require_program, stop_process
from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    def __init__(
        self, name: str, redis_url: str, logdir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.port = free_port()
        self.redis_url = redis_url  # "" for the memory backend
        self.log = logdir / f"{name}.log"
        self.env = env or {}
        # Without Redis the worker keeps rooms in HUDDLE_DATA_DIR: one of its own, kept
        # across its restarts, so no earlier run's rooms are in it.
        self.data_dir = tempfile.mkdtemp(prefix=f"huddle-{name}-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, ready_timeout_s: float = 60) -> None:
        # Bounded, and generous: a worker loading the moderation lists and the learned
        # model took 28 s to listen on a machine at load 17.
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_") and k != "REDIS_URL"
        }
        env.update(
            REDIS_URL=self.redis_url,
            HUDDLE_SECRET=SECRET,
            HUDDLE_WORKER_ID=self.name,
            HUDDLE_DATA_DIR=self.data_dir,
            HUDDLE_RATE_BURST="200",
            HUDDLE_RATE_REFILL_S="0.02",
            HUDDLE_LOG_LEVEL="info",
        )
        env.update(self.env)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chatserver", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(f"http://{self.address}/readyz", ready_timeout_s)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace_s=12)


def wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout_s}s: {last}")


NGINX_MAIN = """
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/huddle.conf;
}
"""


class Nginx:
    def __init__(self, binary: str, upstreams: list[str], workdir: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = workdir
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "tmp", 0o777)
        # The very file docker-compose mounts as a template, rendered the same way.
        template = (ROOT / "deploy" / "nginx.conf").read_text()
        variables = {"LISTEN_PORT": f"127.0.0.1:{self.port}"}
        variables.update({f"UPSTREAM_{i + 1}": u for i, u in enumerate(upstreams)})
        rendered = template
        for key, value in variables.items():
            rendered = rendered.replace("${" + key + "}", value)
        (self.dir / "huddle.conf").write_text(rendered)
        (self.dir / "nginx.conf").write_text(
            string.Template(NGINX_MAIN).substitute(dir=str(self.dir))
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # The child keeps its own copy of the descriptor; ours is closed at once.
        with open(self.dir / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        wait_http(f"{self.url}/healthz", 30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace_s=5, sig=signal.SIGQUIT)  # nginx: graceful quit


NGINX_FAIL_TIMEOUT_S = 5.0
"""deploy/nginx.conf's fail_timeout for each upstream."""


class Cluster:
    def __init__(self, workers: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="huddle-cluster-"))
        self.redis = RedisServer(appendonly=True)
        self.workers = [Worker(f"w{i + 1}", self.redis.url, self.dir) for i in range(workers)]
        nginx = require_program("nginx", "HUDDLE_REQUIRE_NGINX", "/usr/sbin/nginx")
        self.nginx = Nginx(nginx, [w.address for w in self.workers], self.dir / "nginx")

    def start(self) -> None:
        self.redis.start()
        for worker in self.workers:
            worker.start()
        self.nginx.start()

    def stop(self) -> None:
        self.nginx.stop()
        for worker in self.workers:
            worker.stop()
        self.redis.cleanup()

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log.read_text()[-3000:]}" for w in self.workers)

    def worker_for(self, source_ip: str) -> str:
        """Which worker nginx's ip_hash sends this client address to."""
        return asyncio.run(_worker_for(self.nginx.url, source_ip))

    def spread_sources(self) -> dict[str, str]:
        """Client addresses (all loopback) that land on each worker through ip_hash."""
        found: dict[str, str] = {}
        # A worker nginx found failing once is skipped for fail_timeout (5 s, deploy/
        # nginx.conf) and ip_hash sends its share elsewhere: a worker slow to answer its
        # first request (CI saw this once) hides it. Then wait that out and look again.
        for attempt in range(3):
            if attempt:
                time.sleep(NGINX_FAIL_TIMEOUT_S + 0.5)
            for third in range(1, 200):
                ip = f"127.0.{third}.1"
                name = self.worker_for(ip)
                found.setdefault(name, ip)
                if len(found) == len(self.workers):
                    return found
        raise RuntimeError(f"ip_hash spread only over {found}")


async def _worker_for(url: str, source_ip: str) -> str:
    connector = aiohttp.TCPConnector(local_addr=(source_ip, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{url}/healthz") as resp,
    ):
        body: dict[str, Any] = await resp.json()
        return str(body["worker"])


@dataclass
class Member:
    """A client that behaves like the web client: it reconnects by itself, rejoins with
    ``since``, and retries unacked messages with the same client_id."""

    name: str
    room: str
    url: str
    source_ip: str
    received: list[dict[str, Any]] = field(default_factory=list)
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: int = 0
    held: int = 0
    joins: list[dict[str, Any]] = field(default_factory=list)
    epoch: str | None = None
    last: int = 0
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    joining: bool = False
    buffered: list[dict[str, Any]] = field(default_factory=list)
    sio: socketio.AsyncClient | None = None
    session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(self.source_ip, 0))
        )
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.1,
            reconnection_delay_max=0.5,
            http_session=self.session,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", lambda *a: self.joined.clear())
        self.sio.on("message", self._on_live)
        token = make_token(self.name, {self.room: "member"})
        await self.sio.connect(
            self.url, auth={"token": token}, transports=["websocket"], wait_timeout=5
        )
        await asyncio.wait_for(self.joined.wait(), 10)

    async def _on_connect(self) -> None:
        asyncio.get_running_loop().create_task(self._join())

    async def _join(self) -> None:
        # Live events that overtake the join ack in this client's event loop wait here,
        # as they do in the web client, and are applied after the ack's entries.
        self.joining = True
        try:
            await self._join_once()
        finally:
            self.joining = False
            buffered, self.buffered = self.buffered, []
            for entry in buffered:
                if entry["offset"] > self.last:
                    self._on_message(entry)

    async def _join_once(self) -> None:
        assert self.sio is not None
        since = {"offset": self.last, "epoch": self.epoch} if self.epoch else None
        for _ in range(50):
            try:
                ack = await self.sio.call("join", {"room": self.room, "since": since}, timeout=3)
            except Exception:
                await asyncio.sleep(0.1)
                continue
            if ack.get("ok"):
                break
            await asyncio.sleep(0.1)
        else:
            return
        self.joins.append(ack)
        if not ack["recovered"] and self.epoch is not None:
            raise AssertionError(f"{self.name}: recovery failed: {ack}")
        for entry in ack["entries"]:
            self._on_message(entry)
        self.epoch = ack["room"]["epoch"]
        self.last = max(self.last, ack["room"]["offset"])
        self.joined.set()

    def _on_live(self, entry: dict[str, Any]) -> None:
        if self.joining:
            self.buffered.append(entry)
        else:
            self._on_message(entry)

    def _on_message(self, entry: dict[str, Any]) -> None:
        self.received.append(entry)
        self.last = max(self.last, entry["offset"])

    async def send(self, text: str, deadline_s: float = 20) -> dict[str, Any] | None:
        """Send until acked (same client_id on every retry) or the deadline passes."""
        assert self.sio is not None
        client_id = str(uuid.uuid4())
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if not self.joined.is_set():
                await asyncio.sleep(0.05)
                continue
            try:
                ack = await self.sio.call(
                    "message",
                    {"room": self.room, "text": text, "client_id": client_id},
                    timeout=3,
                )
            except Exception:
                await asyncio.sleep(0.1)
                continue
            if ack.get("ok") and ack.get("held"):
                # Held for a facilitator by moderation: not in the log, never delivered.
                self.held += 1
                return None
            if ack.get("ok"):
                self.acked[ack["id"]] = ack
                return ack
            if ack["error"]["code"] == "unavailable":
                self.unavailable += 1
            await asyncio.sleep(0.1)
        return None

    async def close(self) -> None:
        if self.sio is not None:
            await self.sio.disconnect()
        if self.session is not None:
            await self.session.close()
