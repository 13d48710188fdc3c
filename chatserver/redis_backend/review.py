"""Raised hands and what facilitators review (held messages, open alerts, the audit
trail) in Redis hashes and lists that expire with the session."""

from __future__ import annotations

from typing import Any

from chatserver.backend import (
    ALERTS_PER_ROOM,
    HELD_PER_ROOM,
    Alert,
    AuditRecord,
    User,
)
from chatserver.redis_backend.codec import (
    _body,
    _hand_queue,
    _oldest_first,
    _pack,
    _unpack,
)
from chatserver.redis_backend.connection import RedisConnection
from chatserver.redis_backend.keys import (
    AUDIT_PER_ROOM,
    DEDUPE_TTL_S,
    EPHEMERAL_TTL_S,
    cid_key,
    room_keys,
)
from rooms.entries import HeldEntry


class RedisReview(RedisConnection):
    async def hands_set(self, room: str, user: User, raised: bool, now_ms: int) -> list[User]:
        key = room_keys(room)["hands"]
        async with self._redis.pipeline(transaction=True) as pipe:
            if raised:
                pipe.hsetnx(key, user["id"], _pack({"user": user, "at": now_ms}))
            else:
                pipe.hdel(key, user["id"])
            pipe.expire(key, EPHEMERAL_TTL_S)
            pipe.hvals(key)
            result = await self._call(pipe.execute())
        return _hand_queue(result[-1])

    async def hands_clear(self, room: str) -> None:
        await self._call(self._redis.delete(room_keys(room)["hands"]))

    async def hands_list(self, room: str) -> list[User]:
        values: list[Any] = await self._call(self._redis.hvals(room_keys(room)["hands"]))
        return _hand_queue(values)

    async def hold_put(self, room: str, entry: HeldEntry) -> None:
        key = room_keys(room)["held"]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, entry["id"], _pack(entry))
            pipe.expire(key, EPHEMERAL_TTL_S)
            if entry["client_id"]:
                # Offset 0 marks "held, not logged": a retry answers like the first attempt,
                # and the append script does not treat it as already appended.
                marker = b"0\n" + _body(entry)
                cid = cid_key(room, entry["user"]["id"], entry["client_id"])
                pipe.set(cid, marker, ex=DEDUPE_TTL_S, nx=True)
            pipe.hlen(key)
            *_, count = await self._call(pipe.execute())
        if count > HELD_PER_ROOM:
            await self._drop_oldest(key, HELD_PER_ROOM)

    async def hold_take(self, room: str, msg_id: str) -> HeldEntry | None:
        entry: HeldEntry | None = await self._take(room_keys(room)["held"], msg_id)
        return entry

    async def _take(self, key: str, field: str) -> Any:
        """Atomically read and delete one field of a hash: exactly one caller gets it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, field)
            pipe.hdel(key, field)
            raw, taken = await self._call(pipe.execute())
        if not taken or raw is None:
            return None
        return _unpack(raw)

    async def holds_list(self, room: str) -> list[HeldEntry]:
        values: list[Any] = await self._call(self._redis.hvals(room_keys(room)["held"]))
        return sorted((_unpack(v) for v in values), key=lambda e: e["ts"])

    async def alert_put(self, room: str, alert: Alert) -> None:
        key = room_keys(room)["alerts"]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, alert["id"], _pack(alert))
            pipe.expire(key, EPHEMERAL_TTL_S)
            pipe.hlen(key)
            *_, count = await self._call(pipe.execute())
        if count > ALERTS_PER_ROOM:
            await self._drop_oldest(key, ALERTS_PER_ROOM)

    async def _drop_oldest(self, key: str, cap: int) -> None:
        """Rare (a flood of alerts or held messages): keep the newest ``cap`` items of a
        hash (by ``ts``, then id). Two workers trimming at once drop a few more than
        needed, never an item newer than the ones kept."""
        values: list[Any] = await self._call(self._redis.hvals(key))
        items = sorted((_unpack(v) for v in values), key=lambda a: (a["ts"], a["id"]))
        stale = [a["id"] for a in items[: len(items) - cap]]
        if stale:
            await self._call(self._redis.hdel(key, *stale))

    async def alert_take(self, room: str, alert_id: str) -> Alert | None:
        alert: Alert | None = await self._take(room_keys(room)["alerts"], alert_id)
        return alert

    async def alerts_list(self, room: str) -> list[Alert]:
        values: list[Any] = await self._call(self._redis.hvals(room_keys(room)["alerts"]))
        return _oldest_first(values)

    async def audit_add(self, room: str, record: AuditRecord) -> None:
        key = room_keys(room)["audit"]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(key, _pack(record))
            pipe.ltrim(key, 0, AUDIT_PER_ROOM - 1)
            pipe.expire(key, self._retention_s)
            await self._call(pipe.execute())

    async def audit_list(self, room: str, limit: int) -> list[AuditRecord]:
        raw: list[Any] = await self._call(
            self._redis.lrange(room_keys(room)["audit"], 0, limit - 1)
        )
        return [_unpack(r) for r in raw]
