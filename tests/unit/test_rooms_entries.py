"""The wire shapes of log entries: messages and logged room events."""

import pytest

from rooms.entries import (
    EVENT_KINDS,
    MESSAGE,
    ROOM_EVENT,
    event_name,
    is_message,
    message_entry,
    room_event,
    user_info,
)

ALEX = user_info("u1", "Alex", "member")
SAM = user_info("f1", "Sam", "facilitator")


def test_message_entry_has_the_flat_wire_shape_with_no_offset_yet() -> None:
    entry = message_entry(room="r1", msg_id="m1", user=ALEX, text="hi", ts=5, client_id="c1")
    assert entry == {
        "room": "r1",
        "id": "m1",
        "offset": 0,
        "user": {"id": "u1", "name": "Alex", "role": "member"},
        "text": "hi",
        "ts": 5,
        "client_id": "c1",
    }
    assert is_message(entry)
    assert event_name(entry) == MESSAGE == "message"


def test_room_event_carries_kind_by_and_extra_fields() -> None:
    entry = room_event(room="r1", kind="muted", by=SAM, ts=7, user_id="u1", until=None)
    assert entry == {
        "room": "r1",
        "offset": 0,
        "kind": "muted",
        "by": SAM,
        "ts": 7,
        "user_id": "u1",
        "until": None,
    }
    assert not is_message(entry)
    assert event_name(entry) == ROOM_EVENT == "room_event"


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_every_logged_kind_is_accepted(kind: str) -> None:
    assert room_event(room="r1", kind=kind, by=SAM, ts=1)["kind"] == kind


@pytest.mark.parametrize("kind", ["typing", "presence", "hand", "", "Deleted", "message"])
def test_room_event_rejects_an_unknown_kind(kind: str) -> None:
    with pytest.raises(ValueError, match="unknown room event kind"):
        room_event(room="r1", kind=kind, by=SAM, ts=1)


def test_the_design_kinds_are_all_loggable() -> None:
    design = {"deleted", "pinned", "unpinned", "muted", "unmuted", "locked", "slow_mode"}
    assert design | {"removed", "floor"} <= EVENT_KINDS
