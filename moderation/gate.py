"""Gate: may this member post in this room at all right now?

Muted members, a paused or locked room, a floor given to someone else and slow mode
refuse the message before anything else looks at it. The rule is not written here: the
gate asks rooms/policy.py ``post_rule`` (the one statement of the post guard, which the
backends' atomic append also applies) and words the refusal with ``refusal_for``, so a
refusal reads the same whether the pipeline or the append saw it first.

moderation/ may import rooms/ (both are pure; rooms/ imports neither moderation/ nor
chatserver/): the room rules are the lower layer, moderation judges content on top.
"""

from moderation.context import MessageContext, RoomGate
from moderation.verdict import ALLOW, Verdict, block
from rooms.policy import post_rule, refusal_for
from rooms.state import RoomState


class GateStage:
    name = "gate"

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator:
            return ALLOW
        gate = ctx.gate
        found = post_rule(
            ctx.sender_id,
            ctx.role,
            _ms(ctx.now),
            muted=gate.muted,
            muted_until_ms=None if gate.muted_until is None else _ms(gate.muted_until),
            paused=gate.paused,
            locked=gate.locked,
            floor=gate.floor_user_id,
            slow_mode_s=gate.slow_mode_s,
            last_post_ms=None if gate.last_post_at is None else _ms(gate.last_post_at),
            session=gate.session,
            agreed=gate.agreed,
            turn=gate.turn,
        )
        if found is None:
            return ALLOW
        refusal = refusal_for(found.rule, found.wait_ms)
        return block(f"gate.{found.rule}", refusal.code, refusal.message, refusal.retry_after_s)


def room_gate(state: RoomState, user_id: str, now_ms: int) -> RoomGate:
    """The gate's view of a room for one sender, from the room state (times in seconds,
    like ``MessageContext.now``)."""
    until = state.muted_until(user_id, now_ms)
    last = state.last_post_ms.get(user_id)
    return RoomGate(
        muted=until != 0,
        muted_until=None if not until else until / 1000,
        locked=state.locked,
        paused=state.paused,
        floor_user_id=state.floor,
        slow_mode_s=state.slow_mode_s,
        last_post_at=None if last is None else last / 1000,
        session=state.meeting["status"],
        agreed=state.has_agreed(user_id),
        turn=state.meeting["turn"],
    )


def _ms(seconds: float) -> int:
    # Whole milliseconds, as the log and the backends count: a float's last bits must not
    # refuse a post at the exact moment slow mode or a mute ends.
    return round(seconds * 1000)
