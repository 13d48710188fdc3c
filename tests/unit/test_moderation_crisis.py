"""Crisis language: flagged and supported, never silenced."""

import pytest

from moderation.context import MessageContext
from moderation.crisis import CrisisStage
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Action, Verdict

POLICY = ModerationPolicy()


def check(text: str, role: str = "member", policy: ModerationPolicy = POLICY) -> Verdict:
    return CrisisStage().check(MessageContext("room", "ana", role, text, 0.0, policy))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("I don't want to be here anymore", "crisis.suicidal"),
        ("I've been thinking about ending it", "crisis.suicidal"),
        ("what's the point of going on", "crisis.suicidal"),
        ("I want to die", "crisis.suicidal"),
        ("i wanna die tbh", "crisis.suicidal"),
        ("I've started cutting again", "crisis.self_harm"),
        ("I took too many of my pills on purpose", "crisis.overdose"),
        ("everyone would be better off without me", "crisis.suicidal"),
        ("my pain makes me want to die", "crisis.suicidal"),
        ("i can't do this anymore", "crisis.hopeless"),
        # Found by a browser audit: a whole supply, with intent, the medicine named near.
        (
            "i have saved up 60 oxycodone tablets and i'm going to take them all tonight",
            "crisis.overdose",
        ),
    ],
)
def test_first_person_statements_are_flagged_with_support(text: str, rule: str) -> None:
    verdict = check(text)
    assert verdict.action is Action.FLAG
    assert verdict.rule == rule
    assert verdict.alert == "crisis"
    assert "988" in verdict.notice and "116 123" in verdict.notice


def test_suicidal_self_harm_and_overdose_alerts_are_priority() -> None:
    assert check("I want to die").priority
    assert check("i cut myself again").priority
    assert check("i overdosed on purpose").priority
    assert not check("i can't take it anymore").priority  # hopelessness: gentler


@pytest.mark.parametrize(
    "text",
    [
        "this pain is killing me",
        "my back is murdering me",
        "I'm dying to try that",
        "I could kill for a coffee",
        "killing it at physio today!",
        "I don't want to die, I just want the pain to stop",
        "i'm not suicidal, just exhausted",
        "the nurse asked if i'm suicidal, i said no",
        "I cut myself chopping onions",
        "need to cut myself some slack",
        "I'd rather die than go back to that physio lol",
        "I nearly died laughing",
        "kill me now, another 3 hour wait",
        "pharmacy gave me the wrong tablets so im going to take them all back tomorrow",
        "my gp changed my meds again, i'm going to take them all with food from now on",
    ],
)
def test_pain_idioms_negations_and_reports_are_not_crisis(text: str) -> None:
    assert check(text) is ALLOW


@pytest.mark.parametrize(
    "text",
    [
        "my friend attempted suicide last year",
        "my husband says he wants to die",
        "I lost my sister to suicide",
        "she took her own life",
    ],
)
def test_someone_else_at_risk_is_a_gentler_flag(text: str) -> None:
    verdict = check(text)
    assert (verdict.action, verdict.rule, verdict.alert) == (Action.FLAG, "crisis.others", "crisis")
    assert not verdict.priority
    assert "988" in verdict.notice


def test_facilitators_posting_about_others_are_not_flagged() -> None:
    assert check("If you're feeling suicidal, please call 988", role="facilitator") is ALLOW
    assert check("I want to die", role="facilitator").rule == "crisis.suicidal"


@pytest.mark.parametrize(
    "text",
    [
        "how many tramadol would it take to not wake up",
        "what's a lethal dose of paracetamol",
        "I've been saving up my pills for when it gets too much",
        "what's the most painless way to die",
    ],
)
def test_method_detail_is_held_with_support(text: str) -> None:
    verdict = check(text)
    assert (verdict.action, verdict.rule) == (Action.HOLD, "crisis.method")
    assert verdict.alert == "crisis" and verdict.priority
    assert "988" in verdict.notice and "facilitator" in verdict.notice


def test_crisis_lines_come_from_the_policy() -> None:
    policy = ModerationPolicy(crisis_lines=(("IE", "Pieta: call 1800 247 247"),))
    verdict = check("I want to die", policy=policy)
    assert "Pieta: call 1800 247 247" in verdict.notice
    assert "988" not in verdict.notice


def test_crisis_is_never_blocked_even_with_other_problems() -> None:
    text = "i just want to die. call me on 07911 123456"
    ctx = MessageContext("room", "ana", "member", text, 0.0, POLICY)
    outcome = default_pipeline().run(ctx)
    assert outcome.action is Action.FLAG  # delivered
    assert [v.rule for v in outcome.verdicts] == ["crisis.suicidal", "contact.phone"]
    assert "07911" not in outcome.text


def test_telling_someone_to_kill_themselves_is_abuse_not_crisis() -> None:
    for text in ("go kill yourself", "kys", "nobody would miss you"):
        ctx = MessageContext("room", "ana", "member", text, 0.0, POLICY)
        outcome = default_pipeline().run(ctx)
        assert outcome.blocked_by is not None
        assert outcome.blocked_by.rule == "abuse.harassment"
        assert outcome.blocked_by.alert == "abuse"
        assert all(not v.rule.startswith("crisis") for v in outcome.verdicts)


def test_a_crisis_statement_is_never_refused_as_harassment() -> None:
    for text in ("i just want to die", "I want to go die somewhere quiet", "just end it all"):
        ctx = MessageContext("room", "ana", "member", text, 0.0, POLICY)
        outcome = default_pipeline().run(ctx)
        assert outcome.blocked_by is None, text
        assert outcome.action is Action.FLAG, text
