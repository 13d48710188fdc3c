"""A round's turn timer outlives the worker that started it: real worker processes on one
redis-server; the facilitator's worker is killed with SIGKILL mid-round, and the turn
times out once, on the surviving workers (both of which see it due)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import Worker
from tests.conftest import Client, make_token, open_client
from tests.redis_server import RedisServer

# Worker processes (tests/cluster.py) run with the default websocket path whatever
# HUDDLE_WS_FAST_PATH says: CI's second run, with the fast path off, would repeat this
# module unchanged, so it runs once.
pytestmark = pytest.mark.transport_independent


@pytest.fixture(scope="module")
def workers() -> Iterator[list[Worker]]:
    logdir = Path(tempfile.mkdtemp(prefix="huddle-meeting-"))
    redis = RedisServer(appendonly=False)
    redis.start()
    started = [Worker(f"w{i + 1}", redis.url, logdir) for i in range(3)]
    try:
        # Started side by side: each waits for its own /readyz.
        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(lambda w: w.start(ready_timeout_s=60), started))
        yield started
    finally:
        for worker in started:
            worker.stop()
        redis.cleanup()


async def client(worker: Worker, user: str, role: str = "member") -> Client:
    token = make_token(user, {"circle": role}, name=user.title())
    c = await open_client(f"http://{worker.address}", token)
    assert (await c.call("join", {"room": "circle"}))["ok"]
    return c


def timed_out(e: dict[str, Any]) -> bool:
    return e["kind"] == "turn" and e.get("reason") == "timed_out"


async def test_a_turn_times_out_once_after_the_worker_that_started_the_round_is_killed(
    workers: list[Worker],
) -> None:
    first, second, third = workers
    sam = await client(first, "sam", "facilitator")
    alex = await client(first, "alex")
    bea = await client(second, "bea")
    cara = await client(third, "cara")
    clients = [sam, alex, bea, cara]
    try:
        assert (await sam.call("session_start", {"room": "circle"}))["ok"]
        for member in (alex, bea, cara):  # the round's order: as they joined the session
            await member.wait_for("room_event", lambda e: e["kind"] == "session_started")
            assert (await member.call("agree", {"room": "circle"}))["ok"]
        ack = await sam.call("round_start", {"room": "circle", "share_s": 2, "order": "join"})
        assert ack["ok"]
        began = await bea.wait_for("room_event", lambda e: e["kind"] == "round_started")
        assert [s["id"] for s in began["meeting"]["round"]["order"]] == ["alex", "bea", "cara"]
        first.kill()  # the facilitator's worker, and Alex's, whose turn it is
        # Alex's turn ends on its timer, appended by a surviving worker (both see it due).
        moved = await bea.wait_for("room_event", timed_out, timeout=6)
        assert moved["meeting"]["turn"] == "bea" and moved["by"]["role"] == "system"
        said = await bea.send("circle", "My turn: a rough week, but I paced myself.")
        assert said["ok"]
        await cara.wait_for("message", lambda m: m["id"] == said["id"])
        assert (await cara.send("circle", "waiting"))["error"]["code"] == "not_your_turn"
        assert (await bea.call("turn_done", {"room": "circle"}))["ok"]
        await cara.wait_for("room_event", lambda e: e.get("reason") == "done")
        mine = await cara.send("circle", "Check-in: a 5 today.")
        # Barrier: Bea sees Cara's message only after every earlier entry in the log.
        await bea.wait_for("message", lambda m: m["id"] == mine["id"])
        for member in (bea, cara):
            assert len([e for e in member.got("room_event") if timed_out(e)]) == 1
    finally:
        for c in clients:
            if c.sio.connected:
                await c.sio.disconnect()
