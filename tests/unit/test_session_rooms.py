"""python-socketio's rooms of each session (chatserver/transport/session_rooms.py): the same
state as python-socketio's own manager after the same calls, and a disconnect that does not
look at every other session."""

from __future__ import annotations

import random
from typing import Any

import socketio
from bidict import bidict

from chatserver.transport import internals
from chatserver.transport.session_rooms import SessionRooms


class Ids:
    """Engine.IO's id generator, made repeatable (the managers ask the server for sids)."""

    def __init__(self) -> None:
        self.eio = self
        self.n = 0

    def generate_id(self) -> str:
        self.n += 1
        return f"s{self.n}"


def state(manager: Any) -> tuple[Any, ...]:
    rooms = {
        ns: {room: dict(members) for room, members in by_room.items()}
        for ns, by_room in manager.rooms.items()
    }
    return rooms, manager.callbacks, manager.pending_connect, manager.pending_disconnect


async def test_the_same_state_as_python_socketios_own_after_the_same_calls() -> None:
    ours, theirs = SessionRooms(), socketio.AsyncManager()
    for manager in (ours, theirs):
        manager.server = Ids()
    pick = random.Random(18)
    sids: list[tuple[str, str]] = []
    for step in range(3000):
        what = pick.random()
        ns = pick.choice(["/", "/other"])
        if what < 0.3 or not sids:
            eio_sid = f"e{step}"
            got = {await m.pre_connect(eio_sid, ns) for m in (ours, theirs)}
            assert len(got) == 1
            sids.append((got.pop(), ns))
        elif what < 0.45:
            sid, ns = pick.choice(sids)
            for m in (ours, theirs):
                if m.is_pre_connected(sid, ns):  # as python-socketio calls it
                    await m.connect(sid, ns)
        elif what < 0.65:
            sid, ns = pick.choice(sids)
            room = pick.choice(["a", "b", "c"])
            for m in (ours, theirs):
                if m.is_connected(sid, ns) or m.is_pre_connected(sid, ns):
                    await m.enter_room(sid, ns, room)
        elif what < 0.75:
            sid, ns = pick.choice(sids)
            room = pick.choice(["a", "b", "c"])
            for m in (ours, theirs):
                await m.leave_room(sid, ns, room)
        elif what < 0.8:
            room = pick.choice(["a", "b", "c"])
            for m in (ours, theirs):
                await m.close_room(room, ns)
        else:
            sid, ns = sids.pop(pick.randrange(len(sids)))
            for m in (ours, theirs):
                if pick.random() < 0.5:
                    m.pre_disconnect(sid, ns)
                m._generate_ack_id(sid, lambda *a: None)  # an ack awaited when it goes
                await m.disconnect(sid, ns)
        assert state(ours) == state(theirs), step
    # And nothing is left of a session that has gone.
    assert set(ours.rooms_of) <= {(ns, sid) for sid, ns in sids}


class CountingRoom(bidict):  # type: ignore[type-arg]
    """A room that counts how often it is asked whether a session is in it."""

    asked = 0

    def __contains__(self, key: object) -> bool:
        CountingRoom.asked += 1
        return super().__contains__(key)


async def test_a_disconnect_looks_at_its_own_rooms_not_at_every_session() -> None:
    manager = SessionRooms()
    manager.server = Ids()
    sids = [await manager.pre_connect(f"e{i}", "/") for i in range(2000)]
    for sid in sids:
        await manager.connect(sid, "/")
    rooms = manager.rooms["/"]
    for name in list(rooms):
        rooms[name] = CountingRoom(rooms[name])
    CountingRoom.asked = 0
    for sid in sids[:1000]:
        await manager.disconnect(sid, "/")
    # python-socketio's own asks each of the ~2,000 rooms per disconnect: ~1.5 million.
    assert CountingRoom.asked < 10 * 1000, CountingRoom.asked
    assert len(manager.rooms["/"]) == 1 + 1000 and len(manager.rooms["/"][None]) == 1000


def test_the_start_up_probe_checks_the_manager_state_a_disconnect_clears() -> None:
    """SessionRooms does python-socketio's disconnect itself: a release whose manager no
    longer keeps that state stops the server at start-up instead of leaking sessions."""
    server = socketio.AsyncServer(async_mode="aiohttp", client_manager=SessionRooms())
    assert internals.probe(server).fatal_failures == []
    del server.manager.pending_disconnect
    failures = internals.probe(server).fatal_failures
    assert any("pending_disconnect" in failure for failure in failures), failures
