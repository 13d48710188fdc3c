"""Ordinary session talk raises no crisis alert (issue 16, found at 745806c).

A group meets at a set time and ends with everyone saying goodnight; the benchmark's
members post the same friendly filler for minutes. Both used to raise priority crisis
alerts (the model read "goodnight all" as a goodbye before dying; faintly scored filler
added up across a member's messages into `crisis.context`), flooding facilitators. A
member who wrote despair and then says goodbye must still bring one.
"""

import re
from pathlib import Path

import pytest

from moderation import MessageContext, ModerationPolicy, Outcome, Pipeline, default_pipeline

POLICY = ModerationPolicy()

# bench/loadgen.js PHRASES and filler(): what each benchmark member posts, read from the
# load generator itself so the two cannot drift apart.
LOADGEN = Path(__file__).resolve().parents[2] / "bench" / "loadgen.js"
_PHRASES_BLOCK = re.search(r"const PHRASES = \[(.*?)\];", LOADGEN.read_text(), re.S)
assert _PHRASES_BLOCK is not None, "bench/loadgen.js no longer has PHRASES"
LOADGEN_PHRASES = tuple(re.findall(r'"([^"]+)"', _PHRASES_BLOCK.group(1)))
assert len(LOADGEN_PHRASES) >= 6, LOADGEN_PHRASES


def loadgen_text(n: int, text_chars: int = 80) -> str:
    phrases = LOADGEN_PHRASES
    filler = phrases[n % len(phrases)]
    while len(filler) < text_chars:
        filler += f" {phrases[(n + len(filler)) % len(phrases)]}"
    return f"n={n} {filler[: max(text_chars, 16)]}"


# How meetings end, and what members plan and thank each other for (written for this
# test, not taken from the training corpus).
ORDINARY_ENDINGS = (
    "goodnight all",
    "night all, take care",
    "thanks for tonight everyone, goodnight",
    "that's me for tonight, bye all x",
    "right, I'm off to bed. night night everyone",
    "bye for now, see you all next tuesday",
    "thank you all, this hour always helps. take care",
    "gotta go, dinner's ready. bye!",
    "lovely to see everyone, goodnight and sleep well",
    "signing off now, thanks Sam for running it",
    "plan for tonight is a hot bath and an early night",
    "I'm going to try the pacing plan again tomorrow",
    "my plan this week is to walk to the shop and back twice",
    "thanks everyone for listening, it means a lot",
    "thank you for everything you shared tonight, it helped me",
    "see you next week, same time x",
    "that's the session done, look after yourselves",
    "cheers all, off to make a cuppa and put my feet up",
    "night everyone, hope the pain lets you sleep",
)


@pytest.fixture(scope="module")
def pipeline_factory():  # type: ignore[no-untyped-def]
    default_pipeline()  # compile the lists once for the module
    return default_pipeline


def post(pipeline: Pipeline, text: str, now: float, sender: str = "m1") -> Outcome:
    outcome = pipeline.run(MessageContext("room", sender, "member", text, now, POLICY))
    pipeline.accept(outcome)
    return outcome


def crisis_rules(outcome: Outcome) -> list[str]:
    return [v.rule for v in outcome.verdicts if v.alert == "crisis"]


def test_a_member_posting_the_benchmark_filler_raises_no_crisis_alert(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    pipeline = pipeline_factory()
    raised = {}
    for n in range(200):  # one message every 3 s: 10 minutes
        text = loadgen_text(n)
        rules = crisis_rules(post(pipeline, text, now=1000.0 + 3 * n))
        if rules:
            raised[text] = rules
    assert raised == {}


def test_a_plan_for_tonight_that_is_a_phone_call_raises_no_crisis_alert(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    outcome = post(pipeline_factory(), "tonight I'm finally going to ring my sister back", 1000.0)
    assert crisis_rules(outcome) == []


def test_ordinary_endings_plans_and_thanks_raise_no_crisis_alert(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    # Each alone, from a member who said nothing else ...
    pipeline = pipeline_factory()
    alone = {
        text: crisis_rules(post(pipeline, text, 1000.0, sender=f"m{i}"))
        for i, text in enumerate(ORDINARY_ENDINGS)
    }
    assert {text: rules for text, rules in alone.items() if rules} == {}
    # ... and all from one member over an evening's meeting, after ordinary talk.
    pipeline = pipeline_factory()
    texts = [loadgen_text(n) for n in range(6)] + list(ORDINARY_ENDINGS)
    together = {
        text: crisis_rules(post(pipeline, text, 1000.0 + 60 * i)) for i, text in enumerate(texts)
    }
    assert {text: rules for text, rules in together.items() if rules} == {}


@pytest.mark.parametrize(
    "goodbye", ["goodbye everyone", "thank you all for everything", "goodnight all"]
)
def test_despair_then_a_goodbye_alerts_once_in_words(pipeline_factory, goodbye: str) -> None:  # type: ignore[no-untyped-def]
    pipeline = pipeline_factory()
    first = post(
        pipeline, "honestly I feel so hopeless, nothing is ever going to get better", 1000.0
    )
    assert crisis_rules(first) == ["crisis.hopeless"]  # flagged, no priority
    post(pipeline, loadgen_text(3), 1060.0)  # ordinary talk in between
    after = post(pipeline, goodbye, 1200.0)
    alerts = [v for v in after.verdicts if v.alert == "crisis" and v.priority]
    # The model may read a goodbye as one on its own; if not, the context does.
    assert [v.rule for v in alerts] in (["crisis.context"], ["crisis.learned"]), after.verdicts
    if goodbye == "goodnight all":  # ordinary alone (the test above): only context says it
        assert alerts[0].rule == "crisis.context"
    if alerts[0].rule == "crisis.context":
        assert "read together" in alerts[0].for_facilitators
        assert "despair earlier" in alerts[0].for_facilitators
        assert "goodbye" in alerts[0].for_facilitators
    # The facilitators were asked to check in: the next goodnight is no new alert.
    assert crisis_rules(post(pipeline, "night all, take care", 1260.0)) == []
    # Someone else saying goodnight, with no despair before it: nothing.
    assert crisis_rules(post(pipeline, "goodnight all", 1200.0, sender="m2")) == []


def test_numbered_notes_raise_no_crisis_alert(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    # Two words weigh a lot after normalising: "note 1" read like a suicide note, alone
    # and (after "note 0") in context. The model judges crisis alone from 3 words.
    pipeline = pipeline_factory()
    alerts = [crisis_rules(post(pipeline, f"note {i}", 1000.0 + i)) for i in range(5)]
    assert alerts == [[]] * 5


@pytest.mark.parametrize("name", ["Tina", "Dave", "Priya", "Siobhan", "Marcus", "Lee"])
def test_a_member_asked_a_question_by_name_raises_no_alert(pipeline_factory, name: str) -> None:  # type: ignore[no-untyped-def]
    # An earlier model scored "Where did you get that lumbar cushion, Tina?" 0.88 as
    # abuse: names turn up in the abuse a member aims at another.
    pipeline = pipeline_factory()
    for i, text in enumerate(
        (
            f"Where did you get that lumbar cushion, {name}?",
            f"{name}, did you try the new pacing app in the end?",
            f"Thanks for sharing that {name}, it really helped me tonight",
        )
    ):
        outcome = post(pipeline, text, 1000.0 + 60 * i, sender=f"asker-{i}")
        assert [v.rule for v in outcome.verdicts if v.alert] == [], text
