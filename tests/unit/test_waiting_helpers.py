"""The test clients' waiting helpers (tests/conftest.py): a wait is met only by an event
it has not already been given, and, with a mark, only by one that came after it."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from tests.conftest import Client

SHORT = 0.05  # seconds: the events are already in the list, or never come


def started(n: int) -> dict[str, Any]:
    return {"kind": "session_started", "n": n}


def is_started(e: dict[str, Any]) -> bool:
    return bool(e["kind"] == "session_started")


async def test_a_second_wait_for_the_same_event_needs_a_second_event() -> None:
    client = Client(socketio.AsyncClient())
    client.got("room_event").append(started(1))
    assert (await client.wait_for("room_event", is_started, SHORT))["n"] == 1
    with pytest.raises(AssertionError, match="no new 'room_event'"):
        await client.wait_for("room_event", is_started, SHORT)
    client.got("room_event").append(started(2))
    assert (await client.wait_for("room_event", is_started, SHORT))["n"] == 2


async def test_after_a_mark_only_later_events_count() -> None:
    client = Client(socketio.AsyncClient())
    client.got("room_event").append(started(1))  # never waited for
    mark = client.mark()
    with pytest.raises(AssertionError):
        await client.wait_for("room_event", is_started, SHORT, after=mark)
    client.got("room_event").append(started(2))
    assert (await client.wait_for("room_event", is_started, SHORT, after=mark))["n"] == 2
    assert client.got("room_event", after=mark) == [started(2)]
    assert await client.wait_count("room_event", 1, SHORT, after=mark) == [started(2)]
    with pytest.raises(AssertionError):
        await client.wait_count("room_event", 2, SHORT, after=mark)


async def test_waits_for_different_events_each_get_their_own() -> None:
    """Out of order is fine: each wait takes the first match not yet given out."""
    client = Client(socketio.AsyncClient())
    client.got("message").extend([{"id": "a"}, {"id": "b"}])
    assert (await client.wait_for("message", lambda m: m["id"] == "b", SHORT))["id"] == "b"
    assert (await client.wait_for("message", timeout=SHORT))["id"] == "a"
