"""The backend's connections to Redis and how every command is bounded.

A pool for ordinary commands, and two connections of huddle's own (`chatserver/resp.py`):
the pipelined one for the hot path (the join and the append scripts), and the
subscription (opened by the bus, `bus.py`), which waits indefinitely for messages.
Every command answers within COMMAND_TIMEOUT_S or fails as BackendUnavailable, and
after a failure further commands fail at once for FAIL_FAST_S."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from importlib import resources
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from chatserver.backend import (
    BackendUnavailable,
    User,
)
from chatserver.redis_pipe import CommandPipe
from chatserver.resp import RedisAddress

T = TypeVar("T")


# Every command is bounded so a request answers `unavailable` within 2 s, never hangs.
COMMAND_TIMEOUT_S = 1.5
CONNECT_TIMEOUT_S = 1.0
POOL_SIZE = 32
# After a failed command, further commands fail at once for this long, then Redis is tried
# again: requests queued behind a failure answer `unavailable` in time.
FAIL_FAST_S = 0.5


class RedisConnection:
    def __init__(
        self, url: str, *, history_size: int = 1000, retention_s: int = 7 * 24 * 3600
    ) -> None:
        self._history_size = history_size
        self._retention_s = retention_s
        # A bounded pool that waits for a free connection (up to the command timeout)
        # instead of refusing: under load, requests queue briefly rather than fail, and a
        # worker never opens thousands of connections.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=COMMAND_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
        )
        self._redis = aioredis.Redis(
            connection_pool=pool, retry=Retry(NoBackoff(), 0), health_check_interval=0
        )
        # Read once (a URL huddle's own connections cannot honour fails here, at
        # start-up) for the hot path's pipe and the bus's subscription.
        self._address = RedisAddress.from_url(url)
        # Appends, the hot path, share one connection (huddle's own, not the pool's) with
        # many commands in flight.
        self._pipe = CommandPipe(self._address, connect_timeout_s=CONNECT_TIMEOUT_S)
        lua = resources.files("chatserver") / "lua"
        self._append = self._redis.register_script((lua / "append.lua").read_text())
        # These share room.lua's functions: the epoch, the log read, presence.
        shared = (lua / "room.lua").read_text()
        self._read = self._redis.register_script(shared + (lua / "read.lua").read_text())
        self._snapshot = self._redis.register_script(shared + (lua / "snapshot.lua").read_text())
        self._presence = self._redis.register_script(shared + (lua / "presence.lua").read_text())
        self._join = self._redis.register_script(shared + (lua / "join.lua").read_text())
        self._connected = asyncio.Event()
        self._closed = False
        self._local_presence: dict[str, dict[str, User]] = {}
        self._failing_until = 0.0

    async def ready(self) -> bool:
        if not self._connected.is_set():
            return False
        try:
            await self._call(self._redis.ping())
        except BackendUnavailable:
            return False
        return True

    async def _call(self, awaitable: Awaitable[T]) -> T:
        loop = asyncio.get_running_loop()
        if loop.time() < self._failing_until:
            # Redis just failed: answer at once rather than let every queued request wait
            # out its own timeout (a member's second send would take twice as long).
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise BackendUnavailable("Redis is unavailable")
        try:
            # asyncio.timeout, not wait_for: no extra task per command on the hot path.
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            self._failing_until = loop.time() + FAIL_FAST_S
            raise BackendUnavailable(str(exc) or type(exc).__name__) from exc

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """A script on the hot-path connection (the join and the append)."""
        try:
            return await self._pipe.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis lost its scripts (a restart): redis-py loads it and runs it.
            return await script(keys=keys, args=args)
