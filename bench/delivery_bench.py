"""A receiving worker's CPU per delivery, in one process: published entry -> sockets.

What a worker does for each room message it hears on the room bus, from the published
body to the bytes handed to each member's transport: the entry decoded (msgpack), the
room's cached state folded, the audience picked, the event encoded once, queued for each
local member on huddle's websocket path, and the loop turn's frames written per
connection. Transports are stand-ins that count bytes (no system call: the kernel's send
is the same for any server, and Node's), so what is measured is huddle's own Python.

    .venv/bin/python bench/delivery_bench.py [--rooms 50] [--members 10] [--per-turn 4]
        [--root /tmp/before]

``--root`` imports chatserver from another checkout (a git worktree of an older commit),
to compare two trees on the same machine; run them alternately (``--alternate``) when the
machine is shared. Prints microseconds of CPU (process time) per delivery, best of rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class FakeTransport:
    """Takes every write (counted), never closing, nothing buffered."""

    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class FakeSocket:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.closed = False
        self.closing = False


class FakeEio:
    def __init__(self) -> None:
        self.sockets: dict[str, Any] = {}


def local_rooms() -> tuple[FakeEio, Any]:
    """A worker's local rooms over stand-in sockets, with no backend to subscribe to (the
    tree to measure must be on sys.path first: --root)."""
    from chatserver.fanout import Fanout
    from chatserver.metrics import Metrics
    from chatserver.service.clock import ServiceClock
    from chatserver.service.delivery import LocalRooms
    from chatserver.service.tasks import TaskSet

    eio = FakeEio()
    fanout = Fanout(eio, queue_limit=1000, drop=lambda sid, discard: None)
    rooms = LocalRooms(
        None,  # type: ignore[arg-type]  # no subscribing here
        fanout,
        metrics=Metrics(),
        clock=ServiceClock(),
        tasks=TaskSet(),
    )
    return eio, rooms


def run(rooms_n: int, members_n: int, per_turn: int, messages: int, rounds: int) -> list[float]:
    from chatserver.auth import Claims
    from chatserver.backend import Delivery
    from chatserver.redis_backend.codec import _body, _entry
    from chatserver.service.delivery import Connection, LocalRoom
    from chatserver.transport.connection import ATTR, Coalescer, DirectConnection
    from rooms.entries import message_entry

    async def main() -> list[float]:
        eio, rooms = local_rooms()
        coalescer = Coalescer()
        listeners = []
        bodies = []
        now = int(time.time() * 1000)
        for r in range(rooms_n):
            room = f"room-{r}"
            local = LocalRoom(room)
            local.listener = rooms._listener(local)
            rooms.rooms[room] = local
            for m in range(members_n):
                sid = f"s{r}-{m}"
                sock = FakeSocket(sid)
                conn = DirectConnection(sock, FakeTransport(), coalescer, 1 << 20)  # type: ignore[arg-type]
                setattr(sock, ATTR, conn)
                eio.sockets[sid] = sock
                user_id = f"u{r}-{m}"
                claims = Claims(user_id, f"Member {m}", {room: "member"}, 2**31)
                rooms.enter(local, Connection(f"c{r}-{m}", sid, claims))
            listeners.append(local.listener)
            entry = message_entry(
                room=room,
                msg_id=f"m{r}",
                user={"id": f"u{r}-0", "name": "Member 0", "role": "member"},
                text="I tried the pacing plan and it made the afternoon easier, thank you all",
                ts=now,
                client_id="0b7f0a0e-3f7e-4c1e-9a51-2f1f4e1f4c11",
            )
            bodies.append(_body(entry))
        offsets = [0] * rooms_n
        results = []
        for _ in range(rounds):
            started = time.process_time()
            sent = 0
            for i in range(messages):
                r = i % rooms_n
                offsets[r] += 1
                # What the bus does per published entry (_deliver_in_order).
                listeners[r](Delivery("message", _entry(offsets[r], bodies[r]), offset=offsets[r]))
                sent += members_n
                if i % per_turn == per_turn - 1:
                    await asyncio.sleep(0)  # the loop turn ends: the coalescer writes
            await asyncio.sleep(0)
            results.append((time.process_time() - started) / sent * 1e6)
        return results

    import uvloop

    return uvloop.run(main())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--members", type=int, default=10, help="local members per room")
    p.add_argument("--per-turn", type=int, default=4, help="messages heard per loop turn")
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--root", type=Path, default=ROOT)
    args = p.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    results = run(args.rooms, args.members, args.per_turn, args.messages, args.rounds)
    print(
        f"{args.root.resolve()}: {min(results):.2f} us CPU per delivery (best of {args.rounds}; "
        f"all: {' '.join(f'{r:.2f}' for r in results)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
