"""One contract for the organiser's store, on a real SQLite file and a real redis-server:
what an organiser made is there after a reopen, an invitation lets in exactly as many
people as it says and none once expired or revoked, a removed member is on the revocation
list every worker polls, and the audit keeps who did what."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as redis

from chatserver.organise.records import FORGOTTEN, Group, Invitation, Member, invitation_state
from chatserver.organise.redis_store import RedisOrganiserStore
from chatserver.organise.sqlite_store import SqliteOrganiserStore
from chatserver.organise.store import OrganiserStore
from chatserver.redis_backend.connection import cluster_client
from chatserver.redis_cluster import ClusterSeeds
from tests.redis_cluster import RedisClusterProcesses
from tests.redis_server import RedisServer

pytestmark = pytest.mark.transport_independent

NOW = 1_800_000_000_000
HOUR = 3_600_000
Opener = Callable[[], OrganiserStore]


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    if request.param == "sqlite":
        path = tmp_path / "organise.sqlite3"
        yield lambda: SqliteOrganiserStore(path)
        return
    if request.param == "redis-cluster":
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        cluster.flush()
        seeds = ClusterSeeds.parse(cluster.seeds)
        yield lambda: RedisOrganiserStore(cluster_client(seeds))
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    flush = redis.Redis.from_url(server.url)
    await flush.flushdb()
    await flush.aclose()
    yield lambda: RedisOrganiserStore(redis.Redis.from_url(server.url))


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[OrganiserStore]:
    opened = opener()
    try:
        yield opened
    finally:
        await opened.close()


def group(room: str = "tuesday", name: str = "Tuesday evening group") -> Group:
    return {
        "room": room,
        "name": name,
        "time_zone": "Europe/London",
        "agreement": "What is said here stays here.",
        "crisis_locale": "en-GB",
        "policy": "default",
        "schedule": "Tuesdays 19:00-20:30",
        "contact": "Write to groups@example.org",
        "created_ms": NOW,
        "updated_ms": NOW,
    }


def invitation(room: str = "tuesday", *, uses: int = 1, expires_ms: int = NOW + HOUR) -> Invitation:
    return {
        "id": "inv-" + uuid.uuid4().hex[:12],
        "room": room,
        "role": "member",
        "label": "for the spring intake",
        "code_hash": uuid.uuid4().hex,
        "uses_allowed": uses,
        "uses": 0,
        "expires_ms": expires_ms,
        "revoked_ms": None,
        "created_ms": NOW,
        "created_by": "organiser",
    }


def member(name: str = "Kit") -> Member:
    return {
        "id": "m-" + uuid.uuid4().hex[:12],
        "room": "",
        "user_id": "u-" + uuid.uuid4().hex[:12],
        "name": name,
        "role": "member",
        "invitation_id": "",
        "joined_ms": NOW,
        "last_seen_ms": NOW,
        "removed_ms": None,
    }


async def test_groups_invitations_and_members_survive_a_reopen(opener: Opener) -> None:
    first = opener()
    await first.group_put(group())
    await first.group_put(group("monday", "A Monday group"))
    inv = invitation()
    await first.invitation_add(inv)
    kit = member()
    assert await first.redeem(inv["code_hash"], kit, NOW) == "ok"
    await first.credential_set("passphrase", "scrypt$hash")
    await first.audit_add(
        {
            "ts": NOW,
            "actor": "organiser",
            "action": "group_created",
            "room": "tuesday",
            "target": "",
        }
    )
    await first.close()

    again = opener()
    try:
        assert [g["name"] for g in await again.groups()] == [
            "A Monday group",
            "Tuesday evening group",
        ]
        assert await again.group_get("tuesday") == group()
        kept = await again.invitation_by_code(inv["code_hash"])
        assert kept is not None and kept["uses"] == 1 and kept["id"] == inv["id"]
        joined = await again.members("tuesday")
        assert [(m["name"], m["invitation_id"], m["role"]) for m in joined] == [
            ("Kit", inv["id"], "member")
        ]
        assert await again.credential_get("passphrase") == "scrypt$hash"
        assert (await again.audit("tuesday", 10))[0]["action"] == "group_created"
    finally:
        await again.close()


async def test_an_invitation_lets_in_as_many_people_as_it_says(store: OrganiserStore) -> None:
    await store.group_put(group())
    inv = invitation(uses=2)
    await store.invitation_add(inv)
    outcomes = await asyncio.gather(
        *(store.redeem(inv["code_hash"], member(), NOW) for _ in range(5))
    )
    assert sorted(outcomes) == ["ok", "ok", "used_up", "used_up", "used_up"]
    assert len(await store.members("tuesday")) == 2
    assert await store.redeem("no-such-code", member(), NOW) == "unknown"


async def test_expired_and_revoked_invitations_let_nobody_in(store: OrganiserStore) -> None:
    late = invitation(expires_ms=NOW)
    await store.invitation_add(late)
    assert await store.redeem(late["code_hash"], member(), NOW) == "expired"
    taken_back = invitation(uses=10)
    await store.invitation_add(taken_back)
    assert await store.redeem(taken_back["code_hash"], member(), NOW) == "ok"
    revoked = await store.invitation_revoke(taken_back["id"], NOW + 5)
    assert revoked is not None and revoked["revoked_ms"] == NOW + 5
    again = await store.invitation_revoke(taken_back["id"], NOW + 9)
    assert again is not None and again["revoked_ms"] == NOW + 5
    assert invitation_state(again, NOW + 10) == "revoked"
    assert await store.redeem(taken_back["code_hash"], member(), NOW + 10) == "revoked"
    assert await store.invitation_revoke("inv-unknown", NOW) is None
    assert {i["id"] for i in await store.invitations("tuesday")} == {late["id"], taken_back["id"]}


async def test_a_removed_member_is_on_the_revocation_list(store: OrganiserStore) -> None:
    inv = invitation(uses=3)
    await store.invitation_add(inv)
    kit, lee = member("Kit"), member("Lee")
    for person in (kit, lee):
        assert await store.redeem(inv["code_hash"], person, NOW) == "ok"
    await store.member_seen(kit["id"], NOW + 50)
    seen = await store.member_get(kit["id"])
    assert seen is not None and seen["last_seen_ms"] == NOW + 50
    removed = await store.member_remove(kit["id"], NOW + 100)
    assert removed is not None and removed["removed_ms"] == NOW + 100
    assert await store.member_remove(kit["id"], NOW + 200) is None
    assert [r["member_id"] for r in await store.revocations_since(NOW + 100)] == [kit["id"]]
    assert await store.revocations_since(NOW + 101) == []
    still = await store.member_get(lee["id"])
    assert still is not None and still["removed_ms"] is None
    # Only a removed member's name can be forgotten; their place stays.
    assert await store.member_forget(lee["id"]) is None
    forgotten = await store.member_forget(kit["id"])
    assert forgotten is not None and forgotten["name"] == FORGOTTEN
    kept = await store.member_get(kit["id"])
    assert kept is not None and kept["name"] == FORGOTTEN and kept["removed_ms"] == NOW + 100


async def test_the_audit_is_newest_first_and_per_group(store: OrganiserStore) -> None:
    for i, room in enumerate(["a", "b", "a"]):
        await store.audit_add(
            {"ts": NOW + i, "actor": "organiser", "action": f"act{i}", "room": room, "target": ""}
        )
    assert [e["action"] for e in await store.audit("a", 10)] == ["act2", "act0"]
    assert [e["action"] for e in await store.audit(None, 2)] == ["act2", "act1"]
    await store.credential_set("setup", "x")
    await store.credential_set("setup", None)
    assert await store.credential_get("setup") is None
