"""Issue 12: nothing a client sends can lose or confuse a member's words, end to end.

Real apps on ports, real python-socketio clients, the memory backend and Redis (a private
redis-server, two workers where a worker boundary matters, one that is stopped and
restarted where an outage matters):

- a message refused `unavailable` is no repeat: its retry is delivered, once (item 1);
- after Redis restarts empty, members are told plainly that earlier history is gone, and
  posting works at once (items 1 and 13);
- an absent co-facilitator cannot be muted, removed or given the floor (item 7);
- a lone surrogate in any string a client sends is a clear `invalid_payload` naming the
  field, never an internal error and a lost report (item 8);
- a token whose `sub` holds a newline is refused on every worker (item 9);
- a member reusing another member's client_id gets their own message and ack (item 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pytest
import socketio
from aiohttp import web

from tests.conftest import (
    SECRET,
    Client,
    make_settings,
    make_token,
    open_client,
    start_server,
)
from tests.redis_server import RedisServer
from tests.two_workers import Room

LONE = "\ud800"  # a lone surrogate: JSON carries it as "\ud800", no UTF-8 encoder takes it


async def control(client: Client, event: str, **payload: Any) -> dict[str, Any]:
    return await client.call(event, {"room": "r1", **payload})


async def until_answered(
    attempt: Callable[[], Awaitable[dict[str, Any]]], timeout_s: float = 20
) -> dict[str, Any]:
    """What a client does while the server says "not now": try again after the wait it
    gives (`unavailable`: the backend is coming back; `rate_limited`), bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        ack = await attempt()
        code = ack.get("error", {}).get("code")
        if ack.get("ok") or code not in ("unavailable", "rate_limited"):
            return ack
        if time.monotonic() > deadline:
            raise AssertionError(f"still {code} after {timeout_s}s: {ack}")
        await asyncio.sleep(max(0.3, float(ack["error"].get("retry_after_s") or 0)))


# -- item 10: a client_id is its sender's own ---------------------------------------------


async def test_a_reused_client_id_delivers_both_messages_each_with_its_own_ack(
    room: Room,
) -> None:
    cid = str(uuid.uuid4())
    alex = await room.alex.send("r1", "my knee is really bad today", cid)
    # Bea saw Alex's client_id in the message event, and sends with it.
    seen = await room.bea.wait_for("message", lambda m: m["id"] == alex["id"])
    assert seen["client_id"] == cid
    bea = await room.bea.send("r1", "sorry to hear that, Alex", cid)
    assert alex["ok"] and bea["ok"], (alex, bea)
    assert bea["text"] == "sorry to hear that, Alex" and bea["id"] != alex["id"]
    assert bea["offset"] > alex["offset"]
    got = await room.sam.wait_for("message", lambda m: m["id"] == bea["id"])
    assert got["user"]["id"] == "bea" and got["text"] == "sorry to hear that, Alex"
    # Each sender's own retry still answers like their first attempt, appending nothing.
    assert await room.alex.send("r1", "my knee is really bad today", cid) == alex
    assert await room.bea.send("r1", "sorry to hear that, Alex", cid) == bea
    barrier = await room.alex.send("r1", "barrier: that is all")
    await room.sam.wait_for("message", lambda m: m["id"] == barrier["id"])
    texts = [m["text"] for m in room.sam.got("message") if m["client_id"] == cid]
    assert texts == ["my knee is really bad today", "sorry to hear that, Alex"]


# -- item 7: an absent co-facilitator ------------------------------------------------------


async def test_an_absent_co_facilitator_cannot_be_muted_removed_or_given_the_floor(
    room: Room,
) -> None:
    kim = await open_client(room.urls[1], make_token("kim", {"r1": "facilitator"}, name="Kim"))
    room.extra.append(kim)
    assert (await kim.call("join", {"room": "r1"}))["ok"]
    assert (await kim.call("leave", {"room": "r1"}))["ok"]  # away: not in presence now
    await kim.sio.disconnect()
    members = (await room.sam.call("join", {"room": "r1"}))["room"]["members"]
    assert "kim" not in [m["id"] for m in members]
    for event, extra in (("mute", {"duration_s": 300}), ("remove", {}), ("floor", {})):
        ack = await control(room.sam, event, user_id="kim", **extra)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
        assert "Facilitators cannot be muted" in ack["error"]["message"]
    # Lifting a restriction may name them; members who are away are acted on as before.
    assert (await control(room.sam, "unmute", user_id="kim"))["ok"]
    assert (await control(room.sam, "mute", user_id="dana", duration_s=60))["ok"]
    joined = await room.sam.call("join", {"room": "r1"})
    assert joined["room"]["floor"] is None and "kim" not in joined["removed"]
    assert [m["user_id"] for m in joined["mutes"]] == ["dana"]


# -- item 8: every string a client sends is valid text -------------------------------------

# (event, payload, the field the refusal names); room "r1" is added to each.
MEMBER_STRINGS: list[tuple[str, dict[str, Any], str]] = [
    ("join", {"since": {"offset": 1, "epoch": f"e{LONE}"}}, "since.epoch"),
    ("join", {"held": [str(uuid.uuid4()), LONE]}, "held[1]"),
    ("message", {"text": "hello", "client_id": LONE}, "client_id"),
    ("message", {"text": "hello", "client_id": str(uuid.uuid4()), "x": LONE}, "x"),
    ("typing", {"active": True, "x": LONE}, "x"),
    ("hand", {"raised": True, "x": {"y": LONE}}, "x.y"),
    ("report", {"id": "MSG", "reason": f"this upset me {LONE}"}, "reason"),
    ("report", {"id": f"m{LONE}"}, "id"),
    ("leave", {"x": LONE}, "x"),
]
FACILITATOR_STRINGS: list[tuple[str, dict[str, Any], str]] = [
    ("mute", {"user_id": "alex", "reason": f"calm down {LONE}"}, "reason"),
    ("mute", {"user_id": f"alex{LONE}"}, "user_id"),
    ("unmute", {"user_id": LONE}, "user_id"),
    ("remove", {"user_id": "alex", "reason": LONE}, "reason"),
    ("readmit", {"user_id": LONE}, "user_id"),
    ("floor", {"user_id": LONE}, "user_id"),
    ("lock", {"locked": True, "x": LONE}, "x"),
    ("pause", {"paused": True, "x": LONE}, "x"),
    ("slow_mode", {"seconds": 5, "x": LONE}, "x"),
    ("pin", {"id": LONE}, "id"),
    ("unpin", {"id": LONE}, "id"),
    ("delete", {"id": "MSG", "reason": LONE}, "reason"),
    ("lower_hands", {"x": LONE}, "x"),
    ("review", {"id": LONE, "approve": True}, "id"),
    ("audit", {"limit": 5, "x": LONE}, "x"),
    ("dismiss_alert", {"id": LONE}, "id"),
]


def _with_msg(payload: dict[str, Any], msg_id: str) -> dict[str, Any]:
    return {k: (msg_id if v == "MSG" else v) for k, v in payload.items()}


async def test_a_lone_surrogate_in_any_field_is_a_clear_refusal_on_both_backends(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    target = await room.bea.send("r1", "something to report and pin")
    offset = (await room.sam.call("join", {"room": "r1"}))["room"]["offset"]
    cases = [(room.alex, *case) for case in MEMBER_STRINGS]
    cases += [(room.sam, *case) for case in FACILITATOR_STRINGS]
    events = {event for _, event, _, _ in cases}
    cases += [(room.sam, event, {"room": f"r1{LONE}"}, "room") for event in sorted(events)]
    for client, event, payload, field in cases:
        ack = await client.call(event, {"room": "r1", **_with_msg(payload, target["id"])})
        assert ack["ok"] is False, (event, payload, ack)
        assert ack["error"]["code"] == "invalid_payload", (event, payload, ack)
        assert ack["error"]["message"].startswith(f"`{field}` must be valid text"), (event, ack)
    # Nothing changed, nothing failed inside, and the room works: a report with valid
    # words reaches the facilitator, and a message whose text has a lone surrogate (a
    # client that cut an emoji in half) is delivered without it.
    assert (await room.sam.call("join", {"room": "r1"}))["room"]["offset"] == offset
    report = await control(room.alex, "report", id=target["id"], reason="this upset me 😟")
    assert report["ok"], report
    alert = await room.sam.wait_for("alert", lambda a: a["kind"] == "report")
    assert alert["reason"] == "this upset me 😟"
    cut = await room.alex.send("r1", f"thank you all {LONE}")
    assert cut["ok"] and cut["text"].strip() == "thank you all", cut
    await room.bea.wait_for("message", lambda m: m["id"] == cut["id"])
    assert (await control(room.sam, "mute", user_id="alex", reason="a short break ✋"))["ok"]
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == []


# -- item 9: a token sub that would break a frame ------------------------------------------


async def refused(url: str, token: str) -> str:
    client = Client(socketio.AsyncClient())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await open_client(url, None, auth={"token": token}, client=client)
    reasons = client.got("connect_error")
    assert len(reasons) == 1
    return str(reasons[0].get("message") if isinstance(reasons[0], dict) else reasons[0])


async def test_a_sub_with_a_newline_is_refused_on_every_worker(room: Room) -> None:
    now = int(time.time())
    for sub in ("eve\nall", "eve\tfacilitator", "eve\u2028"):
        claims = {"sub": sub, "name": "Eve", "rooms": {"r1": "member"}, "exp": now + 600}
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        for url in room.urls:
            assert await refused(url, token) == (
                "unauthorized: token has an invalid sub (control or invisible characters)"
            )
    # The room carries on for everyone, on both workers.
    ack = await room.alex.send("r1", "still here")
    await room.sam.wait_for("message", lambda m: m["id"] == ack["id"])


# -- items 1 and 13: Redis goes away and comes back ----------------------------------------


class Outage:
    """A worker on its own redis-server (which the test stops and starts), and people."""

    def __init__(self, redis_server: RedisServer) -> None:
        self.redis = redis_server
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.clients: list[Client] = []

    async def start(self) -> None:
        self.redis.start()
        server, self._runner = await start_server(make_settings(redis_url=self.redis.url))
        self.url = server.url

    async def person(self, user: str, role: str = "member") -> Client:
        client = await open_client(self.url, make_token(user, {"r1": role}))
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            if client.sio.connected:
                await client.sio.disconnect()
        if self._runner is not None:
            await self._runner.cleanup()
        self.redis.cleanup()


@contextlib.asynccontextmanager
async def outage(appendonly: bool) -> AsyncIterator[Outage]:
    o = Outage(RedisServer(appendonly=appendonly))
    try:
        await o.start()
        yield o
    finally:
        await o.close()


@pytest.fixture
async def kept() -> AsyncIterator[Outage]:
    """Redis with its append-only file: a restart keeps the rooms."""
    async with outage(appendonly=True) as o:
        yield o


@pytest.fixture
async def emptied() -> AsyncIterator[Outage]:
    """Redis without persistence: a restart loses every room."""
    async with outage(appendonly=False) as o:
        yield o


WORDS = "my pain is really bad tonight and I just wanted to say so"


def copies(client: Client, client_id: str) -> list[dict[str, Any]]:
    return [m for m in client.got("message") if m.get("client_id") == client_id]


async def test_a_retry_after_unavailable_is_delivered_once(kept: Outage) -> None:
    """Issue 12, item 1: the duplicate stage counted the text before the append reached
    Redis, so the retry was refused as `duplicate` for a minute and never delivered."""
    alex, bea = await kept.person("alex"), await kept.person("bea")
    for c in (alex, bea):
        assert (await c.call("join", {"room": "r1"}))["ok"]
    assert (await alex.send("r1", "evening all"))["ok"]
    kept.redis.stop()
    cid = str(uuid.uuid4())
    first = await alex.send("r1", WORDS, cid)
    assert first["ok"] is False and first["error"]["code"] == "unavailable", first
    kept.redis.start()
    ack = await until_answered(lambda: alex.send("r1", WORDS, cid))
    assert ack["ok"] and ack["text"] == WORDS, ack
    barrier = await bea.send("r1", "barrier: glad you said")
    await bea.wait_for("message", lambda m: m["id"] == barrier["id"])
    assert [m["id"] for m in copies(bea, cid)] == [ack["id"]]
    # Sent again now that it is in the log: a repeat, answered like the first.
    assert await alex.send("r1", WORDS, cid) == ack


async def test_after_an_empty_restart_members_are_told_and_post_at_once(emptied: Outage) -> None:
    """Issue 12, items 1 and 13: Redis restarted empty. Members rejoin to a fresh page that
    says why it is empty (`history: "lost"`), and the message the outage refused goes
    through on its first retry."""
    alex, bea = await emptied.person("alex"), await emptied.person("bea")
    sam = await emptied.person("sam", "facilitator")
    for c in (alex, bea, sam):
        assert (await c.call("join", {"room": "r1"}))["ok"]
    before = await alex.send("r1", "before the restart")
    await bea.wait_for("message", lambda m: m["id"] == before["id"])
    # Room state of the log about to be lost: it must not outlive it on the worker either.
    assert (await control(sam, "mute", user_id="bea", duration_s=600))["ok"]
    await bea.wait_for("room_event", lambda e: e["kind"] == "muted")
    epoch = (await bea.call("join", {"room": "r1"}))["room"]["epoch"]
    emptied.redis.stop()
    cid = str(uuid.uuid4())
    first = await alex.send("r1", WORDS, cid)
    assert first["ok"] is False and first["error"]["code"] == "unavailable", first
    emptied.redis.start()
    # The worker finds the room's log gone and closes its members' connections, so that
    # they rejoin and start over (as the web client does by itself).
    deadline = time.monotonic() + 15
    while any(c.sio.connected for c in (alex, bea, sam)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not alex.sio.connected and not bea.sio.connected and not sam.sio.connected
    alex, bea = await emptied.person("alex"), await emptied.person("bea")
    since = {"offset": before["offset"], "epoch": epoch}
    for c in (alex, bea):
        joined = await until_answered(lambda c=c: c.call("join", {"room": "r1", "since": since}))
        assert joined["ok"] and joined["recovered"] is False, joined
        assert joined["history"] == "lost" and joined["room"]["epoch"] != epoch
        assert "before the restart" not in str(joined["entries"])
    ack = await alex.send("r1", WORDS, cid)  # at once: no `duplicate`, no waiting
    assert ack["ok"] and ack["text"] == WORDS, ack
    fresh = await alex.send("r1", "and thanks for listening")
    assert fresh["ok"], fresh
    await bea.wait_for("message", lambda m: m["id"] == fresh["id"])
    assert [m["id"] for m in copies(bea, cid)] == [ack["id"]]
    # The new log has no mute: the worker's cached room state started afresh with it.
    assert joined["room"]["you"]["muted"] is False
    mine = await bea.send("r1", "bea again: that was a scary minute")
    assert mine["ok"], mine
    # A member who joins with a position in the new log recovers as usual: no `history`.
    again = await bea.call(
        "join", {"room": "r1", "since": {"offset": ack["offset"], "epoch": joined["room"]["epoch"]}}
    )
    assert again["recovered"] is True and "history" not in again
