"""A worker's rooms (chatserver/service/delivery.py): a room stays subscribed while a join
is on its way into it, and is let go a while after its last member left."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from chatserver.auth import Claims
from chatserver.backend import Delivery
from chatserver.fanout import Fanout, Frame, Route
from chatserver.memory_backend import MemoryBackend
from chatserver.metrics import Metrics
from chatserver.service.clock import ServiceClock
from chatserver.service.delivery import Connection, LocalRooms
from chatserver.service.tasks import TaskSet

DELAY_S = 0.02


class Sockets(Fanout):
    """What reached each socket (by Engine.IO sid)."""

    def __init__(self) -> None:
        super().__init__(None, queue_limit=100, drop=lambda sid, discard: None)
        self.got: dict[str, list[str]] = {}

    def send(self, eio_sids: Iterable[str], frame: Frame) -> int:
        sids = list(eio_sids)
        for sid in sids:
            self.got.setdefault(sid, []).append(frame.text)
        return len(sids)

    def route(self, eio_sids: Iterable[str]) -> Route:
        return Route([], list(eio_sids))

    def send_route(self, route: Route, frame: Frame) -> int:
        return self.send(route.polled, frame)


def connection(name: str) -> Connection:
    return Connection(name, f"eio-{name}", Claims(name, name.title(), {"r1": "member"}, 2**40))


def local_rooms(bus: MemoryBackend, sockets: Sockets) -> LocalRooms:
    return LocalRooms(
        bus,
        sockets,
        metrics=Metrics(),
        clock=ServiceClock(),
        tasks=TaskSet(),
        unsubscribe_delay_s=DELAY_S,
    )


async def test_a_join_on_its_way_keeps_the_room_its_last_member_left() -> None:
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, bea = connection("alex"), connection("bea")
    rooms.enter(await rooms.open("r1"), alex)
    rooms.leave(alex, "r1")  # the last member here: the room is let go after DELAY_S ...
    joining = await rooms.open("r1")  # ... unless Bea's join, opened now,
    await asyncio.sleep(5 * DELAY_S)  # reads the backend for longer than that
    rooms.enter(joining, bea)

    await bus.publish("r1", Delivery("notice", {"text": "hello"}))
    assert sockets.got.get("eio-bea") == ['2["notice",{"text":"hello"}]']
    assert rooms.rooms["r1"] is joining


async def test_a_join_that_gives_up_lets_the_room_go() -> None:
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    local = await rooms.open("r1")
    rooms.abandon(local)  # refused: nobody is in the room or on the way
    async with asyncio.timeout(2):
        while "r1" in rooms.rooms:
            await asyncio.sleep(DELAY_S)
    await bus.publish("r1", Delivery("notice", {"text": "hello"}))
    assert sockets.got == {}


async def test_two_joins_on_their_way_one_giving_up_keeps_the_room_for_the_other() -> None:
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    first, second = await rooms.open("r1"), await rooms.open("r1")
    assert first is second
    rooms.abandon(first)
    await asyncio.sleep(5 * DELAY_S)
    bea = connection("bea")
    rooms.enter(second, bea)
    await bus.publish("r1", Delivery("notice", {"text": "still here"}))
    assert sockets.got.get("eio-bea") == ['2["notice",{"text":"still here"}]']
