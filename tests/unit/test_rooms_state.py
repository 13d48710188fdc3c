"""RoomState as a fold over logged events."""

from typing import Any

import pytest

from rooms.entries import Entry, message_entry, room_event, user_info
from rooms.meeting import new_meeting
from rooms.state import RoomState, apply_event

SAM = user_info("f1", "Sam", "facilitator")
ALEX = user_info("u1", "Alex", "member")
NOW = 1_000_000


def event(kind: str, **fields: Any) -> Entry:
    return room_event(room="r1", kind=kind, by=SAM, ts=NOW, **fields)


def fold(*entries: Entry, now_ms: int = NOW) -> RoomState:
    state = RoomState()
    for entry in entries:
        apply_event(state, entry, now_ms)
    return state


def test_a_new_room_is_open() -> None:
    state = RoomState()
    assert state.summary() == {
        "locked": False,
        "paused": False,
        "slow_mode_s": 0,
        "floor": None,
        "pinned": [],
        "meeting": new_meeting(),
        "reactions": {},
    }
    assert state.summary()["meeting"]["status"] == "none"  # no session: a plain room
    assert state.muted_until("u1", NOW) == 0


def test_locked_and_unlocked() -> None:
    state = fold(event("locked", locked=True))
    assert state.locked is True
    apply_event(state, event("locked", locked=False), NOW)
    assert state.locked is False


def test_paused_and_resumed() -> None:
    state = fold(event("paused", paused=True))
    assert state.paused is True
    assert state.summary()["paused"] is True
    apply_event(state, event("paused", paused=False), NOW)
    assert state.paused is False


def test_slow_mode_set_and_cleared() -> None:
    state = fold(event("slow_mode", slow_mode_s=30))
    assert state.slow_mode_s == 30
    assert state.summary()["slow_mode_s"] == 30
    apply_event(state, event("slow_mode", slow_mode_s=0), NOW)
    assert state.slow_mode_s == 0


def test_floor_given_and_released() -> None:
    state = fold(event("floor", user_id="u1"))
    assert state.floor == "u1"
    apply_event(state, event("floor", user_id=None), NOW)
    assert state.floor is None
    apply_event(state, event("floor", user_id="u2"), NOW)
    apply_event(state, event("floor"), NOW)
    assert state.floor is None


def test_muted_until_a_time_then_the_mute_ends_on_its_own() -> None:
    state = fold(event("muted", user_id="u1", until=NOW + 60_000))
    assert state.muted_until("u1", NOW) == NOW + 60_000
    assert state.muted_until("u1", NOW + 59_999) == NOW + 60_000
    assert state.muted_until("u1", NOW + 60_000) == 0
    assert state.muted_until("u2", NOW) == 0


def test_muted_indefinitely_until_unmuted() -> None:
    state = fold(event("muted", user_id="u1", until=None))
    assert state.muted_until("u1", NOW) is None
    assert state.muted_until("u1", NOW + 10**12) is None
    apply_event(state, event("unmuted", user_id="u1"), NOW)
    assert state.muted_until("u1", NOW) == 0
    assert "u1" not in state.mutes


def test_muted_without_until_field_is_indefinite() -> None:
    state = fold(event("muted", user_id="u1"))
    assert state.muted_until("u1", NOW) is None


def test_unmuting_someone_not_muted_is_harmless() -> None:
    state = fold(event("unmuted", user_id="u1"))
    assert state.mutes == {}


def test_a_later_mute_replaces_the_earlier_one() -> None:
    state = fold(
        event("muted", user_id="u1", until=None),
        event("muted", user_id="u1", until=NOW + 5_000),
    )
    assert state.muted_until("u1", NOW) == NOW + 5_000


def test_expired_mutes_are_dropped_when_the_next_event_is_applied() -> None:
    state = fold(
        event("muted", user_id="u1", until=NOW + 1_000),
        event("muted", user_id="u2", until=None),
        event("muted", user_id="u3", until=NOW + 50_000),
    )
    assert set(state.mutes) == {"u1", "u2", "u3"}
    apply_event(state, event("locked", locked=True), NOW + 1_000)
    assert state.mutes == {"u2": None, "u3": NOW + 50_000}


def test_a_mute_already_over_when_applied_is_not_kept() -> None:
    state = fold(event("muted", user_id="u1", until=NOW - 1))
    assert state.mutes == {}
    assert state.muted_until("u1", NOW) == 0


def test_pins_in_pin_order_and_unpin() -> None:
    m1 = {"id": "m1", "text": "welcome"}
    m2 = {"id": "m2", "text": "breathing exercise"}
    state = fold(event("pinned", id="m2", entry=m2), event("pinned", id="m1", entry=m1))
    assert state.summary()["pinned"] == [m2, m1]
    apply_event(state, event("unpinned", id="m2"), NOW)
    assert state.summary()["pinned"] == [m1]
    apply_event(state, event("unpinned", id="m-unknown"), NOW)
    assert state.summary()["pinned"] == [m1]


def test_deleting_a_pinned_message_removes_the_pin() -> None:
    m1 = {"id": "m1", "text": "welcome"}
    state = fold(event("pinned", id="m1", entry=m1), event("deleted", id="m1"))
    assert state.pins == {}
    assert state.summary()["pinned"] == []
    # Deleting an unpinned message is harmless.
    apply_event(state, event("deleted", id="m9"), NOW)
    assert state.pins == {}


def test_removed_and_readmitted() -> None:
    state = fold(event("removed", user_id="u1"), event("removed", user_id="u2"))
    assert state.removed == {"u1", "u2"}
    apply_event(state, event("readmitted", user_id="u1"), NOW)
    assert state.removed == {"u2"}
    apply_event(state, event("readmitted", user_id="u9"), NOW)
    assert state.removed == {"u2"}


def test_a_message_records_the_senders_last_post_time() -> None:
    state = RoomState()
    for ts in (1_000, 4_000):
        entry = message_entry(
            room="r1", msg_id=f"m{ts}", user=ALEX, text="hi", ts=ts, client_id="c"
        )
        apply_event(state, entry, ts)
    assert state.last_post_ms == {"u1": 4_000}
    assert state.summary()["locked"] is False


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("locked", {"locked": True}),
        ("slow_mode", {"slow_mode_s": 5}),
        ("removed", {"user_id": "u1"}),
    ],
)
def test_events_do_not_touch_last_post_times(kind: str, fields: dict[str, Any]) -> None:
    state = fold(event(kind, **fields))
    assert state.last_post_ms == {}
