"""Gate: may this member post in this room at all right now?

Muted members, a locked or paused room and a floor given to someone else refuse the
message before anything else looks at it, with a kind reason. Facilitators always pass.
The rules mirror rooms/policy.py `check_post` (same order, same codes), so a refusal reads
the same whether the pipeline or the backend's append saw it first.
"""

import math

from moderation.context import MessageContext
from moderation.verdict import ALLOW, Verdict, block


class GateStage:
    name = "gate"

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator:
            return ALLOW
        gate, now = ctx.gate, ctx.now
        if gate.muted:
            if gate.muted_until is None:
                return block(
                    "gate.muted",
                    "muted",
                    "A facilitator has muted you for now. You can still read along, and "
                    "they will unmute you when the room is ready.",
                )
            left = gate.muted_until - now
            if left > 0:
                return block(
                    "gate.muted",
                    "muted",
                    f"A facilitator has muted you for {_duration(left)} more. You can "
                    "still read along.",
                    retry_after_s=left,
                )
        if gate.paused:
            return block(
                "gate.paused",
                "room_locked",
                "The facilitator has paused the room for a moment. Please hold on to your "
                "message and send it when the room reopens.",
            )
        if gate.locked:
            return block(
                "gate.locked",
                "room_locked",
                "The room is locked right now, so only facilitators can post.",
            )
        if gate.floor_user_id is not None and gate.floor_user_id != ctx.sender_id:
            return block(
                "gate.floor",
                "room_locked",
                "Someone else has the floor right now. You can post again when they have "
                "finished sharing.",
            )
        return ALLOW


def _duration(seconds: float) -> str:
    if seconds < 90:
        whole = max(1, math.ceil(seconds))
        return "1 second" if whole == 1 else f"{whole} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours = round(minutes / 60)
    return "1 hour" if hours == 1 else f"{hours} hours"
