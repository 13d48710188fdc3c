"""Room state as a fold over the room's logged events.

Every room change (mute, lock, pin …) is a log entry; the state any worker needs to
decide whether someone may post is what you get by applying those entries in offset
order. ``state_change`` reads what an entry changes (once, for every backend); the memory
backend applies it to one ``RoomState`` per room with ``apply_event``; the Redis backend
passes it to its append script, the one mirror, which applies it to the room's hashes.
tests/fixtures/room_state_cases.json holds both (and the web client) to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, TypedDict

from rooms.entries import MEETING_KINDS, Entry, MessageEntry
from rooms.meeting import Meeting, new_meeting


class RoomSummary(TypedDict):
    """What everyone in the room may see of its state (the join ack's room fields)."""

    locked: bool
    paused: bool
    slow_mode_s: int
    floor: str | None
    pinned: list[MessageEntry]
    meeting: Meeting
    reactions: dict[str, dict[str, list[str]]]


@dataclass(slots=True)
class RoomState:
    locked: bool = False
    paused: bool = False
    slow_mode_s: int = 0
    floor: str | None = None
    """User id holding the floor, or None when everyone may speak."""
    mutes: dict[str, int | None] = field(default_factory=dict)
    """user id -> muted until (ms since the epoch), None meaning until unmuted."""
    pins: dict[str, MessageEntry] = field(default_factory=dict)
    """message id -> the pinned message entry, in pin order."""
    removed: set[str] = field(default_factory=set)
    last_post_ms: dict[str, int] = field(default_factory=dict)
    meeting: Meeting = field(default_factory=new_meeting)
    """The session, its phase, the round … as the last meeting event left it."""
    meeting_at: int = 0
    """The offset of the last meeting event (0: none yet): what the next one must name."""
    agreed: dict[str, str] = field(default_factory=dict)
    """user id -> the session whose group agreement they accepted."""
    reactions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """message id -> reaction -> who (user ids, sorted)."""
    no_reactions: set[str] = field(default_factory=set)
    """Messages flagged for crisis language: they take no support reactions."""
    checkins: set[str] = field(default_factory=set)
    """Members with a private check-in open (rooms/meeting_rules.py check_thread_post)."""

    def has_agreed(self, user_id: str) -> bool:
        """Whether this person accepted the agreement of the session now live."""
        session = self.meeting["session_id"]
        return bool(session) and self.agreed.get(user_id) == session

    def muted_until(self, user_id: str, now_ms: int) -> int | None:
        """When the user's mute ends; 0 when not muted, None when muted indefinitely."""
        if user_id not in self.mutes:
            return 0
        until = self.mutes[user_id]
        if until is not None and until <= now_ms:
            return 0
        return until

    def summary(self) -> RoomSummary:
        return {
            "locked": self.locked,
            "paused": self.paused,
            "slow_mode_s": self.slow_mode_s,
            "floor": self.floor,
            "pinned": list(self.pins.values()),
            "meeting": self.meeting,
            "reactions": self.reactions,
        }


class StateChange(NamedTuple):
    """What one log entry changes in the room state, read once from the entry.

    ``op`` names the change (the same names chatserver/lua/append.lua folds by), ``a`` is
    the key it changes (a user or message id) or its new value, ``b`` the value for a key.
    """

    op: str
    a: Any = None
    b: Any = None


NO_CHANGE: Final = StateChange("none")


def state_change(entry: Entry) -> StateChange:
    """How a logged entry changes the room state: the one reading of every event kind.

    ``apply_event`` applies it to a ``RoomState``; the Redis backend hands it to its
    append script, which applies it to the room's hashes.
    """
    if "kind" not in entry:
        return StateChange("message", entry["user"]["id"], entry["ts"])
    kind = entry["kind"]
    if kind == "locked":
        return StateChange("locked", bool(entry.get("locked")))
    if kind == "paused":
        return StateChange("paused", bool(entry.get("paused")))
    if kind == "slow_mode":
        return StateChange("slow_mode_s", int(entry.get("slow_mode_s", 0)))
    if kind == "floor":
        return StateChange("floor", entry.get("user_id") or None)
    if kind == "muted":
        until = entry.get("until")
        return StateChange("muted", entry.get("user_id"), None if until is None else int(until))
    if kind in ("unmuted", "removed", "readmitted"):
        return StateChange(kind, entry.get("user_id"))
    if kind == "pinned":
        return StateChange("pinned", entry.get("id"), entry.get("entry"))
    if kind == "unpinned":
        return StateChange(kind, entry.get("id"))
    if kind == "deleted":
        # b: the message's offset, for a store that erases its copy by offset (Redis).
        return StateChange(kind, entry.get("id"), entry.get("at"))
    if kind in MEETING_KINDS:
        return StateChange("meeting", int(entry.get("after", 0)), entry.get("meeting"))
    if kind == "agreed":
        return StateChange("agreed", entry.get("user_id"), entry.get("session_id"))
    if kind == "reactions_off":
        return StateChange("reactions_off", entry.get("id"))
    if kind == "checkin":
        return StateChange("checkin", entry.get("user_id"), bool(entry.get("on")))
    if kind == "reaction":
        key = (entry.get("id"), entry.get("reaction"), entry.get("user_id"))
        return StateChange("reaction", key, bool(entry.get("on")))
    if kind == "cleared":
        return StateChange("cleared")
    return NO_CHANGE


def apply_event(state: RoomState, entry: Entry, now_ms: int) -> None:
    """Fold one logged entry into the state (messages only touch last_post_ms)."""
    op, a, b = state_change(entry)
    if op == "message":
        state.last_post_ms[a] = b
        return
    if op == "locked":
        state.locked = a
    elif op == "paused":
        state.paused = a
    elif op == "slow_mode_s":
        state.slow_mode_s = a
    elif op == "floor":
        state.floor = a
    elif op == "muted":
        state.mutes[a] = b
    elif op == "unmuted":
        state.mutes.pop(a, None)
    elif op == "pinned":
        # Pinning a pinned message again keeps its place (a dict keeps the first position).
        state.pins[a] = b
    elif op in ("unpinned", "deleted"):
        state.pins.pop(a, None)
    elif op == "removed":
        state.removed.add(a)
    elif op == "readmitted":
        state.removed.discard(a)
    elif op == "meeting":
        state.meeting = b
        state.meeting_at = entry["offset"]
    elif op == "agreed":
        state.agreed[a] = b
    elif op == "reaction":
        react(state.reactions, *a, on=b)
    elif op == "reactions_off":
        state.no_reactions.add(a)
    elif op == "cleared":
        # A facilitator cleared the conversation: what pointed into it goes with it.
        state.pins.clear()
        state.reactions.clear()
    elif op == "checkin":
        if b:
            state.checkins.add(a)
        else:
            state.checkins.discard(a)
    # Expired mutes are dropped lazily so the table does not grow over a long session.
    for user_id, until in list(state.mutes.items()):
        if until is not None and until <= now_ms:
            del state.mutes[user_id]


def mutes_in_force(state: RoomState, now_ms: int) -> dict[str, int | None]:
    """The mutes that still apply at ``now_ms`` (user id -> until, None: until unmuted)."""
    return {u: t for u, t in state.mutes.items() if state.muted_until(u, now_ms) != 0}


def react(
    reactions: dict[str, dict[str, list[str]]],
    msg_id: str,
    reaction: str,
    user_id: str,
    *,
    on: bool,
) -> None:
    """Add or take away one person's reaction (one of each per person: a set, sorted)."""
    kinds = reactions.setdefault(msg_id, {})
    who = set(kinds.get(reaction, ()))
    if on:
        who.add(user_id)
    else:
        who.discard(user_id)
    if who:
        kinds[reaction] = sorted(who)
    else:
        kinds.pop(reaction, None)
    if not kinds:
        del reactions[msg_id]
