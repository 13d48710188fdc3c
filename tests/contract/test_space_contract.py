"""One contract for the group space, on a real SQLite file and a real redis-server: what
a member sets or keeps is there after the store is closed and opened again, each member's
records stay theirs, and erasing a member leaves nothing of theirs behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as redis

from chatserver.redis_backend.connection import cluster_client
from chatserver.redis_cluster import ClusterSeeds
from chatserver.space.records import GOALS_PER_MEMBER, Goal, KeptWin, NextSession, Resource
from chatserver.space.redis_space import RedisSpace
from chatserver.space.sqlite_space import SqliteSpace
from chatserver.space.store import GroupSpace
from tests.redis_cluster import RedisClusterProcesses
from tests.redis_server import RedisServer

NOW = 1_800_000_000_000
Opener = Callable[[], GroupSpace]


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens the store afresh each call (the same file or database): a reopen is a restart."""
    if request.param == "sqlite":
        path = tmp_path / "space.sqlite3"
        yield lambda: SqliteSpace(path)
        return
    if request.param == "redis-cluster":
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        cluster.flush()
        seeds = ClusterSeeds.parse(cluster.seeds)
        yield lambda: RedisSpace(cluster_client(seeds))
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    flush = redis.Redis.from_url(server.url)
    await flush.flushdb()
    await flush.aclose()
    yield lambda: RedisSpace(redis.Redis.from_url(server.url))


@pytest.fixture
async def space(opener: Opener) -> AsyncIterator[GroupSpace]:
    store = opener()
    try:
        yield store
    finally:
        await store.close()


def goal(user_id: str = "alex", *, shared: bool = False, at: int = NOW, room: str = "r1") -> Goal:
    return {
        "id": uuid.uuid4().hex,
        "room": room,
        "user_id": user_id,
        "name": user_id.title(),
        "text": f"walk to the post box three times, {at}",
        "shared": shared,
        "set_ms": at,
        "answer": None,
        "answer_note": "",
        "answered_ms": None,
    }


def win(user_id: str = "alex", msg_id: str | None = None, at: int = NOW) -> KeptWin:
    return {
        "id": uuid.uuid4().hex,
        "room": "r1",
        "user_id": user_id,
        "name": user_id.title(),
        "text": "I made it to my niece's birthday 🎂",
        "msg_id": msg_id or uuid.uuid4().hex,
        "kept_ms": at,
    }


def resource(title: str, at: int = NOW, status: str = "shelved") -> Resource:
    return {
        "id": uuid.uuid4().hex,
        "room": "r1",
        "title": title,
        "url": "https://www.nhs.uk/live-well/",
        "note": "",
        "tags": ["pacing"],
        "status": "shelved" if status == "shelved" else "suggested",
        "by_user_id": "sam",
        "by_name": "Sam",
        "created_ms": at,
    }


async def test_everything_kept_is_there_after_a_restart(opener: Opener) -> None:
    store = opener()
    mine, shared = goal(), goal("blake", shared=True)
    kept = win()
    shelf = resource("Pacing, in pictures")
    when: NextSession = {
        "room": "r1",
        "starts_at_ms": NOW + 7 * 86_400_000,
        "time_zone": "Europe/London",
    }
    await store.goal_add(mine)
    await store.goal_add(shared)
    assert await store.win_add(kept)
    await store.resource_put(shelf)
    await store.next_session_set(when, "r1")
    await store.close()

    again = opener()
    try:
        assert await again.goals_of("r1", "alex") == [mine]
        assert await again.goals_shared("r1") == [shared]
        assert await again.wins("r1") == [kept]
        assert await again.resources("r1") == [shelf]
        assert await again.next_session("r1") == when
    finally:
        await again.close()


async def test_a_goal_answered_keeps_its_answer_and_stays_private_unless_shared(
    space: GroupSpace,
) -> None:
    private = goal()
    await space.goal_add(private)
    answered: Goal = {**private, "answer": "partly", "answer_note": "twice", "answered_ms": NOW + 1}
    await space.goal_update(answered)
    assert await space.goal_get("r1", private["id"]) == answered
    assert await space.goals_shared("r1") == []
    assert await space.goals_of("r1", "blake") == []


async def test_goals_come_newest_first_and_a_member_keeps_a_bounded_history(
    space: GroupSpace,
) -> None:
    goals = [goal(at=NOW + i) for i in range(GOALS_PER_MEMBER + 3)]
    for g in goals:
        await space.goal_add(g)
    kept = await space.goals_of("r1", "alex")
    assert [g["id"] for g in kept] == [g["id"] for g in reversed(goals)][:GOALS_PER_MEMBER]


async def test_a_message_is_kept_on_the_wall_once(space: GroupSpace) -> None:
    first = win(msg_id="m1")
    assert await space.win_add(first)
    assert not await space.win_add(win(msg_id="m1", at=NOW + 5))
    assert await space.wins("r1") == [first]
    assert await space.win_remove("r1", first["id"])
    assert not await space.win_remove("r1", first["id"])
    # Withdrawn, the same message may be kept again.
    assert await space.win_add(win(msg_id="m1", at=NOW + 9))


async def test_the_shelf_keeps_its_order_and_an_approved_suggestion_replaces_itself(
    space: GroupSpace,
) -> None:
    first, suggested = resource("Sleep and pain", NOW), resource("Benefits help", NOW + 1, "s")
    await space.resource_put(first)
    await space.resource_put(suggested)
    await space.resource_put({**suggested, "status": "shelved"})
    shelf = await space.resources("r1")
    assert [(r["title"], r["status"]) for r in shelf] == [
        ("Sleep and pain", "shelved"),
        ("Benefits help", "shelved"),
    ]
    assert await space.resource_remove("r1", first["id"])
    assert await space.resource_get("r1", first["id"]) is None


async def test_erasing_a_member_leaves_nothing_of_theirs_and_everything_of_others(
    space: GroupSpace,
) -> None:
    await space.goal_add(goal("alex", shared=True))
    await space.goal_add(goal("alex"))
    await space.win_add(win("alex"))
    theirs_goal, theirs_win = goal("blake", shared=True), win("blake")
    await space.goal_add(theirs_goal)
    await space.win_add(theirs_win)
    data = await space.member_data("r1", "alex")
    assert len(data["goals"]) == 2 and len(data["wins"]) == 1
    assert await space.member_erase("r1", "alex") == 3
    assert await space.member_data("r1", "alex") == {"goals": [], "wins": []}
    assert await space.goals_shared("r1") == [theirs_goal]
    assert await space.wins("r1") == [theirs_win]


async def test_rooms_are_separate_and_a_purge_forgets_one_room(space: GroupSpace) -> None:
    other = goal(room="r2")
    await space.goal_add(goal())
    await space.goal_add(other)
    await space.next_session_set({"room": "r1", "starts_at_ms": NOW, "time_zone": "UTC"}, "r1")
    await space.purge("r1")
    assert await space.goals_of("r1", "alex") == []
    assert await space.next_session("r1") is None
    assert await space.goals_of("r2", "alex") == [other]
