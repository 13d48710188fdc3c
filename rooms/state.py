"""Room state as a fold over the room's logged events.

Every room change (mute, lock, pin …) is a log entry; the state any worker needs to
decide whether someone may post is what you get by applying those entries in offset
order. The memory backend keeps one ``RoomState`` per room; the Redis backend keeps the
same fields in the room's hashes and mirrors ``apply_event`` in its append script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rooms.entries import Entry


@dataclass(slots=True)
class RoomState:
    locked: bool = False
    paused: bool = False
    slow_mode_s: int = 0
    floor: str | None = None
    """User id holding the floor, or None when everyone may speak."""
    mutes: dict[str, int | None] = field(default_factory=dict)
    """user id -> muted until (ms since the epoch), None meaning until unmuted."""
    pins: dict[str, Entry] = field(default_factory=dict)
    """message id -> the pinned message entry, in pin order."""
    removed: set[str] = field(default_factory=set)
    last_post_ms: dict[str, int] = field(default_factory=dict)

    def muted_until(self, user_id: str, now_ms: int) -> int | None:
        """When the user's mute ends; 0 when not muted, None when muted indefinitely."""
        if user_id not in self.mutes:
            return 0
        until = self.mutes[user_id]
        if until is not None and until <= now_ms:
            return 0
        return until

    def summary(self) -> dict[str, Any]:
        return {
            "locked": self.locked,
            "paused": self.paused,
            "slow_mode_s": self.slow_mode_s,
            "floor": self.floor,
            "pinned": list(self.pins.values()),
        }


def apply_event(state: RoomState, entry: Entry, now_ms: int) -> None:
    """Fold one logged room event into the state (messages only touch last_post_ms)."""
    kind = entry.get("kind")
    if kind is None:
        state.last_post_ms[entry["user"]["id"]] = entry["ts"]
        return
    if kind == "locked":
        state.locked = bool(entry["locked"])
    elif kind == "paused":
        state.paused = bool(entry["paused"])
    elif kind == "slow_mode":
        state.slow_mode_s = int(entry["slow_mode_s"])
    elif kind == "floor":
        state.floor = entry.get("user_id")
    elif kind == "muted":
        state.mutes[entry["user_id"]] = entry.get("until")
    elif kind == "unmuted":
        state.mutes.pop(entry["user_id"], None)
    elif kind == "pinned":
        state.pins[entry["id"]] = entry["entry"]
    elif kind == "unpinned" or kind == "deleted":
        state.pins.pop(entry["id"], None)
    elif kind == "removed":
        state.removed.add(entry["user_id"])
    elif kind == "readmitted":
        state.removed.discard(entry["user_id"])
    # Expired mutes are dropped lazily so the table does not grow over a long session.
    for user_id, until in list(state.mutes.items()):
        if until is not None and until <= now_ms:
            del state.mutes[user_id]
