"""The shared rule fixtures (tests/fixtures/) against every backend of the contract suite:
the memory backend (rooms/ applied in process) and the Redis backend (append.lua's guard
and fold, read back with its snapshot script, on a real redis-server)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from chatserver.backend import AppendRefused, Backend, PostGuard
from chatserver.redis_backend import room_keys
from chatserver.redis_backend.connection import cluster_client
from chatserver.redis_cluster import ClusterSeeds
from rooms.entries import message_entry
from rooms.state import mutes_in_force
from tests.contract.test_backend_contract import backend  # noqa: F401  (the parametrized fixture)
from tests.redis_cluster import RedisClusterProcesses
from tests.redis_server import RedisServer
from tests.unit.test_rule_fixtures import GUARD_CASES, STATE_CASES, by_name, meeting_fields


async def replay(impl: Backend, events: list[dict[str, Any]]) -> None:
    """Append the events as the service would (controls append without a guard), each at
    its own time, and check the log gives them the fixture's offsets."""
    for event in events:
        body = {k: v for k, v in event.items() if k != "offset"}
        result = await impl.append(event["room"], body, guard=None, now_ms=event["ts"])
        assert result.entry["offset"] == event["offset"]


async def last_posts(
    impl: Backend, request: pytest.FixtureRequest, carried: dict[str, int]
) -> dict[str, int]:
    """Each sender's last post as the backend keeps it: in the snapshot (memory), or in
    the room's hash of last posts that append.lua's guard reads (Redis)."""
    if impl.name != "redis":
        return carried
    client: redis.Redis | RedisCluster
    if request.node.callspec.params["backend"] == "redis-cluster":
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        client = cluster_client(ClusterSeeds.parse(cluster.seeds))
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        client = redis.Redis.from_url(server.url)
    try:
        raw = await client.hgetall(room_keys("r1")["last"])
    finally:
        await client.aclose()
    return {k.decode(): int(v) for k, v in raw.items()}


@by_name(STATE_CASES)
async def test_room_state_fold(
    backend: Backend,  # noqa: F811
    case: dict[str, Any],
    request: pytest.FixtureRequest,
) -> None:
    await replay(backend, case["events"])
    now = case["now_ms"]
    snap = await backend.snapshot("r1", now)
    state = snap.state
    assert snap.offset == len(case["events"])
    got = {
        "locked": state.locked,
        "paused": state.paused,
        "slow_mode_s": state.slow_mode_s,
        "floor": state.floor,
        "mutes": mutes_in_force(state, now),
        "pinned_ids": list(state.pins),
        "removed": sorted(state.removed),
        "last_post_ms": await last_posts(backend, request, state.last_post_ms),
        **meeting_fields(state),
    }
    assert got == case["expected"]
    pinned = {e["id"]: e["entry"] for e in case["events"] if e.get("kind") == "pinned"}
    assert state.pins == {msg_id: pinned[msg_id] for msg_id in case["expected"]["pinned_ids"]}


@by_name(GUARD_CASES)
async def test_post_guard(backend: Backend, case: dict[str, Any]) -> None:  # noqa: F811
    await replay(backend, case["events"])
    req, now = case["request"], case["now_ms"]
    user = {"id": req["user_id"], "name": req["user_id"].title(), "role": req["role"]}
    entry = message_entry(
        room="r1", msg_id="try", user=user, text=req["text"], ts=now, client_id="cid-try"
    )
    guard = PostGuard(req["user_id"], req["role"])
    if case["expected"] is None:
        result = await backend.append("r1", entry, guard=guard, now_ms=now)
        assert result.entry["offset"] == len(case["events"]) + 1
        return
    with pytest.raises(AppendRefused) as refused:
        await backend.append("r1", entry, guard=guard, now_ms=now)
    refusal = refused.value.refusal
    assert refusal.code == case["expected"]
    wait = case["wait_ms"]
    assert refusal.retry_after_s == (None if wait is None else pytest.approx(wait / 1000))
    # Nothing was logged for the refused post.
    assert (await backend.read("r1", None, 100)).offset == len(case["events"])
