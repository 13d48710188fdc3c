"""The organiser's records in Redis, shared by every worker: a few hashes under one
``{organise}`` hash tag (on a Redis Cluster they live on one shard, so each script below
touches keys of one slot). No TTL: groups and invitations last until an organiser acts.
Each group has sets of its invitations' and members' ids, so its page reads only its own
records however many groups the deployment has.
Redeeming an invitation, revoking one and removing a member are each one Lua script, so
two workers letting in the last person on a single-use link cannot both succeed."""

from __future__ import annotations

import json
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from chatserver.organise.records import (
    AUDIT_KEPT,
    FORGOTTEN,
    AuditEntry,
    Group,
    Invitation,
    Member,
    Redemption,
    Revocation,
)

PREFIX: Final = "huddle:{organise}"
CREDENTIALS: Final = f"{PREFIX}:credentials"
GROUPS: Final = f"{PREFIX}:groups"
INVITATIONS: Final = f"{PREFIX}:invitations"
CODES: Final = f"{PREFIX}:codes"
MEMBERS: Final = f"{PREFIX}:members"
REVOKED: Final = f"{PREFIX}:revoked"
AUDIT: Final = f"{PREFIX}:audit"


def room_invitations(room: str) -> str:
    """The ids of one group's invitations (so a group's page reads only its own)."""
    return f"{PREFIX}:room:{room}:invitations"


def room_members(room: str) -> str:
    return f"{PREFIX}:room:{room}:members"


# KEYS: invitations, codes, members, the room's member ids; ARGV: code hash, member JSON,
# now, the room (read before, so the room's key can be named; an invitation's room never
# changes)
_REDEEM = """
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return 'unknown' end
local raw = redis.call('HGET', KEYS[1], id)
if not raw then return 'unknown' end
local inv = cjson.decode(raw)
if inv.room ~= ARGV[4] then return 'unknown' end
local now = tonumber(ARGV[3])
if inv.revoked_ms ~= cjson.null then return 'revoked' end
if inv.expires_ms <= now then return 'expired' end
if inv.uses >= inv.uses_allowed then return 'used_up' end
inv.uses = inv.uses + 1
redis.call('HSET', KEYS[1], id, cjson.encode(inv))
local member = cjson.decode(ARGV[2])
member.invitation_id = inv.id
member.room = inv.room
member.role = inv.role
redis.call('HSET', KEYS[3], member.id, cjson.encode(member))
redis.call('SADD', KEYS[4], member.id)
return 'ok'
"""

# KEYS: invitations; ARGV: id, now
_REVOKE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local inv = cjson.decode(raw)
if inv.revoked_ms == cjson.null then
  inv.revoked_ms = tonumber(ARGV[2])
  raw = cjson.encode(inv)
  redis.call('HSET', KEYS[1], ARGV[1], raw)
end
return raw
"""

# KEYS: members, revoked; ARGV: id, now
_REMOVE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local member = cjson.decode(raw)
if member.removed_ms ~= cjson.null then return false end
member.removed_ms = tonumber(ARGV[2])
raw = cjson.encode(member)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return raw
"""

# KEYS: members; ARGV: id, the name a forgotten one gets
_FORGET = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local member = cjson.decode(raw)
if member.removed_ms == cjson.null then return false end
member.name = ARGV[2]
raw = cjson.encode(member)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return raw
"""

# KEYS: members; ARGV: id, now
_SEEN = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local member = cjson.decode(raw)
if member.last_seen_ms < tonumber(ARGV[2]) then
  member.last_seen_ms = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
end
return 1
"""


class RedisOrganiserStore:
    def __init__(self, client: aioredis.Redis | RedisCluster) -> None:
        self._redis = client
        self._redeem = client.register_script(_REDEEM)
        self._revoke = client.register_script(_REVOKE)
        self._remove = client.register_script(_REMOVE)
        self._seen = client.register_script(_SEEN)
        self._forget = client.register_script(_FORGET)

    async def credential_get(self, name: str) -> str | None:
        raw = await self._redis.hget(CREDENTIALS, name)
        return None if raw is None else _text(raw)

    async def credential_set(self, name: str, value: str | None) -> None:
        if value is None:
            await self._redis.hdel(CREDENTIALS, name)
        else:
            await self._redis.hset(CREDENTIALS, name, value)

    async def group_put(self, group: Group) -> None:
        await self._redis.hset(GROUPS, group["room"], _dump(group))

    async def group_get(self, room: str) -> Group | None:
        found: Group | None = _load(await self._redis.hget(GROUPS, room))
        return found

    async def groups(self) -> list[Group]:
        found: list[Group] = [_load(v) for v in (await self._redis.hvals(GROUPS))]
        return sorted(found, key=lambda g: (g["name"].casefold(), g["room"]))

    async def invitation_add(self, invitation: Invitation) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(INVITATIONS, invitation["id"], _dump(invitation))
            pipe.hset(CODES, invitation["code_hash"], invitation["id"])
            pipe.sadd(room_invitations(invitation["room"]), invitation["id"])
            await pipe.execute()

    async def invitation_get(self, invitation_id: str) -> Invitation | None:
        found: Invitation | None = _load(await self._redis.hget(INVITATIONS, invitation_id))
        return found

    async def invitation_by_code(self, code_hash: str) -> Invitation | None:
        invitation_id = await self._redis.hget(CODES, code_hash)
        if invitation_id is None:
            return None
        return await self.invitation_get(_text(invitation_id))

    async def invitations(self, room: str) -> list[Invitation]:
        mine: list[Invitation] = await self._bodies(INVITATIONS, room_invitations(room))
        return sorted(mine, key=lambda i: (i["created_ms"], i["id"]), reverse=True)

    async def invitation_revoke(self, invitation_id: str, now_ms: int) -> Invitation | None:
        raw = await self._revoke(keys=[INVITATIONS], args=[invitation_id, now_ms])
        found: Invitation | None = _load(raw)
        return found

    async def redeem(self, code_hash: str, member: Member, now_ms: int) -> Redemption:
        invitation = await self.invitation_by_code(code_hash)
        if invitation is None:
            return "unknown"
        room = invitation["room"]
        outcome = _text(
            await self._redeem(
                keys=[INVITATIONS, CODES, MEMBERS, room_members(room)],
                args=[code_hash, _dump(member), now_ms, room],
            )
        )
        if outcome == "ok":
            kept = await self.member_get(member["id"])
            if kept is not None:
                member["invitation_id"], member["room"], member["role"] = (
                    kept["invitation_id"],
                    kept["room"],
                    kept["role"],
                )
        result: Redemption = outcome  # type: ignore[assignment]
        return result

    async def _bodies(self, records: str, index: str) -> list[Any]:
        """The records (of hash ``records``) whose ids are in the set ``index``."""
        found_ids: list[Any] = list(await self._redis.smembers(index))
        if not found_ids:
            return []
        return [_load(raw) for raw in await self._redis.hmget(records, found_ids) if raw]

    async def member_get(self, member_id: str) -> Member | None:
        found: Member | None = _load(await self._redis.hget(MEMBERS, member_id))
        return found

    async def members(self, room: str) -> list[Member]:
        mine: list[Member] = await self._bodies(MEMBERS, room_members(room))
        return sorted(mine, key=lambda m: (m["joined_ms"], m["id"]))

    async def member_seen(self, member_id: str, now_ms: int) -> None:
        await self._seen(keys=[MEMBERS], args=[member_id, now_ms])

    async def member_remove(self, member_id: str, now_ms: int) -> Member | None:
        found: Member | None = _load(
            await self._remove(keys=[MEMBERS, REVOKED], args=[member_id, now_ms])
        )
        return found

    async def member_forget(self, member_id: str) -> Member | None:
        found: Member | None = _load(
            await self._forget(keys=[MEMBERS], args=[member_id, FORGOTTEN])
        )
        return found

    async def revocations_since(self, after_ms: int) -> list[Revocation]:
        found_ids: list[Any] = await self._redis.zrangebyscore(REVOKED, after_ms, "+inf")
        ids = [_text(i) for i in found_ids]
        if not ids:
            return []
        found: list[Revocation] = []
        for raw in await self._redis.hmget(MEMBERS, ids):
            member: Member | None = _load(raw)
            if member is not None and member["removed_ms"] is not None:
                found.append(
                    {
                        "member_id": member["id"],
                        "room": member["room"],
                        "user_id": member["user_id"],
                        "ts": member["removed_ms"],
                    }
                )
        return sorted(found, key=lambda r: r["ts"])

    async def audit_add(self, entry: AuditEntry) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(AUDIT, _dump(entry))
            pipe.ltrim(AUDIT, 0, AUDIT_KEPT - 1)
            await pipe.execute()

    async def audit(self, room: str | None, limit: int) -> list[AuditEntry]:
        every: list[AuditEntry] = [_load(v) for v in await self._redis.lrange(AUDIT, 0, -1)]
        mine = [e for e in every if room is None or e["room"] == room]
        return mine[:limit]

    async def close(self) -> None:
        await self._redis.aclose()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _dump(record: object) -> str:
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _load(raw: bytes | str | None) -> Any:
    return None if raw is None else json.loads(raw)
