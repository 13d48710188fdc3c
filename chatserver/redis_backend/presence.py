"""Presence in Redis: who is in a room across workers, refreshed by each worker for its
own connections, so a dead worker's members expire and are reported gone."""

from __future__ import annotations

import asyncio
from typing import Any

from chatserver.backend import (
    EVERYONE,
    BackendUnavailable,
    Leaving,
    PresenceGone,
    User,
)
from chatserver.clock import now_ms
from chatserver.redis_backend.codec import (
    _hand_queue,
    _users,
)
from chatserver.redis_backend.connection import RedisConnection, RedisTarget
from chatserver.redis_backend.keys import (
    PRESENCE_REFRESH_S,
    PRESENCE_TTL_MS,
    room_keys,
)
from rooms.presence import in_member_order


class RedisPresence(RedisConnection):
    def __init__(self, target: RedisTarget, **options: Any) -> None:
        super().__init__(target, **options)
        self._refresh_task: asyncio.Task[None] | None = None
        self._presence_gone: list[PresenceGone] = []

    async def presence_add(self, room: str, user: User, conn_id: str) -> bool:
        now = now_ms()
        first = await self._call(
            self._presence(
                keys=[room_keys(room)["presence"]],
                args=[
                    "add",
                    now,
                    now + PRESENCE_TTL_MS,
                    conn_id,
                    user["id"],
                    user["name"],
                    user["role"],
                ],
            )
        )
        self._local_presence.setdefault(room, {})[conn_id] = user
        return bool(first)

    async def presence_remove(self, room: str, user_id: str, conn_id: str) -> bool:
        self._forget_local(room, conn_id)
        now = now_ms()
        last = await self._call(
            self._presence(
                keys=[room_keys(room)["presence"]],
                args=["remove", now, now + PRESENCE_TTL_MS, conn_id, user_id],
            )
        )
        return bool(last)

    async def presence_leave(self, room: str, user: User, conn_id: str) -> Leaving:
        self._forget_local(room, conn_id)
        lowered, left = await self._leave_script(room, conn_id, [user])
        return Leaving(bool(left), None if lowered is None else _hand_queue(lowered))

    async def presence_announce_gone(self, room: str, users: list[User]) -> None:
        if users:
            await self._leave_script(room, "", users)

    async def _leave_script(
        self, room: str, conn_id: str, users: list[User]
    ) -> tuple[list[bytes] | None, int]:
        k = room_keys(room)
        args: list[Any] = [now_ms(), k["channel"], room, EVERYONE, conn_id]
        for user in users:
            args += [user["id"], user["name"], user["role"]]
        lowered, left = await self._call(
            self._leave(keys=[k["meta"], k["presence"], k["hands"]], args=args)
        )
        return lowered, int(left)

    def _forget_local(self, room: str, conn_id: str) -> None:
        """The connection is no longer refreshed by this worker."""
        local = self._local_presence.get(room)
        if local is not None:
            local.pop(conn_id, None)
            if not local:
                del self._local_presence[room]

    async def presence_members(self, room: str) -> list[User]:
        now = now_ms()
        flat = await self._call(
            self._presence(
                keys=[room_keys(room)["presence"]], args=["list", now, now + PRESENCE_TTL_MS]
            )
        )
        users = _users(flat)
        return in_member_order(users)

    async def _refresh_presence_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(PRESENCE_REFRESH_S)
            for room, conns in list(self._local_presence.items()):
                args: list[Any] = ["refresh", 0, 0]
                for conn_id, user in conns.items():
                    args += [conn_id, user["id"], user["name"], user["role"]]
                now = now_ms()
                args[1], args[2] = now, now + PRESENCE_TTL_MS
                try:
                    flat = await self._call(
                        self._presence(keys=[room_keys(room)["presence"]], args=args)
                    )
                except BackendUnavailable:
                    if self._cluster is None:
                        break  # Redis is away: the next period tries every room again
                    continue  # one master away: the rooms on the others still refresh
                gone = _users(flat)
                for handler in self._presence_gone if gone else ():
                    await handler(room, gone)

    def on_presence_gone(self, handler: PresenceGone) -> None:
        self._presence_gone.append(handler)

    async def facilitators(self, room: str) -> frozenset[str]:
        """The roster join.lua keeps (``:facilitators``, expiring with the room)."""
        ids: Any = await self._call(self._redis.smembers(room_keys(room)["facilitators"]))
        return frozenset(i.decode() for i in ids)
