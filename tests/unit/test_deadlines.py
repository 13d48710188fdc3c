"""Deadlines: asyncio.timeout's behaviour on one shared timer."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.deadlines import Deadlines


async def test_an_await_past_its_limit_ends_in_timeout_error() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with deadlines.within(0.05):
            await asyncio.sleep(5)
    assert 0.04 <= loop.time() - started < 1.0


async def test_an_await_within_its_limit_returns_and_leaves_nothing_behind() -> None:
    deadlines = Deadlines()
    async with deadlines.within(0.05) as scope:
        await asyncio.sleep(0)
    assert not scope.expired
    # Long after the limit: the ended scope is not cancelled by the timer.
    await asyncio.sleep(0.1)
    assert asyncio.current_task() is not None
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def test_each_scope_keeps_its_own_limit_on_one_timer() -> None:
    deadlines = Deadlines()
    ended: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def wait(name: str, limit: float, takes: float) -> None:
        try:
            async with deadlines.within(limit):
                await asyncio.sleep(takes)
            ended[name] = -1.0  # finished in time
        except TimeoutError:
            ended[name] = loop.time() - started

    # A long limit first, then shorter ones: the timer moves earlier for them.
    await asyncio.gather(
        wait("long", 2.0, 5), wait("short", 0.05, 5), wait("mid", 0.15, 5), wait("ok", 1.0, 0.01)
    )
    assert ended["ok"] == -1.0
    assert 0.04 <= ended["short"] < ended["mid"] < ended["long"]
    assert ended["mid"] >= 0.14
    assert ended["long"] >= 1.9


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    deadlines = Deadlines()
    entered = asyncio.Event()

    async def body() -> None:
        async with deadlines.within(5.0):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_new_event_loop_starts_afresh() -> None:
    deadlines = Deadlines()

    async def times_out() -> bool:
        try:
            async with deadlines.within(0.02):
                await asyncio.sleep(1)
        except TimeoutError:
            return True
        return False

    assert await times_out()
    other = await asyncio.to_thread(asyncio.run, times_out())
    assert other
    assert await times_out()
