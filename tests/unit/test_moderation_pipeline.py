from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from moderation.context import MessageContext, RoomGate
from moderation.pipeline import Outcome, Pipeline, default_pipeline
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Action, Verdict, block, flag, hold, modify


@dataclass
class FakeStage:
    """Returns a fixed verdict (or one computed from the text) and records what it saw."""

    name: str
    decide: Callable[[str], Verdict] | Verdict = ALLOW
    seen: list[str] = field(default_factory=list)

    def check(self, ctx: MessageContext) -> Verdict:
        self.seen.append(ctx.text)
        return self.decide if isinstance(self.decide, Verdict) else self.decide(ctx.text)


def ctx(text: str = "hello", now: float = 0.0, sender: str = "ana") -> MessageContext:
    return MessageContext("mornings", sender, "member", text, now, ModerationPolicy())


def test_no_stages_allows_the_text_as_sent() -> None:
    outcome = Pipeline([]).run(ctx("hello"))
    assert (outcome.action, outcome.text, outcome.verdicts) == (Action.ALLOW, "hello", ())
    assert outcome.blocked_by is None


def test_all_stages_run_in_order_and_allow() -> None:
    order: list[str] = []

    def recorder(name: str) -> Callable[[str], Verdict]:
        def decide(text: str) -> Verdict:
            order.append(name)
            return ALLOW

        return decide

    pipeline = Pipeline([FakeStage(n, recorder(n)) for n in ("a", "b", "c")])
    outcome = pipeline.run(ctx())
    assert order == ["a", "b", "c"]
    assert outcome.action is Action.ALLOW


def test_block_stops_later_stages() -> None:
    refusal = block("gate.muted", "muted", "You are muted for now.")
    later = FakeStage("later")
    outcome = Pipeline([FakeStage("gate", refusal), later]).run(ctx())
    assert outcome.action is Action.BLOCK
    assert outcome.blocked_by == refusal
    assert later.seen == []


def test_modify_feeds_later_stages_and_the_delivered_text() -> None:
    upper = FakeStage("upper", lambda text: modify("upper.all", text.upper()))
    exclaim = FakeStage("exclaim", lambda text: modify("exclaim.add", text + "!"))
    outcome = Pipeline([upper, exclaim]).run(ctx("hello"))
    assert exclaim.seen == ["HELLO"]
    assert (outcome.action, outcome.text) == (Action.MODIFY, "HELLO!")
    assert [v.rule for v in outcome.verdicts] == ["upper.all", "exclaim.add"]


def test_flags_and_holds_are_collected_and_the_pipeline_continues() -> None:
    last = FakeStage("last")
    stages = [
        FakeStage("crisis", flag("crisis.self_harm", "Support is available.")),
        FakeStage("contact", hold("contact.link")),
        FakeStage("abuse", flag("abuse.mild")),
        last,
    ]
    outcome = Pipeline(stages).run(ctx("hello"))
    assert last.seen == ["hello"]
    assert [v.rule for v in outcome.verdicts] == ["crisis.self_harm", "contact.link", "abuse.mild"]
    assert outcome.action is Action.HOLD
    assert outcome.text == "hello"
    assert outcome.blocked_by is None


def test_block_after_flag_keeps_the_flag_for_audit() -> None:
    outcome = Pipeline(
        [
            FakeStage("crisis", flag("crisis.x")),
            FakeStage("abuse", block("abuse.x", "blocked", "No.")),
        ]
    ).run(ctx())
    assert outcome.action is Action.BLOCK
    assert [v.rule for v in outcome.verdicts] == ["crisis.x", "abuse.x"]
    assert outcome.blocked_by is not None
    assert outcome.blocked_by.code == "blocked"


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([modify("m.x", "changed"), flag("f.x")], Action.FLAG),
        ([flag("f.x"), modify("m.x", "changed")], Action.FLAG),
        ([flag("f.x"), hold("h.x")], Action.HOLD),
        ([hold("h.x"), modify("m.x", "changed")], Action.HOLD),
        ([hold("h.x"), block("b.x", "blocked", "No.")], Action.BLOCK),
        ([modify("m.x", "changed")], Action.MODIFY),
        ([modify("m.x", "hello")], Action.ALLOW),  # a no-op modify changes nothing
    ],
)
def test_overall_action_precedence(verdicts: list[Verdict], expected: Action) -> None:
    stages = [FakeStage(f"s{i}", verdict) for i, verdict in enumerate(verdicts)]
    assert Pipeline(stages).run(ctx("hello")).action is expected


def test_modified_text_is_delivered_even_when_flagged() -> None:
    stages = [FakeStage("mask", modify("mask.x", "[hidden]")), FakeStage("crisis", flag("c.x"))]
    outcome = Pipeline(stages).run(ctx("secret"))
    assert (outcome.action, outcome.text) == (Action.FLAG, "[hidden]")


def test_duplicate_stage_names_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"duplicate stage name.*shape"):
        Pipeline([FakeStage("shape"), FakeStage("rate"), FakeStage("shape")])


def test_default_pipeline_runs_the_design_order() -> None:
    assert [stage.name for stage in default_pipeline().stages] == [
        "gate",
        "shape",
        "rate",
        "duplicate",
        "canonical",
        "crisis",
        "contact",
        "link",
        "abuse",
        "medication",
    ]


def test_default_pipeline_cleans_the_text_and_counts_it_against_the_rate() -> None:
    pipeline = default_pipeline()
    outcome = pipeline.run(ctx("  hi\x00 there\r\n"))
    assert (outcome.action, outcome.text) == (Action.MODIFY, "hi there")
    for _ in range(4):
        assert pipeline.run(ctx("ok")).action is Action.ALLOW
    refused = pipeline.run(ctx("ok"))
    assert refused.blocked_by is not None
    assert refused.blocked_by.code == "rate_limited"


def test_refused_for_shape_does_not_spend_rate_tokens() -> None:
    pipeline = default_pipeline()
    for _ in range(10):
        outcome = pipeline.run(ctx("x" * 2001))
        assert outcome.blocked_by is not None
        assert outcome.blocked_by.code == "too_long"
    for _ in range(5):
        assert pipeline.run(ctx("shorter now")).action is Action.ALLOW


def test_each_default_pipeline_has_its_own_rate_state() -> None:
    first = default_pipeline()
    for _ in range(6):
        first.run(ctx())
    assert default_pipeline().run(ctx()).action is Action.ALLOW


# -- the full default pipeline -------------------------------------------------------------


def run_text(
    pipeline: Pipeline,
    text: str,
    now: float = 0.0,
    sender: str = "ana",
    gate: RoomGate | None = None,
    role: str = "member",
) -> Outcome:
    ctx = MessageContext(
        "mornings", sender, role, text, now, ModerationPolicy(), gate or RoomGate()
    )
    return pipeline.run(ctx)


def test_the_gate_refuses_before_anything_else_runs() -> None:
    pipeline = default_pipeline()
    outcome = run_text(pipeline, "kys", gate=RoomGate(muted=True))
    assert outcome.blocked_by is not None
    assert outcome.blocked_by.rule == "gate.muted"
    assert [v.rule for v in outcome.verdicts] == ["gate.muted"]


def test_a_gated_message_spends_no_rate_token_and_is_not_remembered() -> None:
    pipeline = default_pipeline()
    long_text = "has anyone tried the warm water pool on thursday mornings?"
    for _ in range(10):
        assert run_text(pipeline, long_text, gate=RoomGate(locked=True)).blocked_by is not None
    assert run_text(pipeline, long_text).action is Action.ALLOW


def test_a_crisis_message_is_delivered_with_support_and_a_priority_alert() -> None:
    outcome = run_text(default_pipeline(), "honestly I just want to die")
    assert (outcome.action, outcome.text) == (Action.FLAG, "honestly I just want to die")
    (verdict,) = outcome.verdicts
    assert (verdict.rule, verdict.alert, verdict.priority) == ("crisis.suicidal", "crisis", True)
    assert "116 123" in verdict.notice


def test_masked_contact_details_are_delivered_with_a_notice() -> None:
    outcome = run_text(default_pipeline(), "text me on 07911 123456 x")
    assert (outcome.action, outcome.text) == (Action.MODIFY, "text me on [phone number hidden] x")
    assert outcome.verdicts[0].notice


def test_a_held_message_reports_why() -> None:
    outcome = run_text(default_pipeline(), "selling oxy 30s, hmu")
    assert outcome.action is Action.HOLD
    assert [(v.rule, v.alert) for v in outcome.verdicts] == [("medication.offer", "medication")]


def test_every_verdict_names_its_stage_for_the_audit() -> None:
    from tests.unit.test_moderation_corpus import load_corpus

    pipeline = default_pipeline()
    names = {stage.name for stage in pipeline.stages}
    for i, (_, text) in enumerate(load_corpus()):
        outcome = run_text(pipeline, text, now=1000.0 * i, sender=f"m{i}")
        for verdict in outcome.verdicts:
            stage, _, rule = verdict.rule.partition(".")
            assert stage in names and rule, verdict.rule
            if verdict.action in (Action.FLAG, Action.HOLD):
                assert verdict.alert and verdict.notice, verdict.rule


def test_whitespace_tidying_is_not_a_verdict() -> None:
    """A trailing space from a phone keyboard is delivered tidied, with nothing to audit
    or tell the sender."""
    outcome = default_pipeline().run(ctx("  feeling a bit better today \r\n\n\n\n\n"))
    assert outcome.verdicts == ()
    assert outcome.text == "feeling a bit better today"
    assert outcome.blocked_by is None
