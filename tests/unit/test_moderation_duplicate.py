import pytest

from moderation.context import MessageContext
from moderation.duplicate import DuplicateStage
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Action, Verdict

DEFAULT = ModerationPolicy()
LONG = "does anyone know if the warm water pool is open on thursday this week?"


def send(
    stage: DuplicateStage,
    text: str,
    now: float,
    sender: str = "ana",
    room: str = "mornings",
    role: str = "member",
    policy: ModerationPolicy = DEFAULT,
    accepted: bool = True,
) -> Verdict:
    """Judge a message; unless refused (or ``accepted`` is False: it never reached the
    log), remember it, as the service does once the append or the hold succeeded."""
    verdict, memo = stage.judge(MessageContext(room, sender, role, text, now, policy))
    if accepted and verdict.action is not Action.BLOCK and memo is not None:
        stage.remember(memo)
    return verdict


def test_the_same_member_repeating_within_a_minute_is_refused() -> None:
    stage = DuplicateStage()
    assert send(stage, LONG, 0.0) is ALLOW
    verdict = send(stage, LONG, 30.0)
    assert verdict.action is Action.BLOCK
    assert (verdict.rule, verdict.code) == ("duplicate.repeat", "duplicate")
    assert send(stage, LONG, 60.0) is ALLOW  # the window has passed


def test_repeats_are_compared_on_the_canonical_text() -> None:
    stage = DuplicateStage()
    assert send(stage, LONG, 0.0) is ALLOW
    disguised = "DOES anyone know if the warm w\u200bater pool is open on thursday this week???"
    assert send(stage, disguised, 1.0).code == "duplicate"


def test_retrying_a_refused_copy_does_not_push_the_window_back() -> None:
    stage = DuplicateStage()
    send(stage, LONG, 0.0)
    for now in (10.0, 20.0, 59.0):
        assert send(stage, LONG, now).code == "duplicate"
    assert send(stage, LONG, 60.0) is ALLOW


@pytest.mark.parametrize("text", ["same", "thank you!!", "❤️", "welcome hun x", "me too"])
def test_short_messages_may_be_repeated(text: str) -> None:
    stage = DuplicateStage()
    assert all(send(stage, text, float(i)) is ALLOW for i in range(5))


def test_other_members_and_rooms_are_separate() -> None:
    stage = DuplicateStage()
    send(stage, LONG, 0.0)
    assert send(stage, LONG, 1.0, room="evenings") is ALLOW
    assert send(stage, LONG, 1.0, sender="ben") is ALLOW


def test_three_members_sending_the_same_text_is_held_as_a_raid() -> None:
    stage = DuplicateStage()
    raid = "join the real pain support group at painfreenow, they have the answers"
    assert send(stage, raid, 0.0, sender="a") is ALLOW
    assert send(stage, raid, 5.0, sender="b") is ALLOW
    verdict = send(stage, raid, 10.0, sender="c")
    assert verdict.action is Action.HOLD
    assert (verdict.rule, verdict.alert) == ("duplicate.raid", "raid")
    assert send(stage, raid, 12.0, sender="d").rule == "duplicate.raid"
    # Outside the 30 s window the count starts again.
    assert send(stage, raid, 100.0, sender="e") is ALLOW


def test_a_group_welcoming_someone_is_not_a_raid() -> None:
    stage = DuplicateStage()
    for i, sender in enumerate("abcdef"):
        assert send(stage, "welcome to the group!", float(i), sender=sender) is ALLOW


def test_facilitators_are_exempt_and_not_counted() -> None:
    stage = DuplicateStage()
    for i in range(3):
        assert send(stage, LONG, float(i), role="facilitator") is ALLOW
    assert stage.tracked_count == 0


def test_memory_is_bounded_as_members_come_and_go() -> None:
    stage = DuplicateStage(prune_every=256)
    largest = 0
    for i in range(5000):
        send(stage, f"{LONG} number {i}", 10.0 * i, sender=f"member-{i}")
        largest = max(largest, stage.tracked_count)
    # Each message is remembered for at most 60 s (member) and 30 s (raid): with one
    # message every 10 s, a handful are live; the rest wait at most one prune period.
    assert largest <= 2 * (256 + 20)
    assert stage.prune(10.0 * 5000 + 1000) > 0
    assert stage.tracked_count == 0


def test_prune_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="prune_every"):
        DuplicateStage(prune_every=0)


def test_the_shared_raid_key_is_the_same_in_every_process_for_disguised_copies() -> None:
    one, another = DuplicateStage(), DuplicateStage()
    ctx = MessageContext("mornings", "ana", "member", LONG, 0.0, DEFAULT)
    disguised = "DOES anyone know if the warm w\u200bater pool is open on thursday this week???"
    other = MessageContext("mornings", "ben", "member", disguised, 1.0, DEFAULT)
    key = one.shared_raid_key(ctx)
    assert key is not None and key == another.shared_raid_key(other)
    # A stable digest, not Python's per-process salted hash: fixed for this text.
    assert key == one.shared_raid_key(ctx) and len(key) == 24
    different = MessageContext("mornings", "ana", "member", LONG + " or friday", 0.0, DEFAULT)
    assert one.shared_raid_key(different) != key


def test_facilitators_and_short_messages_have_no_shared_raid_key() -> None:
    stage = DuplicateStage()
    assert stage.shared_raid_key(MessageContext("r", "f", "facilitator", LONG, 0, DEFAULT)) is None
    assert (
        stage.shared_raid_key(MessageContext("r", "a", "member", "thank you!", 0, DEFAULT)) is None
    )


# -- only accepted messages count (issue 12, item 1) --------------------------------------


def test_a_copy_that_never_reached_the_log_is_no_repeat() -> None:
    """Redis was unavailable: the message was refused after the pipeline judged it. The
    member's retry (the same words) must go through, not be refused as a repeat."""
    stage = DuplicateStage()
    assert send(stage, LONG, 0.0, accepted=False) is ALLOW
    assert send(stage, LONG, 2.0, accepted=False) is ALLOW
    assert send(stage, LONG, 4.0) is ALLOW  # this one reached the log
    assert send(stage, LONG, 5.0).code == "duplicate"
    assert stage.tracked_count == 2  # one repeat entry and one raid entry, for the one


def test_judging_remembers_nothing() -> None:
    stage = DuplicateStage()
    for i in range(5):
        stage.check(MessageContext("mornings", "ana", "member", LONG, float(i), DEFAULT))
    assert stage.tracked_count == 0


def test_only_accepted_copies_count_towards_a_raid() -> None:
    stage = DuplicateStage()
    raid = "join the real pain support group at painfreenow, they have the answers"
    assert send(stage, raid, 0.0, sender="a") is ALLOW
    assert send(stage, raid, 1.0, sender="b", accepted=False) is ALLOW  # refused later
    assert send(stage, raid, 2.0, sender="c") is ALLOW  # two accepted senders so far
    assert send(stage, raid, 3.0, sender="d").rule == "duplicate.raid"


def test_the_pipeline_remembers_only_what_the_service_accepts() -> None:
    pipeline = default_pipeline()
    ctx = MessageContext("mornings", "ana", "member", LONG, 0.0, DEFAULT)
    first = pipeline.run(ctx)
    assert first.action is Action.ALLOW and first.memos
    # Not accepted (the append failed): the same words again are judged afresh.
    again = pipeline.run(ctx)
    assert again.action is Action.ALLOW
    pipeline.accept(again)
    repeat = pipeline.run(ctx)
    assert repeat.blocked_by is not None and repeat.blocked_by.code == "duplicate"
    assert repeat.memos == ()
    pipeline.accept(repeat)  # a refused outcome changes nothing
    assert pipeline.run(ctx).blocked_by is not None
