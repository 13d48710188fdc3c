"""The worker's overload measure, and what a member sees when the worker sheds load."""

from __future__ import annotations

import asyncio
import time

from chatserver.app import SERVICE_KEY
from chatserver.looplag import LoopLag
from tests.conftest import Connect, Server


async def test_a_blocked_loop_shows_as_lag_that_then_fades() -> None:
    lag = LoopLag(interval_s=0.01, decay=0.5)
    lag.start()
    try:
        await asyncio.sleep(0.05)
        assert lag.lag_s < 0.05
        time.sleep(0.3)  # noqa: ASYNC251 - the whole worker stalls, as under overload
        for _ in range(20):  # the timer fires as soon as the loop runs again
            await asyncio.sleep(0.001)
            if lag.lag_s > 0.2:
                break
        assert lag.lag_s > 0.2
        await asyncio.sleep(0.3)
        assert lag.lag_s < 0.05
    finally:
        await lag.stop()


async def test_an_overloaded_worker_refuses_new_messages_kindly(
    server: Server, connect: Connect
) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    service = server.app[SERVICE_KEY]
    await service.loop_lag.stop()
    service.loop_lag.late_streak = service.loop_lag.sustained_samples  # sustained overload
    refused = await alex.send("r1", "hello?")
    assert refused["error"]["code"] == "unavailable" and refused["error"]["retry_after_s"] == 1.0
    service.loop_lag.late_streak = 0
    assert (await alex.send("r1", "hello again"))["ok"]


async def test_one_stall_is_not_overload_but_a_lagging_loop_is() -> None:
    lag = LoopLag(interval_s=0.01, overload_s=0.05, sustained_samples=3)
    lag.start()
    try:
        time.sleep(0.1)  # noqa: ASYNC251 - a single stall
        await asyncio.sleep(0.02)
        assert not lag.overloaded
        for _ in range(6):  # the loop keeps falling behind
            time.sleep(0.08)  # noqa: ASYNC251
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        assert lag.overloaded
        await asyncio.sleep(0.05)
        assert not lag.overloaded
    finally:
        await lag.stop()
