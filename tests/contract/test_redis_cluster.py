"""The Redis backend on a real Redis Cluster (3 masters, 3 replicas, started by the tests)
when the cluster changes under it: a slot migrated to another master while messages flow
(ASK followed; an append refused at once while its slot is split — Redis's TRYAGAIN — then
MOVED followed, and the subscription following the slot), and a failover that lost
entries a worker had already delivered (a rollback: the room starts a new epoch, and no
listener is given two different entries under one offset of one epoch)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from chatserver.backend import BackendUnavailable, Delivery, JoinQuery
from chatserver.redis_backend import RedisBackend, room_keys
from chatserver.redis_cluster import ClusterPipe, ClusterSeeds, key_slot
from rooms.recovery import Since
from tests.contract.test_backend_contract import ALEX, NOW, msg
from tests.redis_cluster import RedisClusterProcesses


@pytest.fixture
async def workers(
    redis_cluster: RedisClusterProcesses,
) -> AsyncIterator[tuple[RedisBackend, RedisBackend]]:
    redis_cluster.flush()
    seeds = ClusterSeeds.parse(redis_cluster.seeds)
    a, b = RedisBackend(seeds), RedisBackend(seeds)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def append_until_accepted(backend: RedisBackend, room: str, text: str) -> int:
    """Append, retrying `unavailable` as a client does (same client_id), for up to 15 s."""
    entry = msg(text, room=room)
    deadline = time.monotonic() + 15
    while True:
        try:
            result = await backend.append(room, entry, guard=None, now_ms=NOW)
            return int(result.entry["offset"])
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def texts(got: list[Delivery]) -> list[str]:
    return [d.payload["text"] for d in got if d.event == "message"]


async def test_a_slot_migrating_and_moved_is_followed_by_commands_and_subscriptions(
    redis_cluster: RedisClusterProcesses, workers: tuple[RedisBackend, RedisBackend]
) -> None:
    a, b = workers
    room = "circle-moving"
    got: list[Delivery] = []
    await b.subscribe(room, got.append)
    assert await append_until_accepted(a, room, "before") == 1
    source = redis_cluster.master_of(room_keys(room)["meta"])
    target = next(n for n in redis_cluster.masters() if n is not source)
    slot = key_slot(room_keys(room)["meta"])
    source_id, target_id = source.node_id(), target.node_id()
    try:
        assert target.command("CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id) == "+OK\r\n"
        assert source.command("CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id) == "+OK\r\n"
        # Every key of the room moves; the slot is still the source's: commands for keys
        # it no longer has are answered ASK, and must be sent to the target after ASKING.
        keys = source.keys_in_slot(slot)
        assert keys
        reply = source.command(
            "MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", *keys
        )
        assert reply == "+OK\r\n", reply
        # A command whose keys are all on the target is answered there (ASK followed).
        pipe = ClusterPipe(ClusterSeeds.parse(redis_cluster.seeds), connect_timeout_s=1.0)
        try:
            assert await pipe.execute(slot, "HGET", room_keys(room)["meta"], "offset") == b"1"
        finally:
            await pipe.close()
        # An append's keys are never all there (its client_id's key is new): Redis answers
        # TRYAGAIN until the slot is moved, and the sender is told `unavailable` at once.
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="TRYAGAIN"):
            await a.append(room, msg("while migrating", room=room), guard=None, now_ms=NOW)
        assert time.monotonic() - started < 1.0
        for node in redis_cluster.masters():
            node.command("CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
        # Now MOVED for the slot, and Redis tells subscribers on the source it moved.
        assert await append_until_accepted(a, room, "after") == 2
        assert await append_until_accepted(b, room, "after, from b") == 3
        await until(lambda: len(texts(got)) >= 3)
        assert texts(got) == ["before", "after", "after, from b"]
        assert [d.offset for d in got if d.event == "message"] == [1, 2, 3]
        channel = room_keys(room)["channel"]
        await until(lambda: channel in redis_cluster.channels_of(target))
        assert channel not in redis_cluster.channels_of(source)
    finally:
        # Give the slot back, so the other tests find the cluster as it was made.
        for node in redis_cluster.masters():
            node.command("CLUSTER", "SETSLOT", str(slot), "STABLE")
        keys = target.keys_in_slot(slot)
        if keys:
            target.command(
                "MIGRATE", "127.0.0.1", str(source.port), "", "0", "5000", "REPLACE", "KEYS", *keys
            )
        for node in redis_cluster.masters():
            node.command("CLUSTER", "SETSLOT", str(slot), "NODE", source_id)
        await asyncio.to_thread(redis_cluster.wait_ok)


async def test_a_failover_that_lost_delivered_entries_starts_a_new_epoch(
    redis_cluster: RedisClusterProcesses, workers: tuple[RedisBackend, RedisBackend]
) -> None:
    a, b = workers
    room = "circle-rollback"
    got: list[Delivery] = []
    await b.subscribe(room, got.append)
    assert await append_until_accepted(a, room, "one") == 1
    epoch = (await a.read(room, None, 0)).epoch
    master = redis_cluster.master_of(room_keys(room)["meta"])
    await asyncio.to_thread(redis_cluster.wait_replicas_in_sync)
    try:
        # Stop the master's replica, cut its link, append two entries it will never
        # receive (b delivers them), kill the master and let the replica go on: it takes
        # over without them.
        replica = redis_cluster.replica_of(master)
        replica.pause()
        try:
            master.command("CLIENT", "KILL", "TYPE", "replica")
            await a.append(room, msg("two (lost)", room=room), guard=None, now_ms=NOW)
            await a.append(room, msg("three (lost)", room=room), guard=None, now_ms=NOW)
            master.kill()
        finally:
            replica.resume()
        await until(lambda: len(texts(got)) >= 3)
        assert await append_until_accepted(a, room, "four") == 2
        await until(lambda: any(d.event == "reset" for d in got), timeout_s=15)
        # b told its members to start the room over, after the lost entries: they read it
        # again from the log, where offset 2 is "four" now (delivered live too only if it
        # was appended after the new epoch began, and then after the reset).
        events = [d.event for d in got]
        assert texts(got)[:3] == ["one", "two (lost)", "three (lost)"]
        assert texts(got[: events.index("reset")]) == ["one", "two (lost)", "three (lost)"]
        assert texts(got[events.index("reset") :]) in ([], ["four"])
        read = await a.read(room, None, 0)
        assert read.epoch != epoch and read.offset == 2
        page = await a.read(room, None, 10)
        assert [e["text"] for e in page.entries if "text" in e] == ["one", "four"]
        # A member rejoining with the old epoch is told why the page starts afresh.
        view = await b.enter(
            room,
            JoinQuery(user=ALEX, conn_id="c-rejoin", since=Since(3, epoch), page=10, now_ms=NOW),
        )
        assert view.read.rolled_back_from == epoch and not view.read.recovered
        # From here on the room carries on in its new epoch, live.
        assert await append_until_accepted(a, room, "five") == 3
        await until(lambda: "five" in texts(got))
        assert [d.offset for d in got if d.event == "message"][-1] == 3
    finally:
        await asyncio.to_thread(redis_cluster.restore)
