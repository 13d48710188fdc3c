"""Members joining one room at the same moment on two workers all see each other.

A room's first join on a worker subscribes the room and then runs the join script: the
script publishes the joiner's "joined" and reads the member list. Each joiner must end up
with every other joiner in its member list, from its ack or from a "presence" event after
it: a worker that ran its first join's script before its subscription was confirmed would
not hear the "joined" of someone whose script ran in between, and its joiner would never
learn they came.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from aiohttp import web

from tests.conftest import Client, Server, make_settings, make_token, open_client, start_server
from tests.redis_server import RedisServer

ROOM = "crowd"
PER_WORKER = 8


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[tuple[Server, Server]]:
    flush = redis.Redis.from_url(redis_server.url)
    await flush.flushdb()
    await flush.aclose()
    runners: list[web.AppRunner] = []
    try:
        a, ra = await start_server(make_settings(redis_url=redis_server.url))
        runners.append(ra)
        b, rb = await start_server(make_settings(redis_url=redis_server.url))
        runners.append(rb)
        yield a, b
    finally:
        for runner in runners:
            await runner.cleanup()


def members_now(ack: dict[str, Any], client: Client) -> set[str]:
    """Who the client shows as in the room: its ack's members, then each presence event's
    (a socket hears no presence before its join ack)."""
    latest = ack["room"]["members"]
    for event in client.got("presence"):
        latest = event["members"]
    return {m["id"] for m in latest}


@pytest.mark.parametrize("rounds", range(3))
async def test_joining_together_on_two_workers_everyone_sees_everyone(
    workers: tuple[Server, Server], rounds: int
) -> None:
    names = [f"m{i}" for i in range(2 * PER_WORKER)]
    clients = [
        await open_client(workers[i % 2].url, make_token(name, {ROOM: "member"}))
        for i, name in enumerate(names)
    ]
    try:
        acks = await asyncio.gather(*(c.call("join", {"room": ROOM}) for c in clients))
        assert all(ack["ok"] for ack in acks), acks
        # A barrier: a message posted after every join is delivered after every presence
        # event those joins published (one channel, in order; held presence goes first).
        assert (await clients[0].send(ROOM, "everyone here?"))["ok"]
        for c in clients:
            await c.wait_for("message", lambda m: m["text"] == "everyone here?")
        missing = {
            name: sorted(set(names) - members_now(ack, c))
            for name, ack, c in zip(names, acks, clients, strict=True)
        }
        assert not any(missing.values()), missing
    finally:
        for c in clients:
            if c.sio.connected:
                await c.sio.disconnect()
