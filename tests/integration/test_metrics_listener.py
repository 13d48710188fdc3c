"""Metrics are served on a listener of their own (HUDDLE_METRICS_HOST, 127.0.0.1 by
default, and HUDDLE_METRICS_PORT), never on the port clients reach: they show when
crisis flags fire. tests/system/test_nginx_exposure.py checks the deployment's side."""

from __future__ import annotations

import aiohttp

from chatserver.app import metrics_url
from chatserver.config import Settings
from tests.conftest import Connect, Server, make_settings, start_server


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_are_on_their_own_listener_and_not_the_clients_port(
    server: Server, connect: Connect
) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    await alex.send("r1", "hello")
    url = metrics_url(server.app)
    assert url is not None and url.startswith("http://127.0.0.1:") and url != server.url
    status, body = await get(url)
    assert status == 200 and "huddle_messages_in_total 1.0" in body
    # The port clients (and nginx) reach has no metrics ...
    status, body = await get(server.url + "/metrics")
    assert status == 404 and "huddle_" not in body
    # ... and the metrics listener serves nothing but metrics.
    base = url.removesuffix("/metrics")
    for path in ("/", "/healthz", "/socket.io/?EIO=4&transport=polling", "/web/app.js"):
        status, _ = await get(base + path)
        assert status == 404, path


async def test_without_a_metrics_port_there_is_no_metrics_listener() -> None:
    srv, runner = await start_server(make_settings(metrics_port=None))
    try:
        assert metrics_url(srv.app) is None
        status, _ = await get(srv.url + "/metrics")
        assert status == 404
    finally:
        await runner.cleanup()


def test_the_metrics_settings() -> None:
    default = Settings()
    assert default.metrics_host == "127.0.0.1" and default.metrics_port is None
    chosen = Settings.from_env({"HUDDLE_METRICS_PORT": "9100", "HUDDLE_METRICS_HOST": "0.0.0.0"})
    assert (chosen.metrics_host, chosen.metrics_port) == ("0.0.0.0", 9100)
