"""Everything a stage may look at when judging one message.

The context is immutable; when a stage rewrites the text, the pipeline hands later stages
a copy with the new text (dataclasses.replace), so every stage sees what will be delivered.
"""

from dataclasses import dataclass

from moderation.policy import ModerationPolicy

ROLES: frozenset[str] = frozenset({"member", "facilitator"})


@dataclass(frozen=True, slots=True)
class MessageContext:
    room: str
    sender_id: str
    role: str  # "member" or "facilitator", from the sender's token, never from a payload
    text: str
    now: float  # seconds; the caller's clock, so stages stay pure and tests control time
    policy: ModerationPolicy

    def __post_init__(self) -> None:
        # An unexpected role (e.g. "Facilitator") must not silently grant or deny exemptions.
        if self.role not in ROLES:
            raise ValueError(f"role must be 'member' or 'facilitator', got {self.role!r}")

    @property
    def is_facilitator(self) -> bool:
        return self.role == "facilitator"
