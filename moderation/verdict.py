"""What one moderation stage decides about one message.

A verdict is a plain value: stages return it, the pipeline combines verdicts, and the chat
service turns the result into an ack, a private notice or a facilitator alert. Verdicts
carry a stable rule id (never the message text) so they can be audited and counted safely.
"""

import enum
from dataclasses import dataclass


class Action(enum.StrEnum):
    ALLOW = "allow"  # deliver as is
    MODIFY = "modify"  # deliver the verdict's replacement text instead
    BLOCK = "block"  # refuse; the sender gets `code` in the ack and `reason` privately
    FLAG = "flag"  # deliver, and alert the room's facilitators
    HOLD = "hold"  # deliver to facilitators only, until one approves


# As module constants for the checks in Verdict.__post_init__ (every verdict a stage
# builds for a message): `Action.ALLOW` is a descriptor look-up on the enum class.
_ALLOW, _MODIFY, _BLOCK = Action.ALLOW, Action.MODIFY, Action.BLOCK


# The protocol error codes a BLOCK may carry (DESIGN §3). Kept closed so a typo in a stage
# becomes an immediate error instead of an unknown code reaching clients.
BLOCK_CODES: frozenset[str] = frozenset(
    {
        "too_long",
        "invalid_payload",
        "rate_limited",
        "slow_mode",
        "muted",
        "room_locked",
        "blocked",
        "duplicate",
        "session_ended",  # the gate: the session has ended (rooms/policy.py post_rule)
        "agreement_required",  # the gate: the group agreement not yet accepted
        "not_your_turn",  # the gate: someone else's turn in a round
    }
)

# What a facilitator alert is about. The chat service turns FLAG verdicts (and BLOCK or
# HOLD verdicts that carry an alert) into facilitator alerts of this kind. Closed for the
# same reason as BLOCK_CODES: a typo must fail in a stage's tests, not in a facilitator's UI.
ALERT_KINDS: frozenset[str] = frozenset(
    {
        "crisis",  # someone may be at risk: first-person suicidal/self-harm talk, method detail
        "held",  # a message waits for a facilitator (the service's kind for every HOLD)
        "flood",  # a member keeps hitting the rate limit
        "abuse",  # slurs, harassment, threats (the message itself was refused)
        "contact",  # contact details or an invitation to talk elsewhere were masked
        "raid",  # the same text from several members at once
        "link",  # a link to a site outside the allow-list waits for review
        "medication",  # an offer or request to sell or share prescription drugs
    }
)


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    rule: str = ""  # "stage.rule", e.g. "shape.too_long"; for audit and metrics
    code: str | None = None  # protocol error code, only with BLOCK
    reason: str = ""  # short sentence for people, shown privately to the sender
    text: str | None = None  # replacement text, only with MODIFY
    retry_after_s: float | None = None  # seconds until a retry can succeed, only with BLOCK
    # Private text for the sender beyond `reason`: supportive words and crisis lines for a
    # crisis FLAG, what happens next for a HOLD, why the text changed for a MODIFY.
    notice: str = ""
    alert: str = ""  # ALERT_KINDS: what to alert facilitators about ("" = no alert)
    priority: bool = False  # the alert should jump the queue (crisis)
    # What facilitators read on the alert when `reason` speaks to the sender ("You're
    # sending messages quickly ..."); "" = `reason` reads right for both.
    alert_reason: str = ""

    @property
    def for_facilitators(self) -> str:
        return self.alert_reason or self.reason

    def __post_init__(self) -> None:
        # Malformed verdicts are programming errors in a stage; failing here points at the
        # stage instead of at whatever later code trips over a missing field.
        if self.action is not _ALLOW:
            stage, dot, name = self.rule.partition(".")
            if not (stage and dot and name):
                raise ValueError(f"rule must look like 'stage.rule', got {self.rule!r}")
        if self.action is _BLOCK:
            if self.code not in BLOCK_CODES:
                raise ValueError(f"BLOCK needs a protocol error code, got {self.code!r}")
        elif self.code is not None:
            raise ValueError(f"only BLOCK carries an error code, not {self.action}")
        if (self.action is _MODIFY) != (self.text is not None):
            raise ValueError("text is required with MODIFY and only allowed with MODIFY")
        if self.retry_after_s is not None and (
            self.action is not _BLOCK or not self.retry_after_s >= 0
        ):
            raise ValueError("retry_after_s must be >= 0 and only comes with BLOCK")
        if self.action is _ALLOW and (self.notice or self.alert or self.priority):
            raise ValueError("ALLOW carries no notice or alert")
        if self.alert and self.alert not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.alert!r}")
        if self.priority and not self.alert:
            raise ValueError("priority needs an alert kind")


ALLOW = Verdict(Action.ALLOW)


def block(
    rule: str,
    code: str,
    reason: str,
    retry_after_s: float | None = None,
    *,
    notice: str = "",
    alert: str = "",
    priority: bool = False,
    alert_reason: str = "",
) -> Verdict:
    return Verdict(
        Action.BLOCK,
        rule,
        code=code,
        reason=reason,
        retry_after_s=retry_after_s,
        notice=notice,
        alert=alert,
        priority=priority,
        alert_reason=alert_reason,
    )


def modify(rule: str, text: str, reason: str = "", *, notice: str = "", alert: str = "") -> Verdict:
    return Verdict(Action.MODIFY, rule, reason=reason, text=text, notice=notice, alert=alert)


def flag(
    rule: str, reason: str = "", *, notice: str = "", alert: str = "", priority: bool = False
) -> Verdict:
    return Verdict(Action.FLAG, rule, reason=reason, notice=notice, alert=alert, priority=priority)


def hold(
    rule: str, reason: str = "", *, notice: str = "", alert: str = "", priority: bool = False
) -> Verdict:
    return Verdict(Action.HOLD, rule, reason=reason, notice=notice, alert=alert, priority=priority)
