"""A room's own history setting (issue 15): kept between sessions by default, or cleared
when each session starts. Sam facilitates on worker A, members on worker B (one worker on
the memory backend; two on Redis)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Client
from tests.two_workers import Room


async def ask(client: Client, event: str, **payload: Any) -> dict[str, Any]:
    return await client.call(event, {"room": "r1", **payload})


async def texts_for_a_newcomer(room: Room, name: str) -> list[str]:
    newcomer = await room.member(name)
    entries = (await newcomer.call("join", {"room": "r1"}))["entries"]
    return [e["text"] for e in entries if "kind" not in e]


async def test_by_default_the_last_session_is_still_there_when_the_next_starts(
    room: Room,
) -> None:
    assert (await room.alex.send("r1", "said last week"))["ok"]
    joined = await room.alex.call("join", {"room": "r1"})
    assert joined["room"]["meeting"]["history"] == "kept"
    assert (await ask(room.sam, "session_start"))["ok"]
    assert await texts_for_a_newcomer(room, "dan") == ["said last week"]


async def test_a_room_set_to_clear_starts_each_session_with_nothing_kept(room: Room) -> None:
    refused = await ask(room.alex, "history", mode="each_session")
    assert refused["error"]["code"] == "forbidden"
    assert (await ask(room.sam, "history", mode="forever"))["error"]["code"] == "invalid_payload"
    assert (await ask(room.sam, "history", mode="each_session"))["ok"]
    told = await room.bea.wait_for("room_event", lambda e: e["kind"] == "history")
    assert told["meeting"]["history"] == "each_session"
    assert (await room.alex.send("r1", "between sessions, about my week"))["ok"]
    assert (await ask(room.sam, "session_start"))["ok"]
    cleared = await room.bea.wait_for("room_event", lambda e: e["kind"] == "cleared")
    started = await room.bea.wait_for("room_event", lambda e: e["kind"] == "session_started")
    assert cleared["offset"] < started["offset"]
    assert await texts_for_a_newcomer(room, "dan") == []
    audit = (await ask(room.sam, "audit", limit=20))["entries"]
    assert any(r["action"] == "history_set" for r in audit)
