"""Floods that would reach everyone: typing, hands and reports have no log entry, and each
one is fanned out to every member (a report to every facilitator), so they are limited per
member (rooms/signals.py; HUDDLE_SIGNAL_* and HUDDLE_REPORT_*). Real clients, on the
memory backend and on Redis with two workers; each count ends at a barrier message
published after the burst, never after a sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from chatserver.config import Settings
from tests.conftest import Client
from tests.two_workers import Room

DEFAULTS = Settings()
BURST = 1000


async def barrier(room: Room, *members: Client) -> None:
    """A message from Alex sent after every ack of the burst: it goes out on the same room
    bus after everything the burst published, so once a member has it, the count is whole."""
    ack = await room.alex.send("r1", f"barrier {time.monotonic()}")
    assert ack["ok"], ack
    for member in members:
        await member.wait_for("message", lambda m: m.get("id") == ack["id"], timeout=15)


def from_alex(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if (i.get("user") or {}).get("id") == "alex"]


async def test_a_burst_of_typing_and_hands_reaches_the_others_bounded(room: Room) -> None:
    """1,000 typing events alternating true/false and 1,000 hands alternating raised/lowered
    from one member: before the limit every one reached every member."""
    started = time.monotonic()
    calls = []
    for i in range(BURST):
        on = i % 2 == 0
        calls.append(room.alex.call("typing", {"room": "r1", "active": on}, timeout=30))
        calls.append(room.alex.call("hand", {"room": "r1", "raised": on}, timeout=30))
    acks = await asyncio.gather(*calls)
    elapsed = time.monotonic() - started
    await barrier(room, room.bea, room.sam)

    # Each "on" spends a token (burst, then one per refill); each "off" of a shown "on" is
    # free, so at most twice the allowance, whatever the order the server ran them in.
    allowance = 2 * (DEFAULTS.signal_burst + elapsed / DEFAULTS.signal_refill_s + 1)
    assert allowance < 100, f"the burst took {elapsed:.1f} s: too slow to show anything"
    for member in (room.bea, room.sam):
        typing = from_alex(member.got("typing"))
        hands = from_alex(member.got("hand"))
        assert 1 <= len(typing) <= allowance, (len(typing), allowance)
        assert 1 <= len(hands) <= allowance, (len(hands), allowance)
    refused = [a for a in acks if not a["ok"]]
    assert len(refused) >= BURST
    for ack in refused:
        assert ack["error"]["code"] == "rate_limited", ack
        assert 0 < ack["error"]["retry_after_s"] <= DEFAULTS.signal_refill_s + 0.001
        assert ack["error"]["message"]


async def test_raising_and_lowering_a_hand_and_typing_are_never_refused(room: Room) -> None:
    for _ in range(DEFAULTS.signal_burst):
        assert (await room.alex.call("hand", {"room": "r1", "raised": True}))["ok"]
        assert (await room.alex.call("hand", {"room": "r1", "raised": False}))["ok"]
        assert (await room.alex.call("typing", {"room": "r1", "active": True}))["ok"]
        assert (await room.alex.call("typing", {"room": "r1", "active": False}))["ok"]
    await barrier(room, room.sam)
    assert len(from_alex(room.sam.got("hand"))) == 2 * DEFAULTS.signal_burst
    assert len(from_alex(room.sam.got("typing"))) == 2 * DEFAULTS.signal_burst


async def test_lowering_a_raised_hand_passes_even_over_the_limit(room: Room) -> None:
    assert (await room.alex.call("hand", {"room": "r1", "raised": True}))["ok"]
    # Raising again and again until the limit refuses it ...
    for _ in range(3 * DEFAULTS.signal_burst):
        raised = await room.alex.call("hand", {"room": "r1", "raised": True})
        if not raised["ok"]:
            break
    assert raised["error"]["code"] == "rate_limited", raised
    # ... lowering the hand the room sees raised still passes, and reaches everyone.
    assert (await room.alex.call("hand", {"room": "r1", "raised": False}))["ok"]
    await barrier(room, room.sam, room.bea)
    for member in (room.sam, room.bea):
        lowered = from_alex(member.got("hand"))[-1]
        assert lowered["raised"] is False and lowered["hands"] == []


async def test_a_flood_of_reports_reaches_facilitators_bounded(room: Room) -> None:
    msg = await room.bea.send("r1", "something hurtful")
    started = time.monotonic()
    acks = await asyncio.gather(
        *(room.alex.call("report", {"room": "r1", "id": msg["id"]}, timeout=30) for _ in range(100))
    )
    elapsed = time.monotonic() - started
    await barrier(room, room.sam)
    allowance = DEFAULTS.report_burst + elapsed / DEFAULTS.report_refill_s + 1
    reports = [a for a in room.sam.got("alert") if a["kind"] == "report"]
    assert 1 <= len(reports) <= allowance, (len(reports), allowance)
    refused = [a for a in acks if not a["ok"]]
    assert refused and all(a["error"]["code"] == "rate_limited" for a in refused)
    # Bea's own report is hers to send.
    assert (await room.bea.call("report", {"room": "r1", "id": msg["id"]}))["ok"]


async def test_leaving_and_rejoining_in_a_loop_reaches_the_others_bounded(room: Room) -> None:
    """Each explicit leave and the join after it announce "left" and "joined" to everyone;
    before the limit 200 cycles reached every member as 400 presence events."""
    started = time.monotonic()
    refused = []
    for _ in range(200):
        left = await room.alex.call("leave", {"room": "r1"})
        if not left["ok"]:
            refused.append(left)
        assert (await room.alex.call("join", {"room": "r1"}))["ok"]
    elapsed = time.monotonic() - started
    # Alex waits for the barrier too: refused leaves kept Alex in the room, so Alex's own
    # message reaches Alex (a member who had left would never get it).
    await barrier(room, room.sam, room.bea, room.alex)
    allowance = 2 * (DEFAULTS.signal_burst + elapsed / DEFAULTS.signal_refill_s + 1)
    for member in (room.sam, room.bea):
        churn = [
            p
            for p in member.got("presence")
            if (p.get("joined") or p.get("left") or {}).get("id") == "alex"
        ]
        assert 1 <= len(churn) <= allowance, (len(churn), allowance)
    assert refused and all(r["error"]["code"] == "rate_limited" for r in refused)


def changes(presence: dict[str, Any]) -> list[dict[str, Any]]:
    """A presence event's comings and goings, oldest first (docs/protocol.md)."""
    own = {k: presence[k] for k in ("joined", "left") if k in presence}
    return [*presence.get("earlier", []), own]


async def test_a_room_filling_up_is_announced_in_fewer_events_than_joins(room: Room) -> None:
    """Twelve members joining at once, over both workers: each member already there hears
    every arrival once and ends with the whole list, in far fewer events than arrivals
    (one "joined" with the whole list each, before: quadratic in the room's size)."""
    await barrier(room, room.sam, room.bea)  # Alex's and Bea's own arrivals heard before
    before = (room.sam.mark(), room.bea.mark())
    newcomers = [await room.member(f"m{i:02d}", worker=i % 2) for i in range(12)]
    acks = await asyncio.gather(*(c.call("join", {"room": "r1"}) for c in newcomers))
    assert all(a["ok"] for a in acks), acks
    await barrier(room, room.sam, room.bea)
    expected = {"sam", "alex", "bea", *(f"m{i:02d}" for i in range(12))}
    for member, mark in zip((room.sam, room.bea), before, strict=True):
        events = member.got("presence", mark)
        arrivals = [c["joined"]["id"] for p in events for c in changes(p) if "joined" in c]
        assert sorted(arrivals) == sorted(expected - {"sam", "alex", "bea"}), arrivals
        assert {m["id"] for m in events[-1]["members"]} == expected
        assert len(events) <= len(newcomers) // 2, len(events)
