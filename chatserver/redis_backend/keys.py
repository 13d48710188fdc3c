"""How a room lives in Redis: its keys (one hash tag per room, so a Redis Cluster keeps
a room on one node and the scripts stay single-slot) and how long they live."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

# Presence entries live this long unless their worker refreshes them.
PRESENCE_TTL_MS = 30_000
PRESENCE_REFRESH_S = 10.0
DEDUPE_TTL_S = 24 * 3600
# Raised hands and held messages belong to a live session; a day is plenty.
EPHEMERAL_TTL_S = 24 * 3600
AUDIT_PER_ROOM = 1000


@lru_cache(maxsize=4096)
def room_keys(room: str) -> Mapping[str, str]:
    """A room's keys and channel (cached: built on every append; never mutate)."""
    base = f"huddle:{{{room}}}"
    return {
        "meta": f"{base}:meta",
        "log": f"{base}:log",
        "mutes": f"{base}:mutes",
        "last": f"{base}:last",
        "deleted": f"{base}:deleted",
        "pins": f"{base}:pins",
        "removed": f"{base}:removed",
        "presence": f"{base}:presence",
        "hands": f"{base}:hands",
        "held": f"{base}:held",
        "alerts": f"{base}:alerts",
        "audit": f"{base}:audit",
        "facilitators": f"{base}:facilitators",
        "channel": base,
    }


def _state_keys(k: Mapping[str, str]) -> list[str]:
    """The keys read.lua and snapshot.lua take, in their order (they reset them together)."""
    return [k[name] for name in ("meta", "log", "deleted", "mutes", "last", "pins", "removed")]


def raid_key(room: str, key: str) -> str:
    return f"huddle:{{{room}}}:raid:{key}"


def cid_key(room: str, user_id: str, client_id: str) -> str:
    """One sender's client_id (a canonical UUID: fixed length, so the user id after it
    cannot run into it). Per sender: client_ids are visible in every message event, and
    another member reusing one must get neither that message's ack nor its text."""
    return f"huddle:{{{room}}}:cid:{client_id}:{user_id}"
