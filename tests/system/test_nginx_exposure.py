"""The shipped nginx config (deploy/nginx.conf, rendered as docker-compose and
tests/cluster.py render it) passes only what clients use — the web client's page and
files, Socket.IO, the health check — and nothing else: /metrics (which shows when crisis
flags fire) and any other path end at nginx. The worker's metrics are on a listener of
their own (HUDDLE_METRICS_PORT), which ops scrape directly."""

from __future__ import annotations

import http.client
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster import Nginx, Worker
from tests.conftest import make_token, open_client
from tests.processes import require_program
from tests.redis_server import free_port

# Worker processes (tests/cluster.py) run with the default websocket path whatever
# HUDDLE_WS_FAST_PATH says: CI's second run, with the fast path off, would repeat this
# module unchanged, so it runs once.
pytestmark = pytest.mark.transport_independent


@dataclass
class Deployment:
    worker: Worker
    nginx: Nginx
    metrics_port: int


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    binary = require_program("nginx", "HUDDLE_REQUIRE_NGINX", "/usr/sbin/nginx")
    workdir = Path(tempfile.mkdtemp(prefix="huddle-nginx-"))
    metrics_port = free_port()
    # One worker (memory backend) behind all three of the template's upstreams.
    worker = Worker("w1", "", workdir, env={"HUDDLE_METRICS_PORT": str(metrics_port)})
    nginx = Nginx(binary, [worker.address] * 3, workdir / "nginx")
    try:
        worker.start()
        nginx.start()
        yield Deployment(worker, nginx, metrics_port)
    finally:
        nginx.stop()
        worker.stop()


def fetch(port: int, path: str) -> tuple[int, str]:
    """The request line exactly as given (no client-side normalising of the path)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/metrics/",
        "/metrics?format=prometheus",
        "/METRICS",
        "//metrics",
        "/readyz",
        "/web/../metrics",
        "/web/%2e%2e/metrics",
        "/socket.io/../metrics",
        "/healthz/../metrics",
        "/vendor/",
        "/.env",
        "/no-such-page",
        "/web/../pyproject.toml",
    ],
)
def test_only_the_client_paths_pass_nginx(deployment: Deployment, path: str) -> None:
    status, body = fetch(deployment.nginx.port, path)
    assert status == 404, (path, status, body[:200])
    assert "huddle_" not in body


def test_the_client_paths_still_pass(deployment: Deployment) -> None:
    status, body = fetch(deployment.nginx.port, "/")
    assert status == 200 and "<script" in body
    client_paths = ("/web/app.js", "/web/style.css", "/vendor/socket.io.esm.min.js", "/healthz")
    organiser_paths = ("/organise", "/web/organise.css", "/api/v1/openapi.json")
    for path in client_paths + organiser_paths:
        status, _ = fetch(deployment.nginx.port, path)
        assert status == 200, path


def test_metrics_are_on_the_workers_own_listener(deployment: Deployment) -> None:
    status, body = fetch(deployment.metrics_port, "/metrics")
    assert status == 200 and "huddle_connections" in body
    # Not on the worker's client port either, with or without nginx in front.
    status, body = fetch(deployment.worker.port, "/metrics")
    assert status == 404 and "huddle_" not in body
    assert "metrics on http://127.0.0.1:" in deployment.worker.log.read_text()


@pytest.mark.parametrize("transports", [("websocket",), ("polling", "websocket")])
async def test_a_member_still_chats_through_nginx(
    deployment: Deployment, transports: tuple[str, ...]
) -> None:
    room = f"r-{uuid.uuid4().hex[:8]}"
    url = deployment.nginx.url
    alex = await open_client(url, make_token("alex", {room: "member"}), transports=transports)
    bea = await open_client(url, make_token("bea", {room: "member"}), transports=transports)
    try:
        for client in (alex, bea):
            assert (await client.call("join", {"room": room}))["ok"]
        ack = await alex.send(room, "hello through nginx")
        assert ack["ok"], ack
        got = await bea.wait_for("message", lambda m: m.get("id") == ack["id"])
        assert got["text"] == "hello through nginx"
    finally:
        for client in (alex, bea):
            await client.sio.disconnect()
