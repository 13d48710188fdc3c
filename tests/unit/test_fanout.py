"""The fan-out's own encoding (byte for byte what python-socketio would send), and a room's
route (its recipients resolved once) delivering what a send to each would."""

from __future__ import annotations

import asyncio
from typing import Any

import engineio.packet
import pytest
import socketio.packet

from chatserver.fanout import Fanout
from chatserver.transport.connection import ATTR as CONNECTION_ATTR
from chatserver.transport.connection import Coalescer, DirectConnection
from chatserver.transport.frames import message_frame

PAYLOADS: list[tuple[str, dict[str, Any]]] = [
    (
        "message",
        {
            "room": "r1",
            "id": "0f3a9c1e2b4d5a6c",
            "offset": 41,
            "user": {"id": "u1", "name": "Zoë ☕", "role": "member"},
            "text": 'a "quoted" word,\nanother line\tand a tab — and 日本語 😣',
            "ts": 1_800_000_000_000,
            "client_id": "b7c1b3de-1111-4c4c-9999-0a0b0c0d0e0f",
        },
    ),
    ("room_event", {"kind": "muted", "until": None, "flags": [True, False, 1.5]}),
    ("presence", {"members": [], "left": {"id": "x", "name": "<b>X</b>", "role": "member"}}),
]


@pytest.mark.parametrize(("event", "payload"), PAYLOADS)
def test_frames_match_python_socketio_encoding(event: str, payload: dict[str, Any]) -> None:
    reference = socketio.packet.Packet(socketio.packet.EVENT, data=[event, payload], namespace="/")
    expected = engineio.packet.Packet(engineio.packet.MESSAGE, data=reference.encode()).encode()
    frame = Fanout.encode(event, payload)
    assert frame.packet.encode() == expected
    assert frame.ws == message_frame(expected)


# -- a room's route: the recipients resolved once, the same deliveries as send() -------


class _Transport:
    def __init__(self, backlog: int = 0) -> None:
        self.frames: list[bytes] = []
        self.closing = False
        self.backlog = backlog

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.backlog


class _Socket:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.closed = False
        self.queue: asyncio.Queue[Any] = asyncio.Queue()


class _Engine:
    def __init__(self) -> None:
        self.sockets: dict[str, Any] = {}
        self.coalescer = Coalescer()

    def fast(self, sid: str, backlog: int = 0) -> _Transport:
        """A session on huddle's websocket path."""
        sock = self.sockets.setdefault(sid, _Socket(sid))
        transport = _Transport(backlog)
        conn = DirectConnection(sock, transport, self.coalescer, 1000)  # type: ignore[arg-type]
        setattr(sock, CONNECTION_ATTR, conn)
        return transport

    def polled(self, sid: str) -> _Socket:
        """A session engineio serves itself (long-polling)."""
        sock = self.sockets[sid] = _Socket(sid)
        return sock


def _fanout(engine: _Engine, dropped: list[str]) -> Fanout:
    return Fanout(engine, queue_limit=10, drop=lambda sid, discard: dropped.append(sid))


def _queued(sock: _Socket) -> list[str]:
    out = []
    while not sock.queue.empty():
        out.append(sock.queue.get_nowait().encode())
    return out


async def _turn() -> None:
    await asyncio.sleep(0)  # the coalescer writes at the end of the loop turn


async def test_a_route_delivers_what_send_delivers() -> None:
    results = []
    for by_route in (False, True):
        engine, dropped = _Engine(), []
        fanout = _fanout(engine, dropped)
        a, b = engine.fast("a"), engine.fast("b")
        closing = engine.fast("closing")
        slow = engine.fast("slow", backlog=5000)
        gone = engine.fast("gone")
        engine.sockets["gone"].closed = True
        poller = engine.polled("p")
        sids = ["a", "missing", "b", "closing", "slow", "gone", "p"]
        route = fanout.route(sids)
        closing.closing = True
        frames = [Fanout.encode("message", {"n": n}) for n in range(3)]
        counts = [fanout.send_route(route, f) if by_route else fanout.send(sids, f) for f in frames]
        await _turn()
        results.append(
            (counts, a.frames, b.frames, closing.frames, slow.frames, gone.frames, _queued(poller))
        )
        assert dropped == ["slow"] * 3
    assert results[0] == results[1]
    counts, a_frames, *_ = results[1]
    assert counts == [3, 3, 3]  # a, b and the poller
    assert a_frames == [b"".join(Fanout.encode("message", {"n": n}).ws for n in range(3))]


async def test_a_route_follows_a_polled_session_onto_the_fast_path() -> None:
    engine, dropped = _Engine(), []
    fanout = _fanout(engine, dropped)
    engine.fast("a")
    poller = engine.polled("p")
    route = fanout.route(["a", "p"])
    fanout.send_route(route, Fanout.encode("message", {"n": 1}))
    assert not route.stale and _queued(poller) == ['42["message",{"n":1}]']
    upgraded = engine.fast("p")  # the session upgraded to a websocket
    assert fanout.send_route(route, Fanout.encode("message", {"n": 2})) == 2
    await _turn()
    assert route.stale  # its owner resolves the members again
    assert upgraded.frames == [Fanout.encode("message", {"n": 2}).ws]
    fresh = fanout.route(["a", "p"])
    assert fresh.polled == [] and not fresh.stale


async def test_a_room_delivers_to_its_members_as_they_come_and_go() -> None:
    from chatserver.auth import Claims
    from chatserver.backend import Delivery
    from chatserver.metrics import Metrics
    from chatserver.service.clock import ServiceClock
    from chatserver.service.delivery import Connection, LocalRoom, LocalRooms
    from chatserver.service.tasks import TaskSet

    engine, dropped = _Engine(), []
    rooms = LocalRooms(
        None,  # type: ignore[arg-type]  # nothing subscribes here
        _fanout(engine, dropped),
        metrics=Metrics(),
        clock=ServiceClock(lambda: 1_800_000_000_000),
        tasks=TaskSet(),
    )
    local = LocalRoom("r1")
    rooms.rooms["r1"] = local
    deliver = rooms._listener(local)
    transports, conns = {}, {}
    for name in ("ann", "bob", "cat"):
        transports[name] = engine.fast(f"eio-{name}")
        conns[name] = Connection(
            f"sid-{name}", f"eio-{name}", Claims(name, name, {"r1": "member"}, 2**31)
        )
    offset = 0

    async def post(text: str) -> bytes:
        nonlocal offset
        offset += 1
        entry = {"room": "r1", "offset": offset, "text": text, "ts": 1_800_000_000_000}
        entry["user"] = {"id": "ann", "name": "ann", "role": "member"}
        deliver(Delivery("message", entry, offset=offset))
        await _turn()
        return Fanout.encode("message", entry).ws

    rooms.enter(local, conns["ann"])
    rooms.enter(local, conns["bob"])
    first = await post("one")
    rooms.enter(local, conns["cat"])  # joins after the route was made
    second = await post("two")
    rooms.leave(conns["bob"], "r1")
    third = await post("three")
    assert transports["ann"].frames == [first, second, third]
    assert transports["bob"].frames == [first, second]
    assert transports["cat"].frames == [second, third]
    local.unsubscribe_handle and local.unsubscribe_handle.cancel()


async def test_a_turns_frames_leave_in_order_one_write_per_connection() -> None:
    """A quiet turn's one room delivery is written as it came; anything written after it
    in the same turn (an ack, another room's delivery) joins it in order."""
    coalescer = Coalescer()
    a, b, c = _Transport(0), _Transport(0), _Transport(0)
    coalescer.write_all([a, b], b"m1")
    await _turn()
    assert (a.frames, b.frames, c.frames) == ([b"m1"], [b"m1"], [])

    coalescer.write_all([a, b, c], b"m2")
    coalescer.write(b, b"ack")
    coalescer.write_all([c, a], b"m3")
    coalescer.write(c, b"ack2")
    b.closing = True  # closed before the flush: nothing more is written to it
    await _turn()
    assert a.frames == [b"m1", b"m2m3"]
    assert b.frames == [b"m1"]
    assert c.frames == [b"m2m3ack2"]

    coalescer.write(a, b"first")
    coalescer.write_all([b, a], b"m4")
    b.closing = False
    await _turn()
    assert a.frames[-1] == b"firstm4" and b.frames[-1] == b"m4"
