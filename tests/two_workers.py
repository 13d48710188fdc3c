"""A room with facilitator Sam on worker A and members Alex and Bea on worker B.

Parametrized over the embedded default ("memory": one worker, A and B the same app, its
rooms in a SQLite file of its own, HUDDLE_EMBEDDED_STORE's default) and
the Redis backend with two workers (two apps on their own ports sharing the private
redis-server of tests/redis_server.py), with real python-socketio clients. Test modules
get it as the `room` fixture (tests/conftest.py) and type it with `Room` from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as redis
from aiohttp import web

from tests.conftest import Client, make_settings, make_token, open_client, start_server
from tests.redis_server import RedisServer


@dataclass
class Room:
    """Sam facilitates from worker A; Alex and Bea are members on worker B."""

    sam: Client
    alex: Client
    bea: Client
    urls: tuple[str, str]
    apps: tuple[web.Application, web.Application]
    extra: list[Client] = field(default_factory=list)

    async def member(self, user: str, worker: int = 1) -> Client:
        client = await open_client(self.urls[worker], make_token(user, {"r1": "member"}))
        self.extra.append(client)
        return client


@contextlib.asynccontextmanager
async def open_room(request: pytest.FixtureRequest) -> AsyncIterator[Room]:
    """The room for `request.param` ("memory" or "redis-two-workers"); all closed after."""
    runners: list[web.AppRunner] = []
    if request.param == "memory":
        server, runner = await start_server(make_settings())
        runners.append(runner)
        servers = (server, server)
    else:
        rs: RedisServer = request.getfixturevalue("redis_server")
        flush = redis.Redis.from_url(rs.url)
        await flush.flushdb()
        await flush.aclose()
        a, ra = await start_server(make_settings(redis_url=rs.url))
        b, rb = await start_server(make_settings(redis_url=rs.url))
        runners += [ra, rb]
        servers = (a, b)
    sam = await open_client(servers[0].url, make_token("sam", {"r1": "facilitator"}, name="Sam"))
    alex = await open_client(servers[1].url, make_token("alex", {"r1": "member"}, name="Alex"))
    bea = await open_client(servers[1].url, make_token("bea", {"r1": "member"}, name="Bea"))
    for c in (sam, alex, bea):
        assert (await c.call("join", {"room": "r1"}))["ok"]
    r = Room(sam, alex, bea, (servers[0].url, servers[1].url), (servers[0].app, servers[1].app))
    try:
        yield r
    finally:
        for c in (sam, alex, bea, *r.extra):
            if c.sio.connected:
                await c.sio.disconnect()
        for runner in runners:
            await runner.cleanup()
