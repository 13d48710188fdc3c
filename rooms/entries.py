"""The flat objects that travel on the wire and live in a room's log.

An entry is exactly what a client receives: a ``message`` payload or a ``room_event``
payload. Keeping one shape for live events, history and recovery means clients have one
code path, and the log can be stored and published without translation.
"""

from __future__ import annotations

from typing import (
    Any,
    Final,
    Literal,
    NotRequired,
    TypeAlias,
    TypedDict,
    TypeGuard,
    Unpack,
    final,
)

Role: TypeAlias = Literal["member", "facilitator"]
ROLES: Final = ("member", "facilitator")


class UserInfo(TypedDict):
    """A person as others see them in a room (``role`` is ``system`` for moderation)."""

    id: str
    name: str
    role: str


@final
class MessageEntry(TypedDict):
    """A chat message; ``offset`` is 0 until the backend appends it (and stays 0 when
    it is held for review)."""

    room: str
    id: str
    offset: int
    user: UserInfo
    text: str
    ts: int
    client_id: str
    thread: NotRequired[str]
    """A private check-in's message: the member it is with (seen by them and facilitators)."""


@final
class HeldEntry(TypedDict):
    """A message held for a facilitator's review (never in the log: offset 0): the
    message's fields, why it was held, and what else it raised."""

    room: str
    id: str
    offset: int
    user: UserInfo
    text: str
    ts: int
    client_id: str
    held_reason: str
    kinds: list[str]
    priority: bool
    thread: NotRequired[str]
    """Held from a private check-in: approved, it goes back there."""


class EventFields(TypedDict, total=False):
    """What a room event carries beyond who and when; which fields depends on the kind
    (docs/protocol.md)."""

    user_id: str | None
    """muted, unmuted, removed, readmitted: who; floor: who has it (None: everyone)."""
    until: int | None
    reason: str
    name: str
    locked: bool
    paused: bool
    slow_mode_s: int
    id: str
    """pinned, unpinned, deleted: the message id."""
    at: int
    """deleted: the message's offset (its stored copy is erased, not only hidden)."""
    entry: MessageEntry
    """pinned: the message as it was pinned."""
    user: UserInfo
    """A control aimed at a member who is present: who they are, for clients to name."""
    after: int
    """Meeting events: the offset of the meeting event this one was worked out from (the
    append refuses it if the room's meeting has moved on since: rooms/meeting.py)."""
    meeting: Any
    """Meeting events: the room's meeting after this change (``rooms.meeting.Meeting``)."""
    session_id: str
    """agreed: the session whose agreement was accepted."""
    reaction: str
    """reaction: which one (``REACTIONS``); ``id`` is the message, ``user_id`` who."""
    on: bool
    """reaction, win: added (True) or taken away (False)."""
    timer: bool
    """Meeting events a timer caused rather than a person (``by`` is the system)."""
    status: str | None
    """status: the quiet status shown (None: cleared)."""
    audience: str
    """"facilitators": an event only facilitators get (reactions_off: a message flagged for
    crisis language takes no reactions; the room is not told it was flagged)."""
    thread: str
    """checkin: the member of a private check-in; such an event, like a message with a
    ``thread``, is seen only by that member and the facilitators."""


@final
class RoomEvent(EventFields):
    """A logged room change (``kind`` in ``EVENT_KINDS``)."""

    room: str
    offset: int
    kind: str
    by: UserInfo
    ts: int


Entry: TypeAlias = MessageEntry | RoomEvent
"""A JSON- and msgpack-ready log entry: see ``message_entry`` and ``room_event``."""

MESSAGE: Final = "message"
ROOM_EVENT: Final = "room_event"

MEETING_KINDS: Final = frozenset(
    {
        "session_started",
        "session_ended",
        "phase",
        "time_notice",
        "agenda",
        "guidelines",
        "round_started",
        "turn",
        "round_ended",
        "status",
        "win",
        "history",
    }
)
"""Room events that change the meeting: each carries the meeting after it and is appended
only if the meeting is still what it was worked out from (rooms/meeting.py)."""

# Kinds of room change that are logged with an offset (DESIGN §2).
EVENT_KINDS: Final = (
    frozenset(
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
            "agreed",
            "reaction",
            "checkin",
            "reactions_off",
            "cleared",
        }
    )
    | MEETING_KINDS
)

REACTIONS: Final = {
    "heart": "Sending love",
    "me_too": "Me too",
    "celebrate": "Celebrate",
    "hug": "Hug",
}
"""Support reactions, with the words a client shows for each."""

SYSTEM_USER: Final[UserInfo] = {"id": "huddle", "name": "huddle", "role": "system"}
"""``by`` of an event no person caused (a timer)."""


def user_info(user_id: str, name: str, role: str) -> UserInfo:
    return {"id": user_id, "name": name, "role": role}


def message_entry(
    *, room: str, msg_id: str, user: UserInfo, text: str, ts: int, client_id: str
) -> MessageEntry:
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


def room_event(
    *, room: str, kind: str, by: UserInfo, ts: int, **fields: Unpack[EventFields]
) -> RoomEvent:
    """A logged room change before the backend gives it an offset."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown room event kind {kind!r}")
    return {"room": room, "offset": 0, "kind": kind, "by": by, "ts": ts, **fields}


def event_name(entry: Entry) -> str:
    """The Socket.IO event a log entry is delivered as."""
    return ROOM_EVENT if "kind" in entry else MESSAGE


def is_message(entry: Entry) -> TypeGuard[MessageEntry]:
    return "kind" not in entry


def as_message(entry: Entry) -> MessageEntry:
    """The entry, known to be a message (appending a message gives back a message)."""
    if "kind" in entry:
        raise TypeError(f"expected a message, got a {entry['kind']!r} room event")
    return entry


def reactions_off(room: str, msg_id: str, ts: int) -> RoomEvent:
    """The event that closes a message flagged for crisis language to support reactions
    (crisis language gets a facilitator, not an emoji): for facilitators only, so the
    room is not told the message was flagged."""
    return room_event(
        room=room, kind="reactions_off", by=SYSTEM_USER, ts=ts, id=msg_id, audience="facilitators"
    )
