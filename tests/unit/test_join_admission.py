"""Joins in flight are bounded, recovery goes first, and new joins are shed before
recovering ones (chatserver/service/admission.py)."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.errors import ServiceError
from chatserver.service.admission import JoinAdmission


async def hold(
    gate: JoinAdmission, name: str, order: list[str], release: asyncio.Event, *, recovering: bool
) -> None:
    async with gate.admitted(recovering=recovering):
        order.append(name)
        await release.wait()


async def test_at_most_the_limit_is_in_flight_and_recovery_goes_first() -> None:
    gate = JoinAdmission(2, first_joins_queued=100)
    order: list[str] = []
    release = asyncio.Event()
    tasks = [
        asyncio.create_task(hold(gate, f"early{i}", order, release, recovering=False))
        for i in range(2)
    ]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(hold(gate, "first", order, release, recovering=False)))
    tasks.append(asyncio.create_task(hold(gate, "back", order, release, recovering=True)))
    await asyncio.sleep(0.01)
    assert order == ["early0", "early1"] and gate.in_flight == 2 and gate.waiting == 2
    release.set()
    await asyncio.gather(*tasks)
    # The member coming back was let in before the first join that had waited longer.
    assert order == ["early0", "early1", "back", "first"]
    assert gate.in_flight == 0 and gate.waiting == 0


async def test_a_long_queue_sheds_first_joins_and_keeps_recovery() -> None:
    gate = JoinAdmission(1, first_joins_queued=2)
    order: list[str] = []
    release = asyncio.Event()
    tasks = [asyncio.create_task(hold(gate, "in", order, release, recovering=True))]
    await asyncio.sleep(0)
    tasks += [
        asyncio.create_task(hold(gate, f"back{i}", order, release, recovering=True))
        for i in range(2)
    ]
    await asyncio.sleep(0.01)
    with pytest.raises(ServiceError) as refused:
        async with gate.admitted(recovering=False):
            pass
    assert refused.value.code == "unavailable" and refused.value.retry_after_s
    assert gate.shed == 1
    # Recovery still queues, however long the line.
    tasks.append(asyncio.create_task(hold(gate, "back-late", order, release, recovering=True)))
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["in", "back0", "back1", "back-late"]


async def test_a_join_waiting_too_long_is_refused_and_a_cancelled_one_frees_its_place() -> None:
    gate = JoinAdmission(1, wait_s=0.05)
    release = asyncio.Event()
    order: list[str] = []
    holder = asyncio.create_task(hold(gate, "in", order, release, recovering=True))
    await asyncio.sleep(0)
    with pytest.raises(ServiceError) as refused:
        async with gate.admitted(recovering=True):
            pass
    assert refused.value.code == "unavailable"
    waiter = asyncio.create_task(hold(gate, "cancelled", order, release, recovering=True))
    await asyncio.sleep(0.01)
    waiter.cancel()
    release.set()
    await holder
    assert gate.in_flight == 0 and gate.waiting == 0
    async with gate.admitted(recovering=False):
        assert gate.in_flight == 1


async def test_each_waiting_join_gives_up_after_its_own_wait_in_either_line() -> None:
    gate = JoinAdmission(1, wait_s=0.1)
    release = asyncio.Event()
    order: list[str] = []
    holder = asyncio.create_task(hold(gate, "in", order, release, recovering=True))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def wait(recovering: bool) -> float:
        with pytest.raises(ServiceError) as refused:
            async with gate.admitted(recovering=recovering):
                pass
        assert refused.value.code == "unavailable" and refused.value.retry_after_s
        return loop.time() - started

    first = asyncio.create_task(wait(False))
    await asyncio.sleep(0.04)
    back = asyncio.create_task(wait(True))
    # The first join queued first and gives up first, though recovery is let in first.
    waited_first, waited_back = await first, await back
    assert 0.09 <= waited_first < waited_back and 0.13 <= waited_back < 1
    assert gate.waiting == 0
    release.set()
    await holder
    async with gate.admitted(recovering=False):
        assert gate.in_flight == 1
