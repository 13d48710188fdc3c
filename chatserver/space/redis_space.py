"""The group space in Redis: one hash per kind per room, JSON values, no TTL (the space
outlives the room's log on purpose; DESIGN §7). Every key carries the room's ``{room}``
hash tag, so on a Redis Cluster a room's space lives on the shard that has its log."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from chatserver.space.records import (
    GOALS_PER_MEMBER,
    RESOURCES_PER_ROOM,
    WINS_PER_ROOM,
    Goal,
    KeptWin,
    MemberData,
    NextSession,
    Resource,
)


def space_keys(room: str) -> dict[str, str]:
    base = f"huddle:{{{room}}}:space"
    return {
        "goals": f"{base}:goals",
        "wins": f"{base}:wins",
        "win_msgs": f"{base}:win_msgs",
        "resources": f"{base}:resources",
        "next": f"{base}:next",
    }


class RedisSpace:
    """Writes that must not race (a win kept once per message, caps) go in MULTI/EXEC on
    one room's keys; reads are single commands."""

    def __init__(self, client: aioredis.Redis | RedisCluster) -> None:
        self._redis = client

    async def goal_add(self, goal: Goal) -> None:
        k = space_keys(goal["room"])
        await self._redis.hset(k["goals"], goal["id"], _dump(goal))
        mine = await self.goals_of(goal["room"], goal["user_id"])
        extra = [g["id"] for g in mine[GOALS_PER_MEMBER:]]
        if extra:
            await self._redis.hdel(k["goals"], *extra)

    async def goal_get(self, room: str, goal_id: str) -> Goal | None:
        found: Goal | None = _load(await self._redis.hget(space_keys(room)["goals"], goal_id))
        return found

    async def goal_update(self, goal: Goal) -> None:
        key = space_keys(goal["room"])["goals"]
        # Only a goal still kept is replaced (an erased member's goal stays gone).
        if await self._redis.hexists(key, goal["id"]):
            await self._redis.hset(key, goal["id"], _dump(goal))

    async def goals_of(self, room: str, user_id: str) -> list[Goal]:
        goals: list[Goal] = [g for g in await self._all(room, "goals") if g["user_id"] == user_id]
        return sorted(goals, key=lambda g: (g["set_ms"], g["id"]), reverse=True)

    async def goals_shared(self, room: str) -> list[Goal]:
        goals: list[Goal] = [g for g in await self._all(room, "goals") if g["shared"]]
        return sorted(goals, key=lambda g: (g["set_ms"], g["id"]), reverse=True)

    async def win_add(self, win: KeptWin) -> bool:
        k = space_keys(win["room"])
        if not await self._redis.hsetnx(k["win_msgs"], win["msg_id"], win["id"]):
            return False
        await self._redis.hset(k["wins"], win["id"], _dump(win))
        wall = await self.wins(win["room"])
        for old in wall[WINS_PER_ROOM:]:
            await self._remove_win(old)
        return True

    async def win_get(self, room: str, win_id: str) -> KeptWin | None:
        found: KeptWin | None = _load(await self._redis.hget(space_keys(room)["wins"], win_id))
        return found

    async def win_remove(self, room: str, win_id: str) -> bool:
        win = await self.win_get(room, win_id)
        return win is not None and await self._remove_win(win)

    async def _remove_win(self, win: KeptWin) -> bool:
        k = space_keys(win["room"])
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(k["wins"], win["id"])
            pipe.hdel(k["win_msgs"], win["msg_id"])
            removed, _ = await pipe.execute()
        return bool(removed)

    async def wins(self, room: str) -> list[KeptWin]:
        wins: list[KeptWin] = await self._all(room, "wins")
        return sorted(wins, key=lambda w: (w["kept_ms"], w["id"]), reverse=True)

    async def resource_put(self, resource: Resource) -> None:
        key = space_keys(resource["room"])["resources"]
        await self._redis.hset(key, resource["id"], _dump(resource))
        shelf = await self.resources(resource["room"])
        extra = [r["id"] for r in shelf[: max(0, len(shelf) - RESOURCES_PER_ROOM)]]
        if extra:
            await self._redis.hdel(key, *extra)

    async def resource_get(self, room: str, resource_id: str) -> Resource | None:
        found: Resource | None = _load(
            await self._redis.hget(space_keys(room)["resources"], resource_id)
        )
        return found

    async def resource_remove(self, room: str, resource_id: str) -> bool:
        return bool(await self._redis.hdel(space_keys(room)["resources"], resource_id))

    async def resources(self, room: str) -> list[Resource]:
        shelf: list[Resource] = await self._all(room, "resources")
        return sorted(shelf, key=lambda r: (r["created_ms"], r["id"]))

    async def next_session_set(self, session: NextSession | None, room: str) -> None:
        key = space_keys(room)["next"]
        if session is None:
            await self._redis.delete(key)
        else:
            await self._redis.set(key, _dump(session))

    async def next_session(self, room: str) -> NextSession | None:
        found: NextSession | None = _load(await self._redis.get(space_keys(room)["next"]))
        return found

    async def member_data(self, room: str, user_id: str) -> MemberData:
        wins = [w for w in await self.wins(room) if w["user_id"] == user_id]
        return {"goals": await self.goals_of(room, user_id), "wins": wins}

    async def member_erase(self, room: str, user_id: str) -> int:
        data = await self.member_data(room, user_id)
        k = space_keys(room)
        removed = 0
        if data["goals"]:
            removed += int(await self._redis.hdel(k["goals"], *[g["id"] for g in data["goals"]]))
        for win in data["wins"]:
            removed += int(await self._remove_win(win))
        return removed

    async def purge(self, room: str) -> None:
        await self._redis.delete(*space_keys(room).values())

    async def close(self) -> None:
        await self._redis.aclose()

    async def _all(self, room: str, kind: str) -> list[Any]:
        values = await self._redis.hvals(space_keys(room)[kind])
        return [json.loads(v) for v in values]


def _dump(record: object) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _load(raw: bytes | str | None) -> Any:
    return None if raw is None else json.loads(raw)
