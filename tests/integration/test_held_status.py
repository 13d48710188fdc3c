"""A member away while their held message was reviewed learns the outcome on rejoin.

`join {held: [client_id…]}` answers `held_status` for the joiner's own held messages only:
"waiting", "shared" or "not_shared". Parametrized over the memory backend and the Redis
backend with two workers (the facilitator on worker A, members on worker B).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chatserver.errors import ServiceError
from chatserver.schema import MAX_HELD_QUERY, JoinRequest, parse_join
from tests.conftest import Client
from tests.two_workers import Room

# Each of these is held for a facilitator (contact details plus selling medication).
HELD_TEXTS = (
    "selling my leftover oxycodone, whatsapp me on 07700 900123",
    "anyone want my spare tramadol? text me on 07700 900456",
    "got extra gabapentin to sell, call 07700 900789",
)


async def hold(room: Room, client: Client, text: str) -> tuple[str, str]:
    """Send a message that moderation holds; returns (client_id, held message id)."""
    client_id = str(uuid.uuid4())
    ack = await client.send("r1", text, client_id)
    assert ack["ok"] and ack["held"] is True, ack
    alert = await room.sam.wait_for(
        "alert", lambda a: a["kind"] == "held" and a["entry"]["client_id"] == client_id
    )
    return client_id, alert["entry"]["id"]


async def review(room: Room, msg_id: str, approve: bool) -> None:
    ack = await room.sam.call("review", {"room": "r1", "id": msg_id, "approve": approve})
    assert ack["ok"], ack


async def test_outcomes_reviewed_while_away_reach_the_rejoining_member(room: Room) -> None:
    denied, denied_id = await hold(room, room.alex, HELD_TEXTS[0])
    approved, approved_id = await hold(room, room.alex, HELD_TEXTS[1])
    waiting, _ = await hold(room, room.alex, HELD_TEXTS[2])
    beas, _ = await hold(room, room.bea, HELD_TEXTS[0])
    await room.alex.sio.disconnect()  # the tab is closed: no notice can reach Alex
    await review(room, denied_id, approve=False)
    await review(room, approved_id, approve=True)

    back = await room.member("alex")
    unknown = str(uuid.uuid4())
    ack = await back.call(
        "join", {"room": "r1", "held": [denied, approved, waiting, beas, unknown]}
    )
    assert ack["ok"], ack
    assert ack["held_status"] == {
        denied: "not_shared",
        approved: "shared",
        waiting: "waiting",
    }  # Bea's message and an unknown client_id are left out
    # The approved copy is in the log, under the same client_id.
    logged = [e for e in ack["entries"] if e.get("client_id") == approved]
    assert [e["id"] for e in logged] == [approved_id]
    assert not [e for e in ack["entries"] if e.get("client_id") in (denied, waiting, beas)]


async def test_only_the_author_learns_about_a_held_message(room: Room) -> None:
    beas, beas_id = await hold(room, room.bea, HELD_TEXTS[0])
    # Neither another member nor a facilitator gets an answer about Bea's message.
    for client in (room.alex, room.sam):
        ack = await client.call("join", {"room": "r1", "held": [beas]})
        assert ack["ok"] and ack["held_status"] == {}
    await review(room, beas_id, approve=False)
    assert (await room.alex.call("join", {"room": "r1", "held": [beas]}))["held_status"] == {}
    mine = await room.bea.call("join", {"room": "r1", "held": [beas, beas]})
    assert mine["held_status"] == {beas: "not_shared"}


async def test_held_status_answers_the_client_id_as_sent(room: Room) -> None:
    cid, _ = await hold(room, room.alex, HELD_TEXTS[0])
    upper = cid.upper()
    ack = await room.alex.call("join", {"room": "r1", "held": [upper]})
    assert ack["held_status"] == {upper: "waiting"}


async def test_join_without_held_still_works(room: Room) -> None:
    ack = await room.alex.call("join", {"room": "r1"})
    assert ack["ok"] and ack["held_status"] == {}
    ack = await room.alex.call("join", {"room": "r1", "held": []})
    assert ack["ok"] and ack["held_status"] == {}
    ack = await room.alex.call("join", {"room": "r1", "held": None})
    assert ack["ok"] and ack["held_status"] == {}


BAD_HELD: list[Any] = [
    "3b8f0a9e-2f7c-4e0e-9a43-6a1b2b0c4d5e",  # not a list
    {"id": "x"},
    5,
    True,
    [5],
    [None],
    [""],
    ["not-a-uuid"],
    ["x" * 65],
    [["3b8f0a9e-2f7c-4e0e-9a43-6a1b2b0c4d5e"]],
    [str(uuid.uuid4()) for _ in range(MAX_HELD_QUERY + 1)],
]


@pytest.mark.parametrize("held", BAD_HELD)
async def test_bad_held_is_invalid_payload(room: Room, held: Any) -> None:
    ack = await room.alex.call("join", {"room": "r1", "held": held})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload", ack
    assert "held" in ack["error"]["message"]
    # The connection is fine afterwards.
    assert (await room.alex.call("join", {"room": "r1"}))["ok"]


# --- schema -------------------------------------------------------------------------------


def test_parse_join_held() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert parse_join({"room": "r1"}) == JoinRequest("r1", None)
    assert parse_join({"room": "r1", "held": [a, b, a]}).held == ((a, a), (b, b))
    assert parse_join({"room": "r1", "held": [a.upper()]}).held == ((a.upper(), a),)
    full = [str(uuid.uuid4()) for _ in range(MAX_HELD_QUERY)]
    assert len(parse_join({"room": "r1", "held": full}).held) == MAX_HELD_QUERY


@pytest.mark.parametrize("held", BAD_HELD)
def test_parse_join_bad_held(held: Any) -> None:
    with pytest.raises(ServiceError, match="held") as info:
        parse_join({"room": "r1", "held": held})
    assert info.value.code == "invalid_payload"
