"""A receiving worker's CPU for presence while its rooms fill, in one process.

Rooms of ``--members`` fill as the idle ramp fills them (``bench/run_scenario_b.py
--skip-load``: client i into room i // members, ``--rate`` joins a second): for each join
the socket enters the room and the worker hears the joiner's "joined" with the room's
member list, as the join script publishes it; the loop runs on between joins, so a
room's presence window (chatserver/service/delivery.py) closes as it would. Transports
are stand-ins that count presence events and bytes (no system call). Prints CPU (process time) per
join (less the same joins without their presence), and the presence events and bytes
written per join.

    .venv/bin/python bench/presence_bench.py [--rooms 50] [--members 20] [--rate 400]
        [--root /tmp/before]

``--root`` imports chatserver from another checkout, to compare two trees on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from delivery_bench import FakeSocket, local_rooms  # noqa: E402


class CountingTransport:
    __slots__ = ("events", "written")

    def __init__(self) -> None:
        self.written = 0
        self.events = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.events += data.count(b'["presence"')

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def run(
    rooms_n: int, members_n: int, rate: float, per_turn: int, hear: bool, numbered: bool = False
) -> tuple[float, float, float]:
    from chatserver.auth import Claims
    from chatserver.backend import Delivery
    from chatserver.service.delivery import Connection, LocalRoom
    from chatserver.transport.connection import ATTR, Coalescer, DirectConnection

    async def main() -> tuple[float, float, float]:
        eio, rooms = local_rooms()
        coalescer = Coalescer()
        transports: list[CountingTransport] = []
        locals_ = []
        for r in range(rooms_n):
            local = LocalRoom(f"room-{r}")
            local.listener = rooms._listener(local)
            rooms.rooms[local.room] = local
            locals_.append(local)
        joins = rooms_n * members_n
        arrivals = []
        for i in range(joins):
            r = i // members_n
            sid = f"s{i}"
            sock = FakeSocket(sid)
            transport = CountingTransport()
            transports.append(transport)
            conn = DirectConnection(sock, transport, coalescer, 1 << 20)  # type: ignore[arg-type]
            setattr(sock, ATTR, conn)
            eio.sockets[sid] = sock
            user = {"id": f"u{i}", "name": f"Member {i:05d}", "role": "member"}
            claims = Claims(user["id"], str(user["name"]), {locals_[r].room: "member"}, 2**31)
            arrivals.append((locals_[r], Connection(f"c{i}", sid, claims), user))
        members: list[list[dict[str, Any]]] = [[] for _ in range(rooms_n)]
        started_wall = time.monotonic()
        started = time.process_time()
        for i, (local, conn, user) in enumerate(arrivals):
            local.joining += 1
            listed = members[i // members_n]
            listed.append(user)
            if numbered:
                # As join.lua numbers them: the joiner's ack read its own "joined".
                rooms.enter(local, conn, presence_seq=len(listed))
            else:
                rooms.enter(local, conn)
            if hear:
                assert local.listener is not None
                payload = {"room": local.room, "joined": user, "members": list(listed)}
                if numbered:
                    local.listener(Delivery("presence", payload, seq=len(listed)))
                else:
                    local.listener(Delivery("presence", payload))
            if i % per_turn == per_turn - 1:
                # The next joins come per_turn/rate s later (waiting costs no CPU).
                delay = started_wall + (i + 1) / rate - time.monotonic()
                await asyncio.sleep(max(0.0, delay))
        await asyncio.sleep(0.2)  # every window closed, every frame written
        cpu = time.process_time() - started
        events = sum(t.events for t in transports)
        written = sum(t.written for t in transports)
        return cpu / joins * 1e6, events / joins, written / joins

    import uvloop

    return uvloop.run(main())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=50)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--rate", type=float, default=400.0, help="joins a second")
    p.add_argument("--root", type=Path, default=ROOT)
    p.add_argument("--per-turn", type=int, default=4, help="joins heard per loop turn")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--numbered",
        action="store_true",
        help='"joined" numbered as join.lua numbers them (trees from ac0e167 on)',
    )
    args = p.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    # The same joins without their presence: the bench's own cost, taken off.
    bare = min(
        run(args.rooms, args.members, args.rate, args.per_turn, False)[0]
        for _ in range(args.rounds)
    )
    runs = [
        run(args.rooms, args.members, args.rate, args.per_turn, True, args.numbered)
        for _ in range(args.rounds)
    ]
    us = min(r[0] for r in runs) - bare
    events, written = runs[0][1], runs[0][2]
    print(
        f"{args.root.resolve()}: {us:.1f} us CPU per join for its presence (best of "
        f"{args.rounds}, less {bare:.1f} without it); {events:.2f} presence events and "
        f"{written:,.0f} bytes written per join"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
