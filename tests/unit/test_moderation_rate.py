import math

import pytest

from moderation.context import MessageContext, RoomGate
from moderation.pipeline import Outcome, Pipeline, default_pipeline
from moderation.policy import ModerationPolicy
from moderation.rate import RateStage
from moderation.verdict import ALLOW, Action, Verdict

DEFAULT = ModerationPolicy()  # burst 5, one more message every 3 s


def send(
    stage: RateStage,
    now: float,
    sender: str = "ana",
    room: str = "mornings",
    role: str = "member",
    policy: ModerationPolicy = DEFAULT,
) -> Verdict:
    return stage.check(MessageContext(room, sender, role, "hi", now, policy))


def spend_burst(stage: RateStage, now: float, sender: str = "ana", room: str = "mornings") -> None:
    for _ in range(DEFAULT.rate_burst):
        assert send(stage, now, sender=sender, room=room) is ALLOW


def test_a_burst_is_allowed_then_the_sender_is_asked_to_wait() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    verdict = send(stage, 0.0)
    assert verdict.action is Action.BLOCK
    assert (verdict.code, verdict.rule) == ("rate_limited", "rate.limited")
    assert verdict.retry_after_s == pytest.approx(3.0)
    assert verdict.reason == (
        "You're sending messages quickly — please wait about 3 seconds, then send again."
    )


def test_tokens_refill_over_time() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    assert send(stage, 1.0).retry_after_s == pytest.approx(2.0)
    assert send(stage, 3.0) is ALLOW
    assert send(stage, 3.0).code == "rate_limited"
    # Idle long enough to refill completely: a full burst again, but not more.
    spend_burst(stage, 100.0)
    assert send(stage, 100.0).code == "rate_limited"


def test_waiting_exactly_the_retry_time_succeeds() -> None:
    policy = ModerationPolicy(rate_burst=1, rate_refill_per_s=0.7)
    stage = RateStage()
    now = 0.1
    assert send(stage, now, policy=policy) is ALLOW
    for _ in range(20):
        retry = send(stage, now, policy=policy).retry_after_s
        assert retry is not None
        now += retry
        assert send(stage, now, policy=policy) is ALLOW


def test_refused_messages_do_not_push_the_wait_back() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    for now in (0.5, 1.0, 2.0, 2.9):
        assert send(stage, now).code == "rate_limited"
    assert send(stage, 3.0) is ALLOW


def test_reason_tells_long_waits_in_minutes() -> None:
    policy = ModerationPolicy(rate_burst=1, rate_refill_per_s=1 / 300)
    stage = RateStage()
    send(stage, 0.0, policy=policy)
    assert "about 5 minutes" in send(stage, 0.0, policy=policy).reason
    assert "about 1 second," in send(stage, 299.5, policy=policy).reason


def test_facilitators_are_exempt_and_leave_no_state() -> None:
    stage = RateStage()
    for _ in range(100):
        assert send(stage, 0.0, role="facilitator") is ALLOW
    assert stage.tracked_count == 0


def test_rooms_and_members_have_separate_buckets() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0, room="mornings")
    assert send(stage, 0.0, room="mornings").code == "rate_limited"
    spend_burst(stage, 0.0, room="evenings")
    spend_burst(stage, 0.0, room="mornings", sender="ben")


def test_a_room_policy_with_a_smaller_burst_applies_at_once() -> None:
    stage = RateStage()
    send(stage, 0.0)
    # 4 tokens left under the default policy; a burst of 2 caps them at 2.
    strict = ModerationPolicy(rate_burst=2)
    assert send(stage, 0.0, policy=strict) is ALLOW
    assert send(stage, 0.0, policy=strict) is ALLOW
    assert send(stage, 0.0, policy=strict).code == "rate_limited"


def test_a_clock_stepping_back_neither_drains_nor_refills() -> None:
    stage = RateStage()
    spend_burst(stage, 10.0)
    assert send(stage, 5.0).code == "rate_limited"
    assert send(stage, 12.9).code == "rate_limited"
    assert send(stage, 13.0) is ALLOW


def rules(verdicts: list[Verdict]) -> list[str]:
    return [verdict.rule for verdict in verdicts]


def test_flood_alert_fires_once_per_window() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    first = [send(stage, 0.1 * i) for i in range(20)]
    assert {verdict.code for verdict in first} == {"rate_limited"}
    # More than rate_flag_after (5) refusals: the sixth raises the alert, once.
    assert rules(first) == ["rate.limited"] * 5 + ["rate.flood"] + ["rate.limited"] * 14
    # Still flooding a window later: facilitators are alerted again, once.
    later = [send(stage, 60.0 + 0.1 * i) for i in range(20)]
    assert rules(later).count("rate.flood") == 1


def test_refusals_spread_wider_than_the_window_raise_no_alert() -> None:
    policy = ModerationPolicy(rate_burst=1, rate_refill_per_s=1 / 1000)
    stage = RateStage()
    send(stage, 0.0, policy=policy)
    verdicts = [send(stage, 15.0 * i, policy=policy) for i in range(1, 30)]
    assert set(rules(verdicts)) == {"rate.limited"}


def test_facilitator_refusals_never_flood() -> None:
    stage = RateStage()
    assert all(send(stage, 0.0, role="facilitator") is ALLOW for _ in range(50))


def test_prune_forgets_idle_members() -> None:
    stage = RateStage()
    for i in range(10_000):
        send(stage, 0.0, sender=f"member-{i}")
    assert stage.tracked_count == 10_000
    assert stage.prune(1000.0) == 10_000
    assert stage.tracked_count == 0


def test_idle_members_are_forgotten_without_calling_prune() -> None:
    stage = RateStage()
    for i in range(10_000):
        send(stage, 0.0, sender=f"member-{i}")
    for _ in range(10_001):
        send(stage, 1000.0, sender="still-talking")
    assert stage.tracked_count == 1


def test_memory_stays_bounded_as_members_come_and_go() -> None:
    stage = RateStage()
    largest = 0
    for i in range(30_000):
        # A new member every 0.1 s, each going quiet after one message.
        send(stage, 0.1 * i, sender=f"member-{i}")
        largest = max(largest, stage.tracked_count)
    # ~30 members are mid-refill at any time; the rest is at most one prune period.
    assert largest <= 1024 + 60


def test_prune_keeps_a_bucket_that_is_still_refilling() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    assert stage.prune(1.0) == 0
    assert send(stage, 1.0).retry_after_s == pytest.approx(2.0)


def test_prune_keeps_recent_refusals_so_a_flood_is_still_seen() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    assert rules([send(stage, 0.0) for _ in range(5)]) == ["rate.limited"] * 5
    # At 20 s the bucket is full again, but the refusals are inside the 60 s window.
    assert stage.prune(20.0) == 0
    spend_burst(stage, 20.0)
    assert send(stage, 20.0).rule == "rate.flood"
    # Once the window has passed since the alert, nothing is left worth keeping.
    assert stage.prune(20.0 + DEFAULT.rate_flag_window_s) == 1


def test_prune_after_forgetting_behaves_like_a_new_member() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    stage.prune(math.inf)
    assert stage.tracked_count == 0
    spend_burst(stage, 1.0)  # a fresh bucket: full burst


def test_prune_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="prune_every"):
        RateStage(prune_every=0)


# -- slow mode: a room rule the gate refuses before the rate stage runs -------------------

SLOW = RoomGate(slow_mode_s=30, last_post_at=100.0)


def through_pipeline(
    pipeline: Pipeline, now: float, gate: RoomGate, role: str = "member"
) -> Outcome:
    return pipeline.run(MessageContext("mornings", "ana", role, "hi", now, DEFAULT, gate))


def test_slow_mode_refuses_until_the_interval_has_passed() -> None:
    pipeline = default_pipeline()
    refused = through_pipeline(pipeline, 110.0, SLOW).blocked_by
    assert refused is not None
    assert (refused.rule, refused.code) == ("gate.slow_mode", "slow_mode")
    assert refused.retry_after_s == pytest.approx(20.0)
    assert through_pipeline(pipeline, 130.0, SLOW).action is Action.ALLOW


def test_slow_mode_refusals_spend_no_rate_tokens() -> None:
    pipeline = default_pipeline()
    for _ in range(10):
        assert through_pipeline(pipeline, 110.0, SLOW).blocked_by is not None
    # The whole burst is still there once the interval has passed (no slow mode now).
    for i in range(DEFAULT.rate_burst):
        outcome = through_pipeline(pipeline, 130.0 + i * 0.01, RoomGate())
        assert outcome.action is Action.ALLOW, outcome


def test_slow_mode_without_a_previous_post_lets_the_first_one_through() -> None:
    assert (
        through_pipeline(default_pipeline(), 0.0, RoomGate(slow_mode_s=30)).action is Action.ALLOW
    )


def test_facilitators_are_exempt_from_slow_mode() -> None:
    outcome = through_pipeline(default_pipeline(), 110.0, SLOW, role="facilitator")
    assert outcome.action is Action.ALLOW


def test_the_rate_stage_leaves_slow_mode_to_the_gate() -> None:
    assert (
        RateStage().check(MessageContext("mornings", "ana", "member", "hi", 110.0, DEFAULT, SLOW))
        is ALLOW
    )


def test_the_flood_alert_is_marked_for_facilitators() -> None:
    stage = RateStage()
    spend_burst(stage, 0.0)
    verdicts = [send(stage, 0.1 * i) for i in range(6)]
    assert verdicts[-1].rule == "rate.flood"
    assert verdicts[-1].alert == "flood"
    assert all(v.alert == "" for v in verdicts[:-1])
    # The member is told to wait; the facilitators read what happened, not "You're ...".
    assert verdicts[-1].reason.startswith("You're sending messages quickly")
    assert verdicts[-1].for_facilitators.startswith("Kept sending faster than the room allows")
