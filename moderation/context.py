"""Everything a stage may look at when judging one message.

The context is immutable; when a stage rewrites the text, the pipeline hands later stages
a copy with the new text (MessageContext.with_text), so every stage sees what will be delivered.
"""

from dataclasses import dataclass

from moderation.policy import ModerationPolicy

ROLES: frozenset[str] = frozenset({"member", "facilitator"})


@dataclass(frozen=True, slots=True)
class RoomGate:
    """The room state that decides whether this sender may post at all (the gate stage)
    and how soon again (slow mode, in the rate stage). The service fills it from rooms/.

    Times are seconds since the epoch, like `MessageContext.now`.
    """

    muted: bool = False
    muted_until: float | None = None  # with muted=True: None means until unmuted
    locked: bool = False  # only facilitators may post
    paused: bool = False  # a short pause called by a facilitator
    floor_user_id: str | None = None  # only this member (and facilitators) may post
    slow_mode_s: int = 0  # at most one message per this many seconds per member; 0 = off
    last_post_at: float | None = None  # when this sender last posted in the room
    session: str = "none"  # the meeting's status: none, live, ended (rooms/meeting.py)
    agreed: bool = True  # this sender accepted the live session's group agreement
    turn: str = ""  # in a round, who may speak now ("" when no round is going)

    def __post_init__(self) -> None:
        if isinstance(self.slow_mode_s, bool) or not isinstance(self.slow_mode_s, int):
            raise ValueError(f"slow_mode_s must be a whole number, got {self.slow_mode_s!r}")
        if self.slow_mode_s < 0:
            raise ValueError("slow_mode_s must not be negative")


@dataclass(frozen=True, slots=True)
class MessageContext:
    room: str
    sender_id: str
    role: str  # "member" or "facilitator", from the sender's token, never from a payload
    text: str
    now: float  # seconds; the caller's clock, so stages stay pure and tests control time
    policy: ModerationPolicy
    gate: RoomGate = RoomGate()  # room state for the gate and slow mode; open by default
    # The text as the sender wrote it (tidied), before any stage rewrote it; None until a
    # stage does. An offer of medicine is still an offer once its "dm me" was masked.
    original: str | None = None

    def __post_init__(self) -> None:
        # An unexpected role (e.g. "Facilitator") must not silently grant or deny exemptions.
        if self.role not in ROLES:
            raise ValueError(f"role must be 'member' or 'facilitator', got {self.role!r}")

    @property
    def is_facilitator(self) -> bool:
        return self.role == "facilitator"

    def with_text(self, text: str) -> "MessageContext":
        """This context with another text (after a stage rewrote it).

        What dataclasses.replace(ctx, text=text) returns, at a fraction of its cost: replace
        inspects the fields on every call, and the pipeline does this for every MODIFY.
        """
        original = self.text if self.original is None else self.original
        return MessageContext(
            self.room, self.sender_id, self.role, text, self.now, self.policy, self.gate, original
        )

    @property
    def written(self) -> str:
        """The text as the sender wrote it, before any stage masked part of it."""
        return self.text if self.original is None else self.original
