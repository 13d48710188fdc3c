import pytest

from moderation.context import MessageContext, RoomGate
from moderation.gate import GateStage
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Action, Verdict

NOW = 1_700_000_000.0


def check(gate: RoomGate, role: str = "member", sender: str = "ana") -> Verdict:
    ctx = MessageContext("room", sender, role, "hello", NOW, ModerationPolicy(), gate)
    return GateStage().check(ctx)


def test_an_open_room_lets_everyone_post() -> None:
    assert check(RoomGate()) is ALLOW


def test_muted_until_unmuted() -> None:
    verdict = check(RoomGate(muted=True))
    assert verdict.action is Action.BLOCK
    assert (verdict.rule, verdict.code, verdict.retry_after_s) == ("gate.muted", "muted", None)
    assert "muted" in verdict.reason


def test_muted_for_a_while_says_how_long() -> None:
    verdict = check(RoomGate(muted=True, muted_until=NOW + 300))
    assert (verdict.rule, verdict.code) == ("gate.muted", "muted")
    assert verdict.retry_after_s == pytest.approx(300)
    assert verdict.reason == "You are muted for 5 min more."


def test_an_expired_mute_no_longer_applies() -> None:
    assert check(RoomGate(muted=True, muted_until=NOW - 1)) is ALLOW
    assert check(RoomGate(muted=True, muted_until=NOW)) is ALLOW


@pytest.mark.parametrize(
    ("gate", "rule"),
    [
        (RoomGate(paused=True), "gate.paused"),
        (RoomGate(locked=True), "gate.locked"),
        (RoomGate(floor_user_id="ben"), "gate.floor"),
    ],
)
def test_locked_paused_and_floor_refuse_with_room_locked(gate: RoomGate, rule: str) -> None:
    verdict = check(gate)
    assert verdict.action is Action.BLOCK
    assert (verdict.rule, verdict.code) == (rule, "room_locked")
    assert verdict.reason


def test_the_member_with_the_floor_may_post() -> None:
    assert check(RoomGate(floor_user_id="ana"), sender="ana") is ALLOW


def test_mute_is_checked_first_like_rooms_policy() -> None:
    assert check(RoomGate(muted=True, locked=True, paused=True)).rule == "gate.muted"
    assert check(RoomGate(locked=True, paused=True)).rule == "gate.paused"


def test_facilitators_are_never_gated() -> None:
    gate = RoomGate(muted=True, locked=True, paused=True, floor_user_id="ben")
    assert check(gate, role="facilitator") is ALLOW


def test_room_gate_rejects_bad_slow_mode() -> None:
    with pytest.raises(ValueError, match="slow_mode_s"):
        RoomGate(slow_mode_s=-1)
    with pytest.raises(ValueError, match="slow_mode_s"):
        RoomGate(slow_mode_s=True)
