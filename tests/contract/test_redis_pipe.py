"""The append hot path's Redis connection: many commands in flight, replies matched in
order, failures surfaced and recovered from (a real redis-server on a free port). The
connection itself (URL, AUTH, SELECT, TLS, a killed server) is tested in test_resp.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import ResponseError

from chatserver.backend import BackendUnavailable
from chatserver.redis_backend import RedisBackend
from chatserver.redis_pipe import CommandPipe
from tests.contract.test_backend_contract import ALEX, msg
from tests.redis_server import RedisServer


@pytest.fixture
async def pipe(redis_server: RedisServer) -> AsyncIterator[CommandPipe]:
    admin = redis.Redis.from_url(redis_server.url)
    await admin.flushdb()
    await admin.aclose()
    p = CommandPipe(redis_server.url)
    try:
        yield p
    finally:
        await p.close()


async def test_many_commands_in_flight_each_get_their_own_reply(pipe: CommandPipe) -> None:
    replies = await asyncio.gather(*(pipe.execute("INCR", f"k{i % 7}") for i in range(700)))
    # Every key was incremented 100 times; each caller saw its own increment.
    for key in range(7):
        mine = sorted(r for i, r in enumerate(replies) if i % 7 == key)
        assert mine == list(range(1, 101))


async def test_commands_run_in_the_order_they_were_issued(pipe: CommandPipe) -> None:
    """Commands issued in one loop turn leave together at its end, on an idle pipe and
    on a busy one: Redis runs them in the order issued."""
    for _ in range(2):
        await asyncio.gather(*(pipe.execute("RPUSH", "order", i) for i in range(50)))
    assert await pipe.execute("LRANGE", "order", 0, -1) == [str(i).encode() for i in range(50)] * 2


async def test_an_error_reply_raises_and_later_replies_stay_matched(pipe: CommandPipe) -> None:
    await pipe.execute("SET", "text", "hello")
    with pytest.raises(ResponseError):
        await pipe.execute("INCR", "text")  # not a number
    assert await pipe.execute("GET", "text") == b"hello"


async def test_a_caller_that_stops_waiting_does_not_shift_replies(pipe: CommandPipe) -> None:
    await pipe.execute("SET", "a", "1")
    slow = asyncio.ensure_future(pipe.execute("BLPOP", "never", "0.3"))
    await asyncio.sleep(0.05)
    slow.cancel()  # gave up, but the reply will still come
    assert await pipe.execute("GET", "a") == b"1"


async def test_a_killed_connection_fails_waiters_and_the_next_command_reconnects(
    pipe: CommandPipe, redis_server: RedisServer
) -> None:
    await pipe.execute("CLIENT", "SETNAME", "huddle-pipe")
    waiting = asyncio.ensure_future(pipe.execute("BLPOP", "never", "1.5"))
    await asyncio.sleep(0.05)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1
    finally:
        await admin.aclose()
    with pytest.raises(BackendUnavailable):
        await asyncio.wait_for(waiting, 2)
    # A new connection, with replies matched to their own commands again.
    assert await pipe.execute("PING") == b"PONG"
    counts = await asyncio.gather(*(pipe.execute("INCR", "after") for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))


async def test_appends_survive_redis_forgetting_its_scripts(redis_server: RedisServer) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    await admin.flushdb()
    backend = RedisBackend(redis_server.url)
    await backend.start()
    try:
        first = await backend.append("r1", msg("before"), guard=None, now_ms=1)
        await admin.script_flush()  # as after a restart
        second = await backend.append("r1", msg("after", ALEX), guard=None, now_ms=2)
        assert (first.entry["offset"], second.entry["offset"]) == (1, 2)
    finally:
        await backend.close()
        await admin.aclose()
