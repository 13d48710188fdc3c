"""check_post / check_join: the refusals members see, with their codes and wording."""

import pytest

from rooms.policy import (
    RESTRICTING,
    Refusal,
    check_join,
    check_post,
    check_target,
    is_facilitator,
    may_show_typing,
)
from rooms.state import RoomState

NOW = 10_000_000


def test_only_the_facilitator_role_is_a_facilitator() -> None:
    assert is_facilitator("facilitator")
    assert not is_facilitator("member")
    assert not is_facilitator("Facilitator")


def test_an_open_room_lets_members_post() -> None:
    assert check_post(RoomState(), "u1", "member", NOW) is None


def test_facilitators_are_exempt_from_every_restriction() -> None:
    state = RoomState(
        locked=True,
        paused=True,
        slow_mode_s=60,
        floor="u2",
        mutes={"f1": None},
        last_post_ms={"f1": NOW},
    )
    assert check_post(state, "f1", "facilitator", NOW) is None


def test_muted_for_a_time_says_how_long_and_when_to_retry() -> None:
    state = RoomState(mutes={"u1": NOW + 30_000})
    refusal = check_post(state, "u1", "member", NOW)
    assert refusal is not None
    assert refusal.code == "muted"
    assert refusal.message == "You are muted for 30 s more."
    assert refusal.retry_after_s == pytest.approx(30.0)


def test_long_mutes_are_given_in_minutes() -> None:
    refusal = check_post(RoomState(mutes={"u1": NOW + 10 * 60_000}), "u1", "member", NOW)
    assert refusal is not None
    assert refusal.message == "You are muted for 10 min more."
    assert refusal.retry_after_s == pytest.approx(600.0)


def test_a_mute_with_under_a_second_left_still_says_one_second() -> None:
    refusal = check_post(RoomState(mutes={"u1": NOW + 200}), "u1", "member", NOW)
    assert refusal is not None
    assert refusal.message == "You are muted for 1 s more."
    assert refusal.retry_after_s == pytest.approx(0.2)


def test_muted_indefinitely_has_no_retry_time() -> None:
    refusal = check_post(RoomState(mutes={"u1": None}), "u1", "member", NOW)
    assert refusal == Refusal("muted", "A facilitator has muted you until they unmute you.", None)


def test_an_expired_mute_no_longer_blocks() -> None:
    state = RoomState(mutes={"u1": NOW})
    assert check_post(state, "u1", "member", NOW) is None


def test_another_members_mute_does_not_block_me() -> None:
    assert check_post(RoomState(mutes={"u2": None}), "u1", "member", NOW) is None


def test_paused_room() -> None:
    refusal = check_post(RoomState(paused=True), "u1", "member", NOW)
    assert refusal is not None
    assert refusal.code == "room_locked"
    assert "paused" in refusal.message
    assert refusal.retry_after_s is None


def test_locked_room() -> None:
    refusal = check_post(RoomState(locked=True), "u1", "member", NOW)
    assert refusal == Refusal("room_locked", "The room is locked: only facilitators can post.")


def test_mute_is_reported_before_lock() -> None:
    refusal = check_post(RoomState(locked=True, mutes={"u1": None}), "u1", "member", NOW)
    assert refusal is not None and refusal.code == "muted"


def test_floor_held_by_someone_else_blocks() -> None:
    refusal = check_post(RoomState(floor="u2"), "u1", "member", NOW)
    assert refusal is not None
    assert refusal.code == "room_locked"
    assert "floor" in refusal.message


def test_floor_held_by_me_lets_me_post() -> None:
    assert check_post(RoomState(floor="u1"), "u1", "member", NOW) is None


def test_floor_holder_is_still_bound_by_slow_mode() -> None:
    state = RoomState(floor="u1", slow_mode_s=10, last_post_ms={"u1": NOW - 1_000})
    refusal = check_post(state, "u1", "member", NOW)
    assert refusal is not None and refusal.code == "slow_mode"


def test_slow_mode_makes_a_member_wait_then_lets_them_post() -> None:
    state = RoomState(slow_mode_s=10, last_post_ms={"u1": NOW})
    refusal = check_post(state, "u1", "member", NOW + 4_000)
    assert refusal is not None
    assert refusal.code == "slow_mode"
    assert refusal.message == "Slow mode is on: you can post again in 6 s."
    assert refusal.retry_after_s == pytest.approx(6.0)
    assert check_post(state, "u1", "member", NOW + 9_999) is not None
    assert check_post(state, "u1", "member", NOW + 10_000) is None
    assert check_post(state, "u1", "member", NOW + 60_000) is None


def test_slow_mode_lets_a_first_post_through() -> None:
    state = RoomState(slow_mode_s=10, last_post_ms={"u2": NOW})
    assert check_post(state, "u1", "member", NOW) is None


def test_slow_mode_off_ignores_recent_posts() -> None:
    state = RoomState(slow_mode_s=0, last_post_ms={"u1": NOW})
    assert check_post(state, "u1", "member", NOW) is None


def test_join_needs_the_room_in_the_token() -> None:
    refusal = check_join({"r1": "member"}, "r2", "u1", RoomState())
    assert refusal is not None
    assert refusal.code == "forbidden"
    assert "invitation" in refusal.message
    assert check_join({"r1": "member"}, "r1", "u1", RoomState()) is None


def test_a_removed_member_cannot_rejoin() -> None:
    state = RoomState(removed={"u1"})
    refusal = check_join({"r1": "member"}, "r1", "u1", state)
    assert refusal is not None
    assert refusal.code == "forbidden"
    assert "removed" in refusal.message
    assert check_join({"r1": "member"}, "r1", "u2", state) is None


def test_a_facilitator_is_not_blocked_by_removal() -> None:
    state = RoomState(removed={"f1"})
    assert check_join({"r1": "facilitator"}, "r1", "f1", state) is None


def test_a_facilitator_still_needs_the_room_in_the_token() -> None:
    refusal = check_join({"r1": "facilitator"}, "r2", "f1", RoomState())
    assert refusal is not None and refusal.code == "forbidden"


def test_typing_shows_only_for_people_who_may_post() -> None:
    assert may_show_typing(RoomState(), "u1", "member", NOW)
    assert not may_show_typing(RoomState(mutes={"u1": NOW + 5_000}), "u1", "member", NOW)
    assert may_show_typing(RoomState(mutes={"u1": NOW - 1}), "u1", "member", NOW)  # ended
    assert not may_show_typing(RoomState(paused=True), "u1", "member", NOW)
    assert not may_show_typing(RoomState(floor="u2"), "u1", "member", NOW)
    assert may_show_typing(RoomState(floor="u1"), "u1", "member", NOW)
    # Slow mode: the message will come once the wait is over.
    slow = RoomState(slow_mode_s=60, last_post_ms={"u1": NOW})
    assert may_show_typing(slow, "u1", "member", NOW)
    assert may_show_typing(RoomState(locked=True), "f1", "facilitator", NOW)


# -- a facilitator acting on someone (issue 12, item 7) -----------------------------------


@pytest.mark.parametrize("action", ["mute", "remove", "floor"])
def test_a_co_facilitator_cannot_be_restricted_present_or_away(action: str) -> None:
    """The roster names everyone who has joined as a facilitator, so a co-facilitator who
    is away now (and so absent from presence) is still protected."""
    refusal = check_target(action, "sam", "kim", frozenset({"sam", "kim"}))
    assert refusal is not None and refusal.code == "forbidden"
    assert refusal.message == "Facilitators cannot be muted, removed or given the floor."


@pytest.mark.parametrize("action", ["mute", "unmute", "remove", "readmit", "floor"])
def test_members_may_be_acted_on_and_nobody_acts_on_themselves(action: str) -> None:
    assert check_target(action, "sam", "alex", frozenset({"sam"})) is None
    refusal = check_target(action, "sam", "sam", frozenset({"sam"}))
    assert refusal is not None and refusal.message == "You cannot do that to yourself."


@pytest.mark.parametrize("action", ["unmute", "readmit"])
def test_lifting_a_restriction_may_name_a_facilitator(action: str) -> None:
    assert check_target(action, "sam", "kim", frozenset({"sam", "kim"})) is None


def test_every_restricting_control_is_named() -> None:
    assert {"mute", "remove", "floor"} == RESTRICTING
