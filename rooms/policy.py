"""Who may do what in a room: pure functions of the actor and the room state.

Modelled on Synapse's event_auth: each rule takes the actor's role and the current state
and returns a refusal (with the protocol error code) or None. The backend calls
``check_post`` inside its atomic append so every worker agrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rooms.state import RoomState

FACILITATOR = "facilitator"


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    retry_after_s: float | None = None


def is_facilitator(role: str) -> bool:
    return role == FACILITATOR


def check_invited(token_rooms: Mapping[str, str], room: str) -> Refusal | None:
    """Only the rooms the token names exist for this person (checked before any state is
    read, so an uninvited room id never reaches the backend)."""
    if room not in token_rooms:
        return Refusal("forbidden", "Your invitation does not include this room.")
    return None


def check_join(
    token_rooms: Mapping[str, str], room: str, user_id: str, state: RoomState
) -> Refusal | None:
    """A member may join only the rooms their token names, unless removed from it."""
    refusal = check_invited(token_rooms, room)
    if refusal is not None:
        return refusal
    if user_id in state.removed and not is_facilitator(token_rooms[room]):
        return Refusal("forbidden", "A facilitator has removed you from this room.")
    return None


def check_post(state: RoomState, user_id: str, role: str, now_ms: int) -> Refusal | None:
    """May this person post a message now? Facilitators always may.

    The Redis backend's append script mirrors these rules in the same order and reports
    the rule that refused with ``refusal_for``, so both backends answer alike.
    """
    if is_facilitator(role):
        return None
    until = state.muted_until(user_id, now_ms)
    if until is None:
        return refusal_for("muted", None)
    if until:
        return refusal_for("muted", until - now_ms)
    if state.paused:
        return refusal_for("paused", None)
    if state.locked:
        return refusal_for("locked", None)
    if state.floor is not None and state.floor != user_id:
        return refusal_for("floor", None)
    if state.slow_mode_s:
        last = state.last_post_ms.get(user_id)
        if last is not None:
            wait_ms = last + state.slow_mode_s * 1000 - now_ms
            if wait_ms > 0:
                return refusal_for("slow_mode", wait_ms)
    return None


def may_show_typing(state: RoomState, user_id: str, role: str, now_ms: int) -> bool:
    """Whether others should see "… is typing": not while this person cannot post (muted,
    paused, locked, someone else's floor), which would only tell the room a muted member
    is writing. Slow mode still shows it: the message will come."""
    refusal = check_post(state, user_id, role, now_ms)
    return refusal is None or refusal.code == "slow_mode"


def refusal_for(rule: str, wait_ms: int | None) -> Refusal:
    """The refusal for a post rule: muted, paused, locked, floor or slow_mode.

    ``wait_ms`` is how long until the rule stops applying (None: until someone acts).
    """
    left = None if wait_ms is None else max(wait_ms, 0) / 1000
    if rule == "muted":
        if left is None:
            return Refusal("muted", "A facilitator has muted you until they unmute you.")
        return Refusal("muted", f"You are muted for {_duration(left)} more.", left)
    if rule == "paused":
        return Refusal("room_locked", "The facilitator has paused the room for a moment.")
    if rule == "locked":
        return Refusal("room_locked", "The room is locked: only facilitators can post.")
    if rule == "floor":
        return Refusal("room_locked", "Someone else has the floor right now.")
    if rule == "slow_mode":
        wait = left or 0.0
        return Refusal(
            "slow_mode", f"Slow mode is on: you can post again in {_duration(wait)}.", wait
        )
    raise ValueError(f"unknown post rule {rule!r}")


def _duration(seconds: float) -> str:
    whole = max(1, round(seconds))
    if whole < 90:
        return f"{whole} s"
    return f"{round(whole / 60)} min"


def check_moderate(role: str) -> Refusal | None:
    """Facilitator controls are for facilitators; the role comes from the token only."""
    if not is_facilitator(role):
        return Refusal("forbidden", "Only facilitators can do that.")
    return None


def check_target(actor_id: str, target_id: str, target_role: str | None) -> Refusal | None:
    """A facilitator acts on members: not on themselves, not on another facilitator."""
    if actor_id == target_id:
        return Refusal("forbidden", "You cannot do that to yourself.")
    if target_role is not None and is_facilitator(target_role):
        return Refusal("forbidden", "Facilitators cannot be muted, removed or given the floor.")
    return None
