"""The Redis backend: many workers share rooms through Redis (docs/design.md).

    connection  the connections to Redis; every command bounded, failing fast
    keys        a room's keys (one hash tag per room) and their lifetimes
    codec       entries, state and records as stored, and back
    log         RoomLog and Entrance: the append and join scripts, reads, snapshots
    bus         RoomBus: pub/sub per room, delivered in offset order, gaps repaired
    presence    Presence: across workers, with expiry for a dead worker's members
    review      Hands and ReviewStore: raised hands, held messages, alerts, audit

May import chatserver.backend, clock, ids, redis_pipe, redis_cluster, resp and rooms/;
nothing of the service or the transport."""

from __future__ import annotations

import asyncio
import contextlib

from chatserver.redis_backend.bus import RedisBus
from chatserver.redis_backend.codec import _body, state_op
from chatserver.redis_backend.keys import room_keys
from chatserver.redis_backend.presence import RedisPresence
from chatserver.redis_backend.review import RedisReview
from chatserver.redis_cluster import keep_refreshing

__all__ = ["RedisBackend", "_body", "room_keys", "state_op"]


class RedisBackend(RedisBus, RedisPresence, RedisReview):
    """Every backend interface, on one Redis (or Redis Cluster) shared by the workers."""

    name = "redis"
    _slots_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._listen_task = asyncio.get_running_loop().create_task(self._listen_forever())
        self._refresh_task = asyncio.get_running_loop().create_task(
            self._refresh_presence_forever()
        )
        if self._cluster is not None:
            self._slots_task = asyncio.get_running_loop().create_task(
                keep_refreshing(self._cluster.slots)
            )
        # Do not fail start-up when Redis is briefly away: readyz reports it meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 3.0)

    async def close(self) -> None:
        self._closed = True
        for task in (self._listen_task, self._refresh_task, self._slots_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._close_connections()
