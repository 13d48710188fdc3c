"""The flat objects that travel on the wire and live in a room's log.

An entry is exactly what a client receives: a ``message`` payload or a ``room_event``
payload. Keeping one shape for live events, history and recovery means clients have one
code path, and the log can be stored and published without translation.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypeAlias

Entry: TypeAlias = dict[str, Any]
"""A JSON- and msgpack-ready entry: see ``message_entry`` and ``room_event``."""

Role: TypeAlias = Literal["member", "facilitator"]
ROLES: Final = ("member", "facilitator")

MESSAGE: Final = "message"
ROOM_EVENT: Final = "room_event"

# Kinds of room change that are logged with an offset (DESIGN §2).
EVENT_KINDS: Final = frozenset(
    {
        "deleted",
        "pinned",
        "unpinned",
        "muted",
        "unmuted",
        "locked",
        "paused",
        "slow_mode",
        "removed",
        "readmitted",
        "floor",
    }
)


def user_info(user_id: str, name: str, role: str) -> dict[str, str]:
    return {"id": user_id, "name": name, "role": role}


def message_entry(
    *, room: str, msg_id: str, user: dict[str, str], text: str, ts: int, client_id: str
) -> Entry:
    """A chat message before the backend gives it an offset."""
    return {
        "room": room,
        "id": msg_id,
        "offset": 0,
        "user": user,
        "text": text,
        "ts": ts,
        "client_id": client_id,
    }


def room_event(*, room: str, kind: str, by: dict[str, str], ts: int, **fields: Any) -> Entry:
    """A logged room change before the backend gives it an offset."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown room event kind {kind!r}")
    entry: Entry = {"room": room, "offset": 0, "kind": kind, "by": by, "ts": ts}
    entry.update(fields)
    return entry


def event_name(entry: Entry) -> str:
    """The Socket.IO event a log entry is delivered as."""
    return ROOM_EVENT if "kind" in entry else MESSAGE


def is_message(entry: Entry) -> bool:
    return "kind" not in entry
