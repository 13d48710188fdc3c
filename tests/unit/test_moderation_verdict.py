import pytest

from moderation.verdict import (
    ALERT_KINDS,
    ALLOW,
    BLOCK_CODES,
    Action,
    Verdict,
    block,
    flag,
    hold,
    modify,
)


def test_actions_serialise_as_the_protocol_strings() -> None:
    assert [str(action) for action in Action] == ["allow", "modify", "block", "flag", "hold"]


def test_allow_constant_carries_nothing() -> None:
    assert Verdict(Action.ALLOW) == ALLOW
    assert (ALLOW.rule, ALLOW.code, ALLOW.text, ALLOW.retry_after_s) == ("", None, None, None)


def test_block_carries_code_reason_and_retry_time() -> None:
    verdict = block("rate.limited", "rate_limited", "Please wait.", retry_after_s=2.5)
    assert verdict.action is Action.BLOCK
    assert (verdict.rule, verdict.code, verdict.reason) == (
        "rate.limited",
        "rate_limited",
        "Please wait.",
    )
    assert verdict.retry_after_s == 2.5


def test_modify_carries_the_replacement_text() -> None:
    verdict = modify("contact.phone", "call me on [number hidden]", "Numbers are hidden.")
    assert verdict.action is Action.MODIFY
    assert verdict.text == "call me on [number hidden]"
    assert verdict.code is None


def test_flag_and_hold_deliver_without_error_code() -> None:
    assert flag("crisis.self_harm", "Support lines: …") == Verdict(
        Action.FLAG, "crisis.self_harm", reason="Support lines: …"
    )
    assert hold("contact.link").action is Action.HOLD
    assert hold("contact.link").code is None


def test_every_protocol_block_code_is_accepted() -> None:
    for code in BLOCK_CODES:
        assert block("stage.rule", code, "reason").code == code


@pytest.mark.parametrize("code", ["", "too-long", "unauthorized", "TOO_LONG"])
def test_block_with_unknown_code_is_rejected(code: str) -> None:
    with pytest.raises(ValueError, match="code"):
        block("shape.too_long", code, "reason")


@pytest.mark.parametrize("rule", ["", "shape", "shape.", ".empty"])
def test_non_allow_verdict_needs_a_stage_dot_rule_id(rule: str) -> None:
    with pytest.raises(ValueError, match=r"stage\.rule"):
        flag(rule)


def test_malformed_verdicts_are_rejected() -> None:
    with pytest.raises(ValueError):
        Verdict(Action.MODIFY, "shape.whitespace")  # no text
    with pytest.raises(ValueError):
        Verdict(Action.FLAG, "crisis.x", text="new text")  # text without MODIFY
    with pytest.raises(ValueError):
        Verdict(Action.FLAG, "crisis.x", code="blocked")  # code without BLOCK
    with pytest.raises(ValueError):
        Verdict(Action.ALLOW, retry_after_s=1.0)
    with pytest.raises(ValueError):
        block("rate.limited", "rate_limited", "wait", retry_after_s=-1.0)
    with pytest.raises(ValueError):
        block("rate.limited", "rate_limited", "wait", retry_after_s=float("nan"))


def test_flag_carries_a_private_notice_and_a_priority_alert() -> None:
    verdict = flag("crisis.suicidal", "Reason.", notice="Lines…", alert="crisis", priority=True)
    assert (verdict.notice, verdict.alert, verdict.priority) == ("Lines…", "crisis", True)


def test_block_and_modify_can_carry_alerts_and_notices() -> None:
    assert block("abuse.slur", "blocked", "No.", alert="abuse").alert == "abuse"
    masked = modify("contact.phone", "[phone number hidden]", "Hidden.", notice="Why.")
    assert masked.notice == "Why."


def test_hold_carries_notice_and_alert() -> None:
    verdict = hold("link.unknown", "Checked first.", notice="Thanks…", alert="link")
    assert (verdict.action, verdict.alert, verdict.notice) == (Action.HOLD, "link", "Thanks…")


def test_alert_kinds_are_closed() -> None:
    assert {"crisis", "held", "flood", "abuse", "contact", "raid", "link", "medication"} <= set(
        ALERT_KINDS
    )
    with pytest.raises(ValueError, match="alert"):
        flag("crisis.x", alert="crisiss")


def test_priority_needs_an_alert_and_allow_carries_nothing() -> None:
    with pytest.raises(ValueError, match="priority"):
        flag("crisis.x", priority=True)
    with pytest.raises(ValueError, match="ALLOW"):
        Verdict(Action.ALLOW, notice="hi")
