"""The HTTP side of the app: web client, health, readiness and metrics."""

from __future__ import annotations

import aiohttp

from chatserver.app import metrics_url
from tests.conftest import Connect, Server, make_settings


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_web_client_is_served(server: Server) -> None:
    status, ctype, body = await get(server.url + "/")
    assert status == 200 and ctype.startswith("text/html") and "<script" in body
    status, ctype, body = await get(server.url + "/vendor/socket.io.esm.min.js")
    assert status == 200 and "javascript" in ctype and len(body) > 10_000
    status, _, _ = await get(server.url + "/web/app.js")
    assert status == 200
    for hidden in ("/web/../pyproject.toml", "/web/package.json", "/web/node_modules/x.js"):
        status, _, _ = await get(server.url + hidden)
        assert status == 404, hidden


async def test_health_and_readiness(server: Server) -> None:
    status, _, body = await get(server.url + "/healthz")
    assert status == 200 and '"ok": true' in body
    status, _, body = await get(server.url + "/readyz")
    assert status == 200 and '"backend": "sqlite"' in body
    wanted = "fast" if make_settings().ws_fast_path == "on" else "fallback"
    assert f'"ws_path": "{wanted}"' in body


async def test_metrics_count_what_happens(server: Server, connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    await alex.send("r1", "hello")
    await alex.send("r1", "x" * 3000)
    # On the metrics listener (tests/integration/test_metrics_listener.py).
    status, ctype, body = await get(metrics_url(server.app) or "")
    assert status == 200 and ctype.startswith("text/plain")
    lines = dict(
        line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#")
    )
    assert float(lines["huddle_connections"]) == 1
    assert float(lines["huddle_rooms"]) == 1
    assert float(lines["huddle_messages_in_total"]) == 1
    assert float(lines['huddle_refusals_total{code="too_long"}']) == 1
    assert float(lines['huddle_moderation_verdicts_total{rule="shape.too_long"}']) == 1
    assert float(lines["huddle_deliveries_total"]) >= 1
    assert float(lines["huddle_append_seconds_count"]) == 1
    assert float(lines["huddle_fanout_seconds_count"]) == 1
