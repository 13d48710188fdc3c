"""The backend's connections to Redis and how every command is bounded.

A pool for ordinary commands, and two connections of huddle's own (`chatserver/resp.py`):
the pipelined one for the hot path (the join and the append scripts), and the
subscription (opened by the bus, `bus.py`), which waits indefinitely for messages.
Every command answers within COMMAND_TIMEOUT_S or fails as BackendUnavailable, and
after Redis is found gone (a connection refused or lost, or no reply at all for the
pipe's dead_after_s — not merely one slow reply) further commands fail at once for
FAIL_FAST_S.

On a Redis Cluster (`ClusterSeeds`): redis-py's cluster client for ordinary commands,
one pipelined connection per master for the hot path (`chatserver/redis_cluster.py`),
a script run on its room's slot, and room channels on sharded pub/sub (the scripts'
``PUBLISH`` is ``SPUBLISH`` there)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from importlib import resources
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from chatserver.backend import (
    BackendUnavailable,
    User,
)
from chatserver.deadlines import Deadlines
from chatserver.redis_cluster import ClusterPipe, ClusterSeeds, key_slot
from chatserver.redis_pipe import CommandPipe, ReplicationShort
from chatserver.resp import RedisAddress

RedisTarget = str | ClusterSeeds
"""A Redis URL, or the seed nodes of a Redis Cluster."""

T = TypeVar("T")


# Every command is bounded so a request answers `unavailable` within 2 s, never hangs.
COMMAND_TIMEOUT_S = 1.5
CONNECT_TIMEOUT_S = 1.0
POOL_SIZE = 32
# After a failed command, further commands fail at once for this long, then Redis is tried
# again: requests queued behind a failure answer `unavailable` in time.
FAIL_FAST_S = 0.5
# A join may wait longer for Redis's answer than a send: its member is waiting for the
# room anyway, and in a reconnect storm thousands of joins are answered in turn (a Redis
# that is gone, not slow, still fails it within the pipe's dead_after_s, 2 s).
JOIN_COMMAND_TIMEOUT_S = 4.0
# A command timed out and the hot-path connection has had no reply at all for this long:
# Redis is paused or gone (fail fast), not just busy (fail only that command).
SILENT_S = 1.0


def redis_gone(error: BaseException) -> bool:
    """Whether a failed command says Redis is gone — a connection refused or lost, or no
    reply at all for the pipe's dead_after_s — rather than slow: only then (or, `_silent`,
    when a command timed out on a connection silent for SILENT_S) do the next requests
    fail fast. One reply slower than COMMAND_TIMEOUT_S while Redis keeps answering (a
    reconnect storm's thousands of joins queued on one connection) fails that request
    alone; tripping on it refused hundreds of joins at once (docs/benchmarks.md,
    "Reconnect storm")."""
    if isinstance(error, ReplicationShort):
        return False  # the master answered; its replica was slow
    return isinstance(error, ConnectionError | RedisConnectionError)


def _text(script: AsyncScript) -> str | bytes:
    """A script's source, as registered (always text here)."""
    source = script.script
    return source if isinstance(source, str | bytes) else bytes(source)


def cluster_client(seeds: ClusterSeeds) -> RedisCluster:
    """redis-py's cluster client for ordinary commands, bounded like the pool below; a
    slot whose master is down fails its own commands, not every other slot's."""
    first = seeds.nodes[0]
    return RedisCluster(
        startup_nodes=[ClusterNode(n.host, n.port) for n in seeds.nodes],
        username=first.username,
        password=first.password,
        require_full_coverage=False,
        max_connections=POOL_SIZE,
        socket_timeout=COMMAND_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
    )


class RedisConnection:
    def __init__(
        self,
        target: RedisTarget,
        *,
        history_size: int = 1000,
        retention_s: int = 7 * 24 * 3600,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        self._history_size = history_size
        self._retention_s = retention_s
        # An append is acknowledged once this many replicas have it (WAIT, one per loop
        # turn's appends): a master dying after the ack cannot take it with it.
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self._redis: aioredis.Redis | RedisCluster
        self._pipe: CommandPipe | None = None
        self._cluster: ClusterPipe | None = None
        self._address: RedisAddress | None = None
        if isinstance(target, ClusterSeeds):
            self._redis = cluster_client(target)
            self._cluster = ClusterPipe(
                target, connect_timeout_s=CONNECT_TIMEOUT_S, fail_fast_s=FAIL_FAST_S
            )
        else:
            # A bounded pool that waits for a free connection (up to the command timeout)
            # instead of refusing: under load, requests queue briefly rather than fail, and
            # a worker never opens thousands of connections.
            pool = aioredis.BlockingConnectionPool.from_url(
                target,
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
            self._address = RedisAddress.from_url(target)
            # Appends, the hot path, share one connection (huddle's own, not the pool's)
            # with many commands in flight.
            self._pipe = CommandPipe(self._address, connect_timeout_s=CONNECT_TIMEOUT_S)
        lua = resources.files("chatserver") / "lua"
        # The scripts publish a room's entries on its channel: sharded on a cluster.
        prelude = f"local PUBLISH = '{'SPUBLISH' if self._cluster else 'PUBLISH'}'\n"
        self._append = self._redis.register_script(prelude + (lua / "append.lua").read_text())
        # These share room.lua's functions: the epoch, the log read, presence.
        shared = prelude + (lua / "room.lua").read_text()
        self._read = self._redis.register_script(shared + (lua / "read.lua").read_text())
        self._snapshot = self._redis.register_script(shared + (lua / "snapshot.lua").read_text())
        self._presence = self._redis.register_script(shared + (lua / "presence.lua").read_text())
        self._join = self._redis.register_script(shared + (lua / "join.lua").read_text())
        self._leave = self._redis.register_script(shared + (lua / "leave.lua").read_text())
        self._rollback = self._redis.register_script((lua / "rollback.lua").read_text())
        self._connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._local_presence: dict[str, dict[str, User]] = {}
        self._failing_until = 0.0
        # Every command's bound on one timer (chatserver/deadlines.py), not a timer each.
        self._deadlines = Deadlines()

    async def ready(self) -> bool:
        if not self._connected.is_set():
            return False
        try:
            await self._call(self._redis.ping())
        except BackendUnavailable:
            return False
        return True

    async def _call(self, awaitable: Awaitable[T], timeout_s: float | None = None) -> T:
        loop = self._loop
        if loop is None or loop.is_closed():
            # Asked once, not per command (on Python 3.11 a getpid system call each).
            loop = self._loop = asyncio.get_running_loop()
        # One Redis: after a failure every command fails fast. A cluster's masters fail
        # one by one (ClusterPipe does it per master), and one failing is not all.
        if loop.time() < self._failing_until:
            # Redis just failed: answer at once rather than let every queued request wait
            # out its own timeout (a member's second send would take twice as long).
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise BackendUnavailable("Redis is unavailable")
        try:
            # Not wait_for (a task per command) nor asyncio.timeout (a timer per command).
            async with self._deadlines.within(timeout_s or COMMAND_TIMEOUT_S):
                return await awaitable
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            if self._cluster is None and (redis_gone(exc) or self._silent(exc)):
                self._failing_until = loop.time() + FAIL_FAST_S
            raise BackendUnavailable(str(exc) or type(exc).__name__) from exc

    def _silent(self, error: BaseException) -> bool:
        """A command that ran out of time while Redis has not answered anything at all on
        the hot-path connection for SILENT_S: paused or gone, not busy."""
        return (
            isinstance(error, TimeoutError)
            and self._pipe is not None
            and self._pipe.silent_s() >= SILENT_S
        )

    async def _run(
        self, script: AsyncScript, keys: list[str], args: list[Any], *, replicated: bool = False
    ) -> Any:
        """A script on the hot-path connection (the join and the append), on a cluster
        that of its room's master. ``replicated``: acknowledged once `_wait_replicas`
        replicas have its writes (if any are asked for)."""
        command: tuple[Any, ...] = ("EVALSHA", script.sha, len(keys), *keys, *args)
        wait = self._wait_replicas if replicated else 0
        if self._cluster is not None:
            cluster, slot = self._cluster, key_slot(keys[0])
            try:
                return await cluster.execute(
                    slot, *command, wait_replicas=wait, wait_ms=self._wait_timeout_ms
                )
            except ResponseError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                # This master has not seen the script (new, or a replica promoted).
                await cluster.execute(slot, "SCRIPT", "LOAD", _text(script))
                return await cluster.execute(
                    slot, *command, wait_replicas=wait, wait_ms=self._wait_timeout_ms
                )
        assert self._pipe is not None
        try:
            if wait:
                return await self._pipe.execute_replicated(wait, self._wait_timeout_ms, *command)
            return await self._pipe.execute(*command)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis lost its scripts (a restart): load it, then run it again.
            await self._pipe.execute("SCRIPT", "LOAD", _text(script))
            if wait:
                return await self._pipe.execute_replicated(wait, self._wait_timeout_ms, *command)
            return await self._pipe.execute(*command)

    async def _publish(self, channel: str, frame: bytes) -> None:
        """One frame on a room's channel (sharded, on its master, on a cluster)."""
        if self._cluster is not None:
            await self._call(self._cluster.execute(key_slot(channel), "SPUBLISH", channel, frame))
        else:
            await self._call(self._redis.publish(channel, frame))

    async def _close_connections(self) -> None:
        if self._pipe is not None:
            await self._pipe.close()
        if self._cluster is not None:
            await self._cluster.close()
        await self._redis.aclose()
        if isinstance(self._redis, aioredis.Redis):
            # A pool handed to the client is not the client's to close: close it here.
            await self._redis.connection_pool.disconnect()
