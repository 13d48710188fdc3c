"""Two huddle worker processes on a real Redis Cluster (3 masters, 3 replicas, started by
the tests): members on different workers share one ordered stream per room whatever
shard the room is on, a room's channel lives only on its shard, and a master killed -9
mid-stream costs `unavailable` for a few seconds, then sends resume by themselves, and no
acknowledged message is lost, duplicated or reordered at any member."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatserver.redis_backend.keys import room_keys
from tests.cluster import Member, Worker
from tests.redis_cluster import RedisClusterProcesses
from tests.system.test_cluster import assert_exactly_once_in_order, readyz, settle

# Rooms whose slots are on three different masters of a fresh cluster (slots 0-5460,
# 5461-10922, 10923-16383): checked by the first test.
ROOMS = ("circle-a", "circle-b", "circle-c", "circle-d", "circle-e", "circle-f")


@pytest.fixture(scope="module")
def workers(
    redis_cluster: RedisClusterProcesses, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Worker]]:
    logdir: Path = tmp_path_factory.mktemp("cluster-workers")
    env = {"HUDDLE_REDIS_CLUSTER": redis_cluster.seeds, "HUDDLE_REDIS_WAIT_REPLICAS": "1"}
    started = [Worker(f"w{i + 1}", "", logdir, env) for i in range(2)]
    try:
        for worker in started:
            worker.start()
        yield started
    finally:
        for worker in started:
            worker.stop()


def logs(workers: list[Worker]) -> str:
    return "\n".join(f"--- {w.name}\n{w.log.read_text()[-4000:]}" for w in workers)


async def members_in(workers: list[Worker], room: str, per_worker: int) -> list[Member]:
    members = [
        Member(f"{w.name}-{room}-m{i}", room, f"http://{w.address}", "127.0.0.1")
        for w in workers
        for i in range(per_worker)
    ]
    await asyncio.gather(*(m.start() for m in members))
    return members


# What these prove is about the store (the cluster), not the websocket path: run once.
@pytest.mark.transport_independent
async def test_rooms_on_every_shard_reach_members_on_both_workers(
    redis_cluster: RedisClusterProcesses, workers: list[Worker]
) -> None:
    owners = {room: redis_cluster.master_of(room_keys(room)["meta"]) for room in ROOMS}
    assert len({n.port for n in owners.values()}) == 3, "the rooms span the three masters"
    rooms = {room: await members_in(workers, room, 1) for room in ROOMS}
    everyone = [m for ms in rooms.values() for m in ms]
    try:
        acks = await asyncio.gather(
            *(m.send(f"{m.name} says hello #{i}") for i in range(3) for m in everyone)
        )
        assert all(acks), logs(workers)
        for room, members in rooms.items():
            acked = {i: a for m in members for i, a in m.acked.items()}
            await settle(members, max(a["offset"] for a in acked.values()))
            assert_exactly_once_in_order(members, acked)
            # Published on the room's own shard only (sharded pub/sub): the channel is
            # subscribed on the master that owns the room, and on no other master.
            channel = room_keys(room)["channel"]
            for node in redis_cluster.nodes:
                subscribed = channel in redis_cluster.channels_of(node)
                assert subscribed == (node is owners[room]), (room, node.port)
    finally:
        await asyncio.gather(*(m.close() for m in everyone))


@pytest.mark.transport_independent
async def test_a_master_killed_mid_stream_loses_no_acked_message(
    redis_cluster: RedisClusterProcesses, workers: list[Worker]
) -> None:
    room = "circle-failover"
    members = await members_in(workers, room, 2)
    victim = redis_cluster.master_of(room_keys(room)["meta"])
    # A room on another master: its members must not notice the failover at all.
    elsewhere = next(
        r for r in ROOMS if redis_cluster.master_of(room_keys(r)["meta"]) is not victim
    )
    bystanders = await members_in(workers, elsewhere, 1)
    acked: dict[str, Any] = {}
    acked_at: list[float] = []
    stop = asyncio.Event()

    async def send_steadily(m: Member) -> None:
        i = 0
        while not stop.is_set():
            ack = await m.send(f"{m.name} #{i}", deadline_s=15)
            if ack:
                acked[ack["id"]] = ack
                acked_at.append(time.monotonic())
            i += 1
            await asyncio.sleep(0.05)

    calm: dict[str, Any] = {}

    async def chat_elsewhere(m: Member) -> None:
        i = 0
        while not stop.is_set():
            ack = await m.send(f"{m.name} #{i}", deadline_s=15)
            if ack:
                calm[ack["id"]] = ack
            i += 1
            await asyncio.sleep(0.1)

    try:
        senders = asyncio.gather(
            *(send_steadily(m) for m in members), *(chat_elsewhere(m) for m in bystanders)
        )
        await asyncio.sleep(1.5)
        before = len(acked)
        killed_at = time.monotonic()
        victim.kill()
        # One master down stops its own rooms, not the workers: the load balancer keeps them.
        await asyncio.sleep(0.5)
        assert [await asyncio.to_thread(readyz, w.address) for w in workers] == [200, 200]
        # Sends resume by themselves: acks again within 10 s of the kill.
        deadline = killed_at + 10
        while time.monotonic() < deadline and not any(t > killed_at + 0.2 for t in acked_at):
            await asyncio.sleep(0.05)
        resumed = [t - killed_at for t in acked_at if t > killed_at + 0.2]
        assert resumed, f"no send acked within 10 s of the master's death\n{logs(workers)}"
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(senders, 30)
        assert before > 10 and len(acked) > before
        refused = sum(m.unavailable for m in members)
        assert refused > 0, "sends met the failover as unavailable"
        last = max(a["offset"] for a in acked.values())
        await settle(members, last, timeout_s=20)
        assert_exactly_once_in_order(members, acked)
        assert sum(m.unavailable for m in bystanders) == 0, "another shard's room was refused"
        await settle(bystanders, max(a["offset"] for a in calm.values()))
        assert_exactly_once_in_order(bystanders, calm)
        held = sum(m.held for m in members)
        print(
            f"failover: resumed {resumed[0]:.2f} s after the kill, {refused} refused, {held} held"
        )
    finally:
        stop.set()
        await asyncio.gather(*(m.close() for m in members + bystanders))
        await asyncio.to_thread(redis_cluster.restore)
