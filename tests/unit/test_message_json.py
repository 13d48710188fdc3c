"""A message's delivery and ack written from a template are the very text the compact
encoder writes (what every member's client reads), for any content; anything not of
the template's shape is left to the encoder."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver import message_json
from chatserver.fanout import Fanout
from chatserver.transport.gate import CompactJSON

ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)

# Any text a member can send or be called, quotes, controls, astral and non-Latin included
# (lone surrogates never get this far: chatserver/schema.py refuses them).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
INT = st.integers(min_value=-(2**63), max_value=2**63)


def message(room: str, msg_id: str, user: dict[str, Any], text: str, ts: int, cid: str,
            offset: int) -> dict[str, Any]:  # fmt: skip
    """As the bus delivers it: the stored body's order, the offset put back last."""
    return {"room": room, "id": msg_id, "user": user, "text": text, "ts": ts,
            "client_id": cid, "offset": offset}  # fmt: skip


USERS = st.builds(lambda i, n, r: {"id": i, "name": n, "role": r}, TEXT, TEXT, TEXT)
MESSAGES = st.builds(message, TEXT, TEXT, USERS, TEXT, INT, TEXT, INT)


@settings(max_examples=300)
@given(MESSAGES)
def test_a_message_event_is_the_encoders_text(entry: dict[str, Any]) -> None:
    assert message_json.message_event(entry) == ENCODER.encode(["message", entry])


@settings(max_examples=300)
@given(TEXT, INT, TEXT)
def test_a_message_ack_is_the_encoders_text(msg_id: str, offset: int, text: str) -> None:
    arguments = [{"ok": True, "id": msg_id, "offset": offset, "text": text}]
    assert message_json.message_ack(arguments) == CompactJSON.dumps(arguments)


def plain() -> dict[str, Any]:
    return message("r1", "0f3a", {"id": "u1", "name": "Zoë", "role": "member"}, "hi", 1, "c", 7)


def test_any_other_shape_is_left_to_the_encoder() -> None:
    assert message_json.message_event(plain()) is not None
    threaded = {**plain(), "thread": "u2"}
    reordered = {"offset": 7, **{k: v for k, v in plain().items() if k != "offset"}}
    bool_offset = {**plain(), "offset": True}
    float_ts = {**plain(), "ts": 1.5}
    odd_user = {**plain(), "user": {"id": "u1", "name": "Zoë", "role": "member", "x": 1}}
    none_text = {**plain(), "text": None}
    for entry in (threaded, reordered, bool_offset, float_ts, odd_user, none_text, [], None):
        assert message_json.message_event(entry) is None, entry
    ack = {"ok": True, "id": "0f3a", "offset": 7, "text": "hi"}
    assert message_json.message_ack([ack]) is not None
    others: list[Any] = [
        [ack, ack],
        [{"ok": True, "held": True, "text": "hi"}],
        [{**ack, "ok": 1}],
        [{**ack, "offset": None}],
        [],
        ack,
    ]
    for arguments in others:
        assert message_json.message_ack(arguments) is None, arguments


@given(MESSAGES)
@settings(max_examples=50)
def test_the_fanout_frame_of_a_message_is_unchanged(entry: dict[str, Any]) -> None:
    frame = Fanout.encode("message", entry)
    assert frame.text == "2" + ENCODER.encode(["message", entry])
    # Another event with the same payload goes through the encoder: the same text.
    assert Fanout.encode("message_copy", entry).text == frame.text.replace(
        '["message"', '["message_copy"', 1
    )
