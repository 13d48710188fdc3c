"""A worker's rooms (chatserver/service/delivery.py): a room stays subscribed while a join
is on its way into it, and is let go a while after its last member left."""

from __future__ import annotations

import asyncio
import json
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


def joined(user: str, members: list[str]) -> Delivery:
    """A "joined" as the join script publishes it."""
    who = [{"id": m, "name": m.title(), "role": "member"} for m in members]
    return Delivery("presence", {"room": "r1", "joined": who[members.index(user)], "members": who})


async def test_a_room_filling_up_reaches_its_members_as_one_presence_event() -> None:
    """Twelve arrivals in one window reach each member as one event: the newest member
    list, every arrival in order. Sent one by one, they were twelve events each."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, bea = connection("alex"), connection("bea")
    for conn in (alex, bea):
        rooms.enter(await rooms.open("r1"), conn)
    names = ["alex", "bea"]
    for i in range(12):
        names.append(f"m{i:02d}")
        await bus.publish("r1", joined(names[-1], names))
    # A later delivery follows what the room heard before it, in order.
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))

    got = [json.loads(frame[1:]) for frame in sockets.got["eio-bea"]]
    assert [event for event, _ in got] == ["presence", "notice"]
    presence = got[0][1]
    assert [m["id"] for m in presence["members"]] == names
    arrivals = [c["joined"]["id"] for c in presence["earlier"]] + [presence["joined"]["id"]]
    assert arrivals == names[2:]
    assert sockets.got["eio-alex"] == sockets.got["eio-bea"]


async def test_presence_held_for_a_window_goes_out_by_itself() -> None:
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex = connection("alex")
    rooms.enter(await rooms.open("r1"), alex)
    await bus.publish("r1", joined("bea", ["alex", "bea"]))
    left = {"room": "r1", "left": {"id": "bea", "name": "Bea", "role": "member"}}
    await bus.publish("r1", Delivery("presence", {**left, "members": []}))
    async with asyncio.timeout(2):
        while not sockets.got.get("eio-alex"):
            await asyncio.sleep(DELAY_S)
    [frame] = sockets.got["eio-alex"]
    event, presence = json.loads(frame[1:])
    assert event == "presence" and presence["left"]["id"] == "bea"
    assert presence["earlier"] == [{"joined": {"id": "bea", "name": "Bea", "role": "member"}}]


async def test_a_single_change_is_sent_as_it_was_published_and_not_to_its_joiner() -> None:
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, bea = connection("alex"), connection("bea")
    for conn in (alex, bea):
        rooms.enter(await rooms.open("r1"), conn)
    published = joined("bea", ["alex", "bea"])
    await bus.publish("r1", published)
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))
    assert json.loads(sockets.got["eio-alex"][0][1:]) == ["presence", published.payload]
    assert [json.loads(f[1:])[0] for f in sockets.got["eio-bea"]] == ["notice"]


async def test_a_facilitator_entering_while_presence_is_held_hears_only_what_came_after() -> None:
    """What was held before a socket entered is older than its join ack. A facilitator,
    who sees people arrive, hears only what came after, as unheld; a member, who sees
    only who is here, gets the room's one event, ending with the newest list."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, bea, cara = connection("alex"), connection("bea"), connection("cara")
    sam = Connection("sam", "eio-sam", Claims("sam", "Sam", {"r1": "facilitator"}, 2**40))
    rooms.enter(await rooms.open("r1"), alex)
    await bus.publish("r1", joined("dan", ["alex", "dan"]))  # before Sam's, Bea's join acks
    rooms.enter(await rooms.open("r1"), sam)
    rooms.enter(await rooms.open("r1"), bea)
    await bus.publish("r1", joined("bea", ["alex", "bea", "dan", "sam"]))  # her own
    rooms.enter(await rooms.open("r1"), cara)
    everyone = ["alex", "bea", "cara", "dan", "sam"]
    await bus.publish("r1", joined("cara", everyone))
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))

    def heard(sid: str) -> list[tuple[list[str], list[str]]]:
        events = [json.loads(frame[1:]) for frame in sockets.got[sid]]
        return [
            (
                [c["joined"]["id"] for c in [*p.get("earlier", []), p]],
                [m["id"] for m in p["members"]],
            )
            if e == "presence"
            else ([e], [])
            for e, p in events
        ]

    assert heard("eio-alex") == [(["dan", "bea", "cara"], everyone), (["notice"], [])]
    assert heard("eio-bea") == heard("eio-alex")
    assert heard("eio-sam") == [(["bea", "cara"], everyone), (["notice"], [])]
    assert heard("eio-cara") == [(["notice"], [])]  # the last change is her own arrival


async def test_a_socket_entering_after_all_that_was_held_hears_none_of_it() -> None:
    """Held before Bea entered and nothing after: older than her join ack (a list
    without her), so she does not hear it; Alex does."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, bea = connection("alex"), connection("bea")
    rooms.enter(await rooms.open("r1"), alex)
    await bus.publish("r1", joined("dan", ["alex", "dan"]))
    rooms.enter(await rooms.open("r1"), bea)
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))
    assert [json.loads(f[1:])[0] for f in sockets.got["eio-alex"]] == ["presence", "notice"]
    assert [json.loads(f[1:])[0] for f in sockets.got["eio-bea"]] == ["notice"]


def numbered(user: str, members: list[str], seq: int) -> Delivery:
    """A "joined" as join.lua publishes it: with the room's presence sequence number."""
    plain = joined(user, members)
    return Delivery("presence", plain.payload, seq=seq)


def heard_joins(sockets: Sockets, sid: str) -> list[tuple[list[str], list[str]]]:
    """Per event a socket got: who came (``earlier`` then the event's own) and the member
    list; other events as their name."""
    events = [json.loads(frame[1:]) for frame in sockets.got.get(sid, [])]
    return [
        (
            [c["joined"]["id"] for c in [*p.get("earlier", []), p]],
            [m["id"] for m in p["members"]],
        )
        if e == "presence"
        else ([e], [])
        for e, p in events
    ]


async def test_a_joined_numbered_after_a_sockets_ack_reaches_it_though_heard_before() -> None:
    """Alex's and Bea's joins ran in that order, so Alex's ack lists only Alex; this worker
    heard Bea's "joined" before Alex's ack came back (the reply and the room's channel are
    two connections). Alex still hears of Bea; Cara, whose ack came after both, does not
    hear of either again."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, cara = connection("alex"), connection("cara")
    opened = await rooms.open("r1")
    await bus.publish("r1", numbered("alex", ["alex"], 1))
    await bus.publish("r1", numbered("bea", ["alex", "bea"], 2))
    rooms.enter(opened, alex, presence_seq=1)
    rooms.enter(await rooms.open("r1"), cara, presence_seq=3)
    await bus.publish("r1", numbered("cara", ["alex", "bea", "cara"], 3))
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))

    assert heard_joins(sockets, "eio-alex") == [
        (["cara"], ["alex", "bea", "cara"]),  # Bea's arrival is in the room's list
        (["notice"], []),
    ]
    assert heard_joins(sockets, "eio-cara") == [(["notice"], [])]


async def test_a_facilitator_hears_every_arrival_after_its_ack_wherever_it_was_held() -> None:
    """Sam (a facilitator, here in a second tab: no "joined" of its own) read the members
    before Bea, Dan and Eve came; Bea's arrival was sent to the room before Sam's socket
    entered, Dan's and Eve's are held. Sam hears all three, in order, once."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex = connection("alex")
    sam = Connection("sam", "eio-sam", Claims("sam", "Sam", {"r1": "facilitator"}, 2**40))
    rooms.enter(await rooms.open("r1"), alex, presence_seq=1)
    await bus.publish("r1", numbered("bea", ["alex", "bea", "sam"], 2))
    await bus.publish("r1", Delivery("notice", {"text": "sent"}))  # Bea's arrival goes out
    await bus.publish("r1", numbered("dan", ["alex", "bea", "dan", "sam"], 3))
    await bus.publish("r1", numbered("eve", ["alex", "bea", "dan", "eve", "sam"], 4))
    rooms.enter(await rooms.open("r1"), sam, presence_seq=1)
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))

    everyone = ["alex", "bea", "dan", "eve", "sam"]
    assert heard_joins(sockets, "eio-sam") == [(["bea", "dan", "eve"], everyone), (["notice"], [])]
    assert heard_joins(sockets, "eio-alex") == [
        (["bea"], ["alex", "bea", "sam"]),
        (["notice"], []),
        (["dan", "eve"], everyone),
        (["notice"], []),
    ]


def numbered_left(user: str, members: list[str], seq: int) -> Delivery:
    """A "left" as leave.lua publishes it: numbered with the "joined"."""
    who = [{"id": m, "name": m.title(), "role": "member"} for m in members]
    gone = {"id": user, "name": user.title(), "role": "member"}
    return Delivery("presence", {"room": "r1", "left": gone, "members": who}, seq=seq)


def heard_changes(sockets: Sockets, sid: str) -> list[tuple[list[str], list[str]]]:
    """Per event a socket got: the changes (``earlier`` then the event's own, as
    "+id" for a "joined" and "-id" for a "left") and the member list."""
    events = [json.loads(frame[1:]) for frame in sockets.got.get(sid, [])]
    return [
        (
            [
                f"+{c['joined']['id']}" if "joined" in c else f"-{c['left']['id']}"
                for c in [*p.get("earlier", []), p]
            ],
            [m["id"] for m in p["members"]],
        )
        if e == "presence"
        else ([e], [])
        for e, p in events
    ]


async def test_a_left_numbered_after_a_sockets_ack_reaches_it_though_heard_before() -> None:
    """Alex's ack (number 2) lists Alex and Bea. Bea's "left" (3) went out to the room
    before Alex's socket entered: Alex still hears Bea left, or would show her for good.
    Cara, whose ack (4) came after it, hears neither Bea's leaving nor her own arrival."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex, cara, eve = connection("alex"), connection("cara"), connection("eve")
    rooms.enter(await rooms.open("r1"), eve, presence_seq=1)
    await bus.publish("r1", numbered("alex", ["alex", "bea", "eve"], 2))
    await bus.publish("r1", numbered_left("bea", ["alex", "eve"], 3))
    await bus.publish("r1", Delivery("notice", {"text": "sent"}))  # both go out to Eve
    await bus.publish("r1", numbered("cara", ["alex", "cara", "eve"], 4))
    rooms.enter(await rooms.open("r1"), alex, presence_seq=2)
    rooms.enter(await rooms.open("r1"), cara, presence_seq=4)
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))

    assert heard_changes(sockets, "eio-alex") == [
        (["+cara"], ["alex", "cara", "eve"]),  # the room's event: its list has Bea gone
        (["notice"], []),
    ]
    assert heard_changes(sockets, "eio-cara") == [(["notice"], [])]
    assert heard_changes(sockets, "eio-eve") == [
        (["+alex", "-bea"], ["alex", "eve"]),
        (["notice"], []),
        (["+cara"], ["alex", "cara", "eve"]),
        (["notice"], []),
    ]


async def test_a_facilitator_hears_a_leave_after_its_ack_that_went_out_before_it_entered() -> None:
    """Sam (a facilitator) read the members with Bea in them; Bea's "left" went out to the
    room before Sam's socket entered, and nothing is held now. Sam hears it, alone."""
    bus, sockets = MemoryBackend(), Sockets()
    rooms = local_rooms(bus, sockets)
    alex = connection("alex")
    sam = Connection("sam", "eio-sam", Claims("sam", "Sam", {"r1": "facilitator"}, 2**40))
    rooms.enter(await rooms.open("r1"), alex, presence_seq=2)
    await bus.publish("r1", numbered_left("bea", ["alex", "sam"], 3))
    await bus.publish("r1", Delivery("notice", {"text": "sent"}))
    rooms.enter(await rooms.open("r1"), sam, presence_seq=2)
    await bus.publish("r1", Delivery("notice", {"text": "barrier"}))

    assert heard_changes(sockets, "eio-sam") == [(["-bea"], ["alex", "sam"]), (["notice"], [])]
    assert heard_changes(sockets, "eio-alex") == [
        (["-bea"], ["alex", "sam"]),
        (["notice"], []),
        (["notice"], []),
    ]
