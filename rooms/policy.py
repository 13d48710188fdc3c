"""Who may do what in a room: pure functions of the actor and the room state.

Modelled on Synapse's event_auth: each rule takes the actor's role and the current state
and returns a refusal (with the protocol error code, rooms/codes.py) or None. The memory
backend calls ``check_post`` inside its append, the Redis backend's append script mirrors
``post_rule``, and the moderation gate calls ``post_rule``, so every worker and every
check agrees (tests/fixtures/post_guard_cases.json).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Final

from rooms.codes import (
    AGREEMENT_REQUIRED,
    FORBIDDEN,
    MUTED,
    NOT_YOUR_TURN,
    ROOM_LOCKED,
    SESSION_ENDED,
    SLOW_MODE,
)
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
        return Refusal(FORBIDDEN, "Your invitation does not include this room.")
    return None


def check_join(
    token_rooms: Mapping[str, str], room: str, user_id: str, state: RoomState
) -> Refusal | None:
    """A member may join only the rooms their token names, unless removed from it."""
    refusal = check_invited(token_rooms, room)
    if refusal is not None:
        return refusal
    if user_id in state.removed and not is_facilitator(token_rooms[room]):
        return Refusal(FORBIDDEN, "A facilitator has removed you from this room.")
    return None


POST_RULES: Final = (
    "muted",
    "paused",
    "locked",
    "ended",
    "agreement",
    "turn",
    "floor",
    "slow_mode",
)
"""The post guard's rules in the order they are checked: the first that applies is the
one reported. chatserver/lua/append.lua checks the same rules in the same order; the
moderation gate calls ``post_rule``; tests/fixtures/post_guard_cases.json holds all three
to the same answers."""


@dataclass(frozen=True, slots=True)
class PostRule:
    """The rule that refuses a post, and how long until it stops applying (None: until
    someone acts)."""

    rule: str
    wait_ms: int | None


def post_rule(
    user_id: str,
    role: str,
    now_ms: int,
    *,
    muted: bool,
    muted_until_ms: int | None,
    paused: bool,
    locked: bool,
    floor: str | None,
    slow_mode_s: int,
    last_post_ms: int | None,
    session: str = "none",
    agreed: bool = True,
    turn: str = "",
) -> PostRule | None:
    """May this person post now? The one statement of the post guard, on plain values so
    callers holding the room state in another shape (the moderation gate) use it as is.

    ``muted_until_ms`` is None for a mute until unmuted; a mute that has ended (``until
    <= now``) no longer applies. Facilitators always may post.

    The meeting (rooms/meeting.py): ``session`` is its status (an ended session closes
    the room until the next; a live one asks each member to have ``agreed`` to the group
    agreement), and ``turn`` who may speak in a round ("" when no round is going).
    """
    if is_facilitator(role):
        return None
    if muted:
        if muted_until_ms is None:
            return PostRule("muted", None)
        if muted_until_ms > now_ms:
            return PostRule("muted", muted_until_ms - now_ms)
    if paused:
        return PostRule("paused", None)
    if locked:
        return PostRule("locked", None)
    if session == "ended":
        return PostRule("ended", None)
    if session == "live" and not agreed:
        return PostRule("agreement", None)
    if turn and turn != user_id:
        return PostRule("turn", None)
    if floor is not None and floor != user_id:
        return PostRule("floor", None)
    if slow_mode_s and last_post_ms is not None:
        wait_ms = last_post_ms + slow_mode_s * 1000 - now_ms
        if wait_ms > 0:
            return PostRule("slow_mode", wait_ms)
    return None


def check_post(state: RoomState, user_id: str, role: str, now_ms: int) -> Refusal | None:
    """May this person post a message now? ``post_rule`` on the room state, as the
    refusal the sender gets."""
    found = post_rule(
        user_id,
        role,
        now_ms,
        muted=user_id in state.mutes,
        muted_until_ms=state.mutes.get(user_id),
        paused=state.paused,
        locked=state.locked,
        floor=state.floor,
        slow_mode_s=state.slow_mode_s,
        last_post_ms=state.last_post_ms.get(user_id),
        session=state.meeting["status"],
        agreed=state.has_agreed(user_id),
        turn=state.meeting["turn"],
    )
    return None if found is None else refusal_for(found.rule, found.wait_ms)


def may_show_typing(state: RoomState, user_id: str, role: str, now_ms: int) -> bool:
    """Whether others should see "… is typing": not while this person cannot post (muted,
    paused, locked, someone else's floor), which would only tell the room a muted member
    is writing. Slow mode still shows it: the message will come."""
    refusal = check_post(state, user_id, role, now_ms)
    return refusal is None or refusal.code == SLOW_MODE


def refusal_for(rule: str, wait_ms: float | None) -> Refusal:
    """The refusal for a post rule (``POST_RULES``), in the one wording members read
    whichever check saw it first: the moderation gate, the memory backend or append.lua.

    ``wait_ms`` is how long until the rule stops applying (None: until someone acts).
    """
    left = None if wait_ms is None else max(wait_ms, 0) / 1000
    if rule == "muted":
        if left is None:
            return Refusal(MUTED, "A facilitator has muted you until they unmute you.")
        return Refusal(MUTED, f"You are muted for {_duration(left)} more.", left)
    if rule == "paused":
        return Refusal(ROOM_LOCKED, "The facilitator has paused the room for a moment.")
    if rule == "locked":
        return Refusal(ROOM_LOCKED, "The room is locked: only facilitators can post.")
    if rule == "floor":
        return Refusal(ROOM_LOCKED, "Someone else has the floor right now.")
    if rule == "ended":
        return Refusal(SESSION_ENDED, "This session has ended, so the room is closed for now.")
    if rule == "agreement":
        return Refusal(
            AGREEMENT_REQUIRED, "Please read and accept the group agreement before you post."
        )
    if rule == "turn":
        return Refusal(
            NOT_YOUR_TURN, "It's someone else's turn in the round: you can react while you wait."
        )
    if rule == "slow_mode":
        wait = left or 0.0
        return Refusal(
            SLOW_MODE, f"Slow mode is on: you can post again in {_duration(wait)}.", wait
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
        return Refusal(FORBIDDEN, "Only facilitators can do that.")
    return None


RESTRICTING: Final = frozenset({"mute", "remove", "floor"})
"""Controls that restrict or single out the person they name. ``unmute`` and ``readmit``
only lift a restriction, so they may name anyone (a co-facilitator muted by mistake
included)."""


def check_target(
    action: str, actor_id: str, target_id: str, facilitators: Set[str]
) -> Refusal | None:
    """May a facilitator aim ``action`` (mute, unmute, remove, readmit, floor) at
    ``target_id``? Never at themselves; and a restricting one never at a co-facilitator,
    whether they are in the room now or away.

    A role is known from a token only, so ``facilitators`` is the room's facilitator
    roster: everyone who has joined the room as a facilitator, present or not (each
    backend keeps it at the join: ``Presence.facilitators``). Someone whose facilitator
    link was never used in the room is not on it; a control on them changes nothing they
    need (facilitators post whatever the room's state, and removal does not keep them
    out), and they are protected from their first join on.
    """
    if actor_id == target_id:
        return Refusal(FORBIDDEN, "You cannot do that to yourself.")
    if action in RESTRICTING and target_id in facilitators:
        return Refusal(FORBIDDEN, "Facilitators cannot be muted, removed or given the floor.")
    return None
