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

    def __post_init__(self) -> None:
        # Malformed verdicts are programming errors in a stage; failing here points at the
        # stage instead of at whatever later code trips over a missing field.
        if self.action is not Action.ALLOW:
            stage, dot, name = self.rule.partition(".")
            if not (stage and dot and name):
                raise ValueError(f"rule must look like 'stage.rule', got {self.rule!r}")
        if self.action is Action.BLOCK:
            if self.code not in BLOCK_CODES:
                raise ValueError(f"BLOCK needs a protocol error code, got {self.code!r}")
        elif self.code is not None:
            raise ValueError(f"only BLOCK carries an error code, not {self.action}")
        if (self.action is Action.MODIFY) != (self.text is not None):
            raise ValueError("text is required with MODIFY and only allowed with MODIFY")
        if self.retry_after_s is not None and (
            self.action is not Action.BLOCK or not self.retry_after_s >= 0
        ):
            raise ValueError("retry_after_s must be >= 0 and only comes with BLOCK")


ALLOW = Verdict(Action.ALLOW)


def block(rule: str, code: str, reason: str, retry_after_s: float | None = None) -> Verdict:
    return Verdict(Action.BLOCK, rule, code=code, reason=reason, retry_after_s=retry_after_s)


def modify(rule: str, text: str, reason: str = "") -> Verdict:
    return Verdict(Action.MODIFY, rule, reason=reason, text=text)


def flag(rule: str, reason: str = "") -> Verdict:
    return Verdict(Action.FLAG, rule, reason=reason)


def hold(rule: str, reason: str = "") -> Verdict:
    return Verdict(Action.HOLD, rule, reason=reason)
