"""Client payload validation: every shape problem is an error ack naming the field."""

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver import schema
from chatserver.errors import ServiceError
from chatserver.meeting_schema import parse_round
from chatserver.schema import (
    MAX_OFFSET,
    FlagRequest,
    JoinRequest,
    MessageRequest,
    RoomRequest,
    parse_flag,
    parse_join,
    parse_message,
    parse_message_ref,
    parse_room,
    parse_target,
)
from rooms.recovery import Since

CID = "2f1c5c9e-8d2b-4c1e-9d8a-1b2c3d4e5f60"
NOT_OBJECTS = [None, "r1", 1, 1.5, True, ["r1"], ("r1",)]


def code(fn: Any, *args: Any) -> str:
    with pytest.raises(ServiceError) as info:
        fn(*args)
    assert info.value.ack()["ok"] is False
    return info.value.code


def message(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"room": "r1", "text": "hello", "client_id": CID}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not ...}


# --- room ids (shared by every parser) ---------------------------------------------------


@pytest.mark.parametrize("room", ["r1", "A", "group-2024.tuesday:evening_1", "x" * 64, "9"])
def test_valid_room_ids(room: str) -> None:
    assert parse_room({"room": room}) == RoomRequest(room)


@pytest.mark.parametrize(
    "room",
    [
        "",
        "x" * 65,
        "has space",
        "-starts-with-dash",
        "_underscore-first",
        "slash/room",
        "{r1}",
        "r1*",
        "émoji",
        "r1\nr2",
        "\nr1",
        "r1\x00",
        None,
        1,
        ["r1"],
    ],
)
def test_bad_room_ids_are_invalid_payload(room: Any) -> None:
    assert code(parse_room, {"room": room}) == "invalid_payload"


def test_a_trailing_newline_is_not_part_of_a_valid_room_id() -> None:
    # `$` in a Python regex also matches before a final newline, so "r1\n" would pass
    # as a different room from "r1" (and reach the Redis key names).
    with pytest.raises(ServiceError) as info:
        parse_room({"room": "r1\n"})
    assert info.value.code == "invalid_payload"


def test_missing_room() -> None:
    assert code(parse_room, {}) == "invalid_payload"
    with pytest.raises(ServiceError, match="`room`"):
        parse_room({})


@pytest.mark.parametrize("data", NOT_OBJECTS)
def test_payload_must_be_an_object(data: Any) -> None:
    for fn, args in [
        (parse_room, (data,)),
        (parse_join, (data,)),
        (parse_message, (data, 2000)),
        (parse_flag, (data, "active")),
    ]:
        with pytest.raises(ServiceError, match="must be an object") as info:
            fn(*args)  # type: ignore[operator]
        assert info.value.code == "invalid_payload"


def test_unknown_extra_fields_are_ignored() -> None:
    assert parse_room({"room": "r1", "role": "facilitator"}) == RoomRequest("r1")


# --- join -------------------------------------------------------------------------------


def test_join_without_since() -> None:
    assert parse_join({"room": "r1"}) == JoinRequest("r1", None)
    assert parse_join({"room": "r1", "since": None}) == JoinRequest("r1", None)


@pytest.mark.parametrize("offset", [0, 1, 41, MAX_OFFSET])
def test_join_with_since(offset: int) -> None:
    req = parse_join({"room": "r1", "since": {"offset": offset, "epoch": "e1"}})
    assert req == JoinRequest("r1", Since(offset=offset, epoch="e1"))


@pytest.mark.parametrize(
    "offset", [True, False, -1, MAX_OFFSET + 1, 2**64, 1.0, 1.5, "3", None, [3]]
)
def test_join_bad_offset(offset: Any) -> None:
    data = {"room": "r1", "since": {"offset": offset, "epoch": "e1"}}
    with pytest.raises(ServiceError, match=r"since\.offset") as info:
        parse_join(data)
    assert info.value.code == "invalid_payload"


def test_join_missing_offset() -> None:
    assert code(parse_join, {"room": "r1", "since": {"epoch": "e1"}}) == "invalid_payload"


@pytest.mark.parametrize("epoch", ["", "e" * 65, None, 5, ["e1"]])
def test_join_bad_epoch(epoch: Any) -> None:
    data = {"room": "r1", "since": {"offset": 1, "epoch": epoch}}
    with pytest.raises(ServiceError, match=r"since\.epoch") as info:
        parse_join(data)
    assert info.value.code == "invalid_payload"


def test_join_missing_epoch() -> None:
    assert code(parse_join, {"room": "r1", "since": {"offset": 1}}) == "invalid_payload"


@pytest.mark.parametrize("since", [5, "5", [5, "e1"], True])
def test_join_since_must_be_an_object(since: Any) -> None:
    with pytest.raises(ServiceError, match="`since`") as info:
        parse_join({"room": "r1", "since": since})
    assert info.value.code == "invalid_payload"


def test_join_bad_room() -> None:
    assert code(parse_join, {"room": "bad room"}) == "invalid_payload"
    assert code(parse_join, {"since": {"offset": 1, "epoch": "e"}}) == "invalid_payload"


# --- message ----------------------------------------------------------------------------


def test_message_valid() -> None:
    assert parse_message(message(), 2000) == MessageRequest("r1", "hello", CID)


def test_message_client_id_is_normalised_to_lower_case() -> None:
    req = parse_message(message(client_id=CID.upper()), 2000)
    assert req.client_id == CID


def test_message_text_is_passed_through_untouched() -> None:
    text = "  two\nlines \u200b "
    assert parse_message(message(text=text), 2000).text == text


def test_message_empty_text_is_left_to_the_pipeline() -> None:
    assert parse_message(message(text=""), 2000).text == ""


@pytest.mark.parametrize("text", [None, 5, ["hi"], {"t": "hi"}, True, ...])
def test_message_text_must_be_a_string(text: Any) -> None:
    with pytest.raises(ServiceError, match="`text`") as info:
        parse_message(message(text=text), 2000)
    assert info.value.code == "invalid_payload"


def test_message_huge_text_is_too_long() -> None:
    with pytest.raises(ServiceError) as info:
        parse_message(message(text="x" * 1_000_000), 2000)
    assert info.value.code == "too_long"
    assert "2000" in info.value.message


def test_message_text_limit_is_twice_max_chars_for_the_pipeline_to_judge() -> None:
    assert parse_message(message(text="x" * 20), 10).text == "x" * 20
    assert code(parse_message, message(text="x" * 21), 10) == "too_long"


@pytest.mark.parametrize(
    "client_id",
    [
        "",
        "not-a-uuid",
        "2f1c5c9e-8d2b-4c1e-9d8a-1b2c3d4e5f6",
        "2f1c5c9e-8d2b-4c1e-9d8a-1b2c3d4e5f60-extra",
        "x" * 65,
        None,
        123,
        ...,
    ],
)
def test_message_client_id_must_be_a_uuid(client_id: Any) -> None:
    with pytest.raises(ServiceError, match="client_id") as info:
        parse_message(message(client_id=client_id), 2000)
    assert info.value.code == "invalid_payload"


def test_message_accepts_a_fresh_uuid4() -> None:
    cid = str(uuid.uuid4())
    assert parse_message(message(client_id=cid), 2000).client_id == cid


def test_message_bad_room() -> None:
    assert code(parse_message, message(room="a b"), 2000) == "invalid_payload"
    assert code(parse_message, message(room=...), 2000) == "invalid_payload"


# --- typing / hand ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["active", "raised"])
@pytest.mark.parametrize("value", [True, False])
def test_flags(key: str, value: bool) -> None:
    assert parse_flag({"room": "r1", key: value}, key) == FlagRequest("r1", value)


@pytest.mark.parametrize("value", [1, 0, "true", None, [True]])
def test_flag_must_be_a_real_boolean(value: Any) -> None:
    with pytest.raises(ServiceError, match="`raised`") as info:
        parse_flag({"room": "r1", "raised": value}, "raised")
    assert info.value.code == "invalid_payload"


def test_flag_missing() -> None:
    assert code(parse_flag, {"room": "r1"}, "active") == "invalid_payload"
    assert code(parse_flag, {"room": "r 1", "active": True}, "active") == "invalid_payload"


# --- every string is valid text (issue 12, item 8) ---------------------------------------

LONE = "\ud800"  # a lone surrogate: JSON may carry it ("\ud800"), no UTF-8 encoder takes it


def refusal(fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(ServiceError) as info:
        fn(*args, **kw)
    assert info.value.code == "invalid_payload"
    return info.value.message


@pytest.mark.parametrize(
    ("fn", "payload", "field"),
    [
        (parse_message_ref, {"room": "r1", "id": "m1", "reason": f"spam{LONE}"}, "reason"),
        (parse_message_ref, {"room": "r1", "id": f"m{LONE}"}, "id"),
        (parse_target, {"room": "r1", "user_id": "alex", "reason": LONE}, "reason"),
        (parse_target, {"room": "r1", "user_id": f"al{LONE}ex"}, "user_id"),
        (parse_join, {"room": "r1", "since": {"offset": 1, "epoch": f"e{LONE}"}}, "since.epoch"),
        (parse_join, {"room": "r1", "held": [CID, LONE]}, "held[1]"),
        (parse_room, {"room": LONE}, "room"),
        (parse_flag, {"room": "r1", "active": True, "extra": [LONE]}, "extra[0]"),
    ],
)
def test_a_lone_surrogate_anywhere_is_refused_naming_the_field(
    fn: Any, payload: dict[str, Any], field: str
) -> None:
    kw = {"key": "active"} if fn is parse_flag else {}
    assert refusal(fn, payload, **kw).startswith(f"`{field}` must be valid text")


def test_a_lone_surrogate_in_a_field_name_is_refused() -> None:
    assert "field name" in refusal(parse_room, {"room": "r1", LONE: 1})


def test_a_message_text_keeps_its_words_for_the_shape_stage_to_repair() -> None:
    """A client that cut an emoji in half still gets its words through: the shape stage
    removes the lone surrogate (docs/moderation.md) instead of the message being refused."""
    req = parse_message(message(text=f"it hurts today {LONE}"), 2000)
    assert req.text == f"it hurts today {LONE}"
    assert refusal(parse_message, message(client_id=CID, extra=LONE), 2000).startswith("`extra`")


def test_valid_text_in_any_script_passes() -> None:
    text = "今日は 👋🏽 café, ça va"
    assert (
        parse_message_ref({"room": "r1", "id": "m1", "reason": text}, approve=False).reason == text
    )


def test_the_walk_is_bounded_whatever_is_sent() -> None:
    assert "too many parts" in refusal(parse_room, {"room": "r1", "x": [[0]] * 5000})


# --- a round's per-share time ----------------------------------------------------------


@pytest.mark.parametrize("share_s", [0, 30, 60, 90, 120, 150, 1800])
def test_a_round_takes_shares_in_30_s_steps_from_30_s(share_s: int) -> None:
    assert parse_round({"room": "r1", "share_s": share_s}).share_s == share_s


@pytest.mark.parametrize("share_s", [-30, 1801, 90.5, 30.0, "90", True, None])
def test_a_share_time_that_is_not_whole_seconds_up_to_30_min_is_invalid(share_s: Any) -> None:
    assert code(parse_round, {"room": "r1", "share_s": share_s}) == "invalid_payload"


# Any JSON a client can send, lone surrogates included (JSON carries them as \ud800).
_ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=4) | st.sampled_from(
    ["text", "room", "a\ud800", "\udfff", "ok"]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _outcome(data: Any, repaired: str | None) -> object:
    try:
        return schema._object(data, repaired=repaired)
    except ServiceError as exc:
        return (exc.code, exc.message)


@settings(max_examples=200)
@given(st.dictionaries(_ANY_TEXT, _JSON, max_size=5), st.sampled_from([None, "text"]))
def test_a_flat_payload_is_checked_as_the_walk_checks_it(data: Any, repaired: str | None) -> None:
    """The shortcut for flat objects answers exactly what the walk answers."""
    with_shortcut = _outcome(data, repaired)
    original = schema._flat_text
    schema._flat_text = lambda *_: False  # type: ignore[assignment]
    try:
        walked = _outcome(data, repaired)
    finally:
        schema._flat_text = original
    assert with_shortcut == walked
