"""The protocol end to end: the real app on a port, real python-socketio clients."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
import socketio

from tests.conftest import SECRET, Client, Connect, Server, make_settings, make_token, open_client


async def refused_reason(server: Server, auth: Any) -> str:
    """What a client is told when its connection is refused (its connect_error data)."""
    client = Client(socketio.AsyncClient())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await open_client(server.url, None, auth=auth, client=client)
    reasons = client.got("connect_error")
    assert len(reasons) == 1
    return str(reasons[0].get("message") if isinstance(reasons[0], dict) else reasons[0])


async def test_connect_refused_with_clear_reasons(server: Server) -> None:
    import jwt

    assert "unauthorized: token missing" in await refused_reason(server, {})
    assert "unauthorized: token malformed" in await refused_reason(server, {"token": "abc.def"})
    expired = make_token("u1", {"r1": "member"}, ttl_s=-10)
    assert "unauthorized: token expired" in await refused_reason(server, {"token": expired})
    forged = jwt.encode(
        {"sub": "u1", "name": "X", "rooms": {"r1": "facilitator"}, "exp": 2**40}, "y" * 40
    )
    assert "unauthorized: token signature invalid" in await refused_reason(
        server, {"token": forged}
    )


async def test_two_members_chat_live(connect: Connect) -> None:
    alex = await connect("alex", {"r1": "member"}, name="Alex")
    sam = await connect("sam", {"r1": "facilitator"}, name="Sam")
    joined_a = await alex.call("join", {"room": "r1"})
    assert joined_a["ok"] is True
    room = joined_a["room"]
    assert room["id"] == "r1" and room["offset"] == 0 and room["locked"] is False
    assert room["you"] == {
        "id": "alex",
        "name": "Alex",
        "role": "member",
        "muted_until": None,
        "muted": False,
        "agreed": False,
        "checkin": False,
    }
    assert joined_a["recovered"] is False and joined_a["entries"] == []
    assert joined_a["limits"] == {"max_message_chars": 2000}
    joined_s = await sam.call("join", {"room": "r1"})
    assert [m["id"] for m in joined_s["room"]["members"]] == ["sam", "alex"]  # facilitators first
    presence = await alex.wait_for("presence", lambda p: p.get("joined", {}).get("id") == "sam")
    assert presence["joined"] == {"id": "sam", "name": "Sam", "role": "facilitator"}

    cid = str(uuid.uuid4())
    ack = await alex.send("r1", "Morning all. Flare-up day, but I made it here.", cid)
    assert ack["ok"] is True and ack["offset"] == 1 and ack["text"].startswith("Morning all.")
    got = await sam.wait_for("message")
    assert got == {
        "room": "r1",
        "id": ack["id"],
        "offset": 1,
        "user": {"id": "alex", "name": "Alex", "role": "member"},
        "text": "Morning all. Flare-up day, but I made it here.",
        "ts": got["ts"],
        "client_id": cid,
    }
    assert isinstance(got["ts"], int)
    # The sender receives its own message live too (one code path for every client).
    await alex.wait_for("message", lambda m: m["id"] == ack["id"])

    await alex.call("leave", {"room": "r1"})
    left = await sam.wait_for("presence", lambda p: "left" in p)
    assert left["left"]["id"] == "alex" and [m["id"] for m in left["members"]] == ["sam"]


async def test_history_page_on_first_join(connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    acks = [await alex.send("r1", f"note {i}") for i in range(3)]
    late = await connect("bea")
    joined = await late.call("join", {"room": "r1"})
    assert joined["recovered"] is False
    assert [e["text"] for e in joined["entries"]] == ["note 0", "note 1", "note 2"]
    assert [e["offset"] for e in joined["entries"]] == [a["offset"] for a in acks]
    assert joined["room"]["offset"] == 3


async def test_only_rooms_in_the_token(connect: Connect) -> None:
    alex = await connect("alex", {"r1": "member"})
    ack = await alex.call("join", {"room": "r2"})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
    ack = await alex.send("r1", "hello before joining")
    assert ack["error"]["code"] == "not_in_room"


async def test_retry_with_same_client_id_is_idempotent(connect: Connect) -> None:
    alex = await connect("alex")
    sam = await connect("sam")
    await alex.call("join", {"room": "r1"})
    await sam.call("join", {"room": "r1"})
    cid = str(uuid.uuid4())
    first = await alex.send("r1", "did anyone try the pacing app?", cid)
    again = await alex.send("r1", "did anyone try the pacing app?", cid)
    assert again == first
    # A retry arriving on a new connection (the ack was lost with the old one) too.
    alex2 = await connect("alex")
    await alex2.call("join", {"room": "r1"})
    assert await alex2.send("r1", "did anyone try the pacing app?", cid) == first
    # Barrier: entries reach Sam in offset order, so a second copy logged by either retry
    # would have come before the next message.
    after = await alex2.send("r1", "it helped me a bit")
    await sam.wait_for("message", lambda m: m["id"] == after["id"])
    assert [m["id"] for m in sam.got("message")] == [first["id"], after["id"]]


async def test_reconnect_recovers_every_missed_entry(server: Server, connect: Connect) -> None:
    alex = await connect("alex")
    sam = await connect("sam", {"r1": "facilitator"})
    joined = await alex.call("join", {"room": "r1"})
    await sam.call("join", {"room": "r1"})
    await sam.send("r1", "before the drop")
    seen = await alex.wait_for("message")
    since = {"offset": seen["offset"], "epoch": joined["room"]["epoch"]}
    await alex.sio.disconnect()
    sent = [await sam.send("r1", f"while you were away {i}") for i in range(4)]
    back = await connect("alex")
    rejoined = await back.call("join", {"room": "r1", "since": since})
    assert rejoined["recovered"] is True
    assert [e["offset"] for e in rejoined["entries"]] == [a["offset"] for a in sent]
    assert [e["text"] for e in rejoined["entries"]] == [
        f"while you were away {i}" for i in range(4)
    ]
    assert rejoined["room"]["offset"] == sent[-1]["offset"]
    # Live delivery continues straight after, with nothing repeated.
    after = await sam.send("r1", "welcome back")
    assert after["ok"] is True
    live = await back.wait_for("message")
    assert live["offset"] == after["offset"] and len(back.got("message")) == 1


async def test_recovery_with_an_unknown_epoch_starts_over(connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    await alex.send("r1", "one")
    again = await alex.call("join", {"room": "r1", "since": {"offset": 1, "epoch": "not-this-one"}})
    assert again["recovered"] is False and [e["text"] for e in again["entries"]] == ["one"]


@pytest.mark.parametrize("settings", [make_settings(history_size=10, history_page=5)])
async def test_recovery_after_trimmed_history_is_never_partial(connect: Connect) -> None:
    alex = await connect("alex")
    joined = await alex.call("join", {"room": "r1"}, timeout=5)
    epoch = joined["room"]["epoch"]
    sam = await connect("sam", {"r1": "facilitator"})  # facilitators are not rate limited
    await sam.call("join", {"room": "r1"})
    for i in range(15):
        await sam.send("r1", f"m{i}")
    back = await alex.call("join", {"room": "r1", "since": {"offset": 1, "epoch": epoch}})
    assert back["recovered"] is False
    assert [e["text"] for e in back["entries"]] == [f"m{i}" for i in range(10, 15)]
    near = await alex.call("join", {"room": "r1", "since": {"offset": 8, "epoch": epoch}})
    assert near["recovered"] is True and [e["offset"] for e in near["entries"]] == list(
        range(9, 16)
    )


async def test_offsets_follow_a_members_sending_order(connect: Connect) -> None:
    sam = await connect("sam", {"r1": "facilitator"})
    await sam.call("join", {"room": "r1"})
    texts = [f"line {i}" for i in range(20)]
    acks = await asyncio.gather(*(sam.send("r1", t) for t in texts))
    assert [a["offset"] for a in acks] == list(range(1, 21))
    assert [a["text"] for a in acks] == texts


async def test_joining_mid_stream_sees_every_message_exactly_once(connect: Connect) -> None:
    sam = await connect("sam", {"r1": "facilitator"})
    await sam.call("join", {"room": "r1"})
    bea = await connect("bea")

    async def stream() -> None:
        for i in range(60):
            assert (await sam.send("r1", f"s{i}"))["ok"]
            await asyncio.sleep(0.005)

    sender = asyncio.create_task(stream())
    await asyncio.sleep(0.05)
    joined = await bea.call("join", {"room": "r1"})
    await sender

    def seen() -> list[int]:
        return [e["offset"] for e in joined["entries"]] + [m["offset"] for m in bea.got("message")]

    for _ in range(500):
        if seen() and seen()[-1] == 60:
            break
        await asyncio.sleep(0.01)
    # The history page plus live delivery cover everything up to 60, with no repeats.
    assert seen() == list(range(seen()[0], 61)), seen()
    assert bea.got("message"), "the join should land mid-stream"
    assert joined["room"]["offset"] == (joined["entries"][-1]["offset"] if joined["entries"] else 0)


async def test_member_rate_limit_and_facilitator_exemption(connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    results = [await alex.send("r1", f"quick {i}") for i in range(7)]
    assert [r["ok"] for r in results[:5]] == [True] * 5
    refused = results[5]
    assert refused["error"]["code"] == "rate_limited" and refused["error"]["retry_after_s"] > 0
    sam = await connect("sam", {"r1": "facilitator"})
    await sam.call("join", {"room": "r1"})
    assert all([(await sam.send("r1", f"fac {i}"))["ok"] for i in range(10)])


async def test_shape_rules(connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    assert (await alex.send("r1", "x" * 2001))["error"]["code"] == "too_long"
    assert (await alex.send("r1", "   \n  "))["error"]["code"] == "invalid_payload"
    ok = await alex.send("r1", "tired\x00 but\u0007 here")
    assert ok["ok"] is True and ok["text"] == "tired but here"


async def test_typing_and_hands_reach_the_room(connect: Connect) -> None:
    alex = await connect("alex")
    bea = await connect("bea")
    await alex.call("join", {"room": "r1"})
    await bea.call("join", {"room": "r1"})
    assert (await alex.call("typing", {"room": "r1", "active": True}))["ok"] is True
    typing = await bea.wait_for("typing")
    assert typing["user"]["id"] == "alex" and typing["active"] is True
    assert (await alex.call("hand", {"room": "r1", "raised": True}))["ok"] is True
    hand = await bea.wait_for("hand")
    assert hand["user"]["id"] == "alex" and hand["raised"] is True


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("join", None, "invalid_payload"),
    ("join", "r1", "invalid_payload"),
    ("join", {"room": 5}, "invalid_payload"),
    ("join", {"room": "r" * 500}, "invalid_payload"),
    ("join", {"room": "r1", "since": {"offset": "3", "epoch": "e"}}, "invalid_payload"),
    ("join", {"room": "r1", "since": {"offset": True, "epoch": "e"}}, "invalid_payload"),
    ("join", {"room": "r1", "since": {"offset": -1, "epoch": "e"}}, "invalid_payload"),
    ("join", {"room": "r1", "since": [1, 2]}, "invalid_payload"),
    ("message", {"room": "r1"}, "invalid_payload"),
    ("message", {"room": "r1", "text": None, "client_id": str(uuid.uuid4())}, "invalid_payload"),
    ("message", {"room": "r1", "text": "hi", "client_id": "not-a-uuid"}, "invalid_payload"),
    ("message", {"room": "r1", "text": ["hi"], "client_id": str(uuid.uuid4())}, "invalid_payload"),
    ("message", {"room": "r1", "text": "y" * 50_000, "client_id": str(uuid.uuid4())}, "too_long"),
    ("typing", {"room": "r1", "active": "yes"}, "invalid_payload"),
    ("hand", {"room": "r1"}, "invalid_payload"),
    ("leave", {"room": "nowhere"}, "not_in_room"),
    ("typing", {"room": "r9", "active": True}, "not_in_room"),
    ("mystery_event", {"room": "r1"}, "invalid_payload"),
]


async def test_bad_input_gets_error_acks_and_never_an_exception(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    for event, payload, code in BAD_INPUTS:
        ack = await alex.call(event, payload)
        assert ack["ok"] is False, (event, payload)
        assert ack["error"]["code"] == code, (event, payload, ack)
        assert ack["error"]["message"]
    # Extra or missing arguments.
    ack = await alex.sio.call("message", timeout=5)
    assert ack["error"]["code"] == "invalid_payload"
    # Nothing was lost: the connection still works and the log has no exceptions.
    assert (await alex.send("r1", "still here"))["ok"] is True
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_token_for_the_wrong_role_cannot_claim_facilitator(connect: Connect) -> None:
    alex = await connect("alex", {"r1": "member"})
    joined = await alex.call("join", {"room": "r1", "role": "facilitator"})
    assert joined["room"]["you"]["role"] == "member"


async def test_secret_is_what_signs(server: Server) -> None:
    token = make_token("u", {"r1": "member"})
    client = await open_client(server.url, token)
    try:
        assert client.sio.connected
    finally:
        await client.sio.disconnect()
    assert len(SECRET) >= 32


async def test_a_token_that_expires_mid_meeting_ends_access(
    server: Server, connect: Connect
) -> None:
    from chatserver.app import SERVICE_KEY

    alex = await connect("alex", name="Alex")
    assert (await alex.call("join", {"room": "r1"}))["ok"] is True
    service = server.app[SERVICE_KEY]
    real_clock = service.clock
    service.clock = lambda: real_clock() + 2 * 3600 * 1000  # past the token's expiry
    try:
        refused = await alex.send("r1", "still here?")
        assert refused["ok"] is False
        assert refused["error"]["code"] == "unauthorized"
        assert "expired" in refused["error"]["message"]
        deadline = asyncio.get_running_loop().time() + 5
        while alex.sio.connected:
            assert asyncio.get_running_loop().time() < deadline, "connection not closed"
            await asyncio.sleep(0.02)
    finally:
        service.clock = real_clock
    # Nothing was appended for the refused send.
    sam = await connect("sam", name="Sam")
    joined = await sam.call("join", {"room": "r1"})
    assert joined["room"]["offset"] == 0


async def test_a_listener_whose_token_expires_is_closed_by_the_sweep(
    server: Server, connect: Connect
) -> None:
    from chatserver.app import SERVICE_KEY

    quiet = await connect("quiet", name="Quiet")  # reads, never sends
    fresh = await connect("fresh", name="Fresh")
    for client in (quiet, fresh):
        assert (await client.call("join", {"room": "r1"}))["ok"] is True
    service = server.app[SERVICE_KEY]
    real_clock = service.clock
    soon = real_clock() + 5 * 60 * 1000  # within the test tokens' 10 minutes
    service.clock = lambda: soon
    try:
        assert service.end_expired() == 0
        service.clock = lambda: real_clock() + 11 * 60 * 1000
        assert service.end_expired() == 2
    finally:
        service.clock = real_clock
    deadline = asyncio.get_running_loop().time() + 5
    while quiet.sio.connected or fresh.sio.connected:
        assert asyncio.get_running_loop().time() < deadline, "connections not closed"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("settings", [make_settings(leave_grace_s=0.6)])
async def test_a_dropped_connection_back_within_the_grace_keeps_presence_and_hand(
    connect: Connect,
) -> None:
    """A phone switching networks: the room sees no "left"/"joined" and the raised hand
    keeps its place; someone who does not come back has left once the grace is over."""
    sam = await connect("sam", {"r1": "facilitator"})
    alex = await connect("alex")
    cara = await connect("cara")
    for client in (sam, alex, cara):
        assert (await client.call("join", {"room": "r1"}))["ok"]
    assert (await alex.call("hand", {"room": "r1", "raised": True}))["hands"][0]["id"] == "alex"
    await alex.sio.disconnect()  # dropped, not a "leave"
    again = await connect("alex")
    joined = await again.call("join", {"room": "r1"})
    assert [h["id"] for h in joined["room"]["hands"]] == ["alex"]
    # Barrier: Cara drops after Alex's first connection did (its close went out before
    # Alex's new connection and join, several round trips) and does not come back. Her
    # grace timer started later and runs as long, and her "left" takes the route (the
    # room bus) that a wrong "left" for Alex would have taken before it.
    await cara.sio.disconnect()
    gone = await sam.wait_for("presence", lambda p: p.get("left", {}).get("id") == "cara")
    assert sorted(m["id"] for m in gone["members"]) == ["alex", "sam"]
    assert not [p for p in sam.got("presence") if p.get("left", {}).get("id") == "alex"]
    assert [h["id"] for h in (await sam.call("join", {"room": "r1"}))["room"]["hands"]] == ["alex"]
    await again.sio.disconnect()
    left = await sam.wait_for("presence", lambda p: p.get("left", {}).get("id") == "alex")
    assert [m["id"] for m in left["members"]] == ["sam"]
    lowered = await sam.wait_for("hand", lambda h: h.get("raised") is False)
    assert lowered["hands"] == []
