"""What each request is answered with (docs/protocol.md): one TypedDict per ack shape.

Handlers return these; the transport sends them as the Socket.IO ack, so ``Ack`` (what the
handler registry holds) is any of them, read-only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, NotRequired, TypeAlias, TypedDict

from chatserver.backend import Alert, AuditRecord, User
from chatserver.errors import ErrorAck
from rooms.entries import Entry, HeldEntry, MessageEntry
from rooms.meeting import Meeting

__all__ = ["Ack", "ErrorAck", "Handler"]

Ack: TypeAlias = Mapping[str, object]
Handler: TypeAlias = Callable[[str, object], Awaitable[Ack]]
"""A request handler: the socket's sid and the request's data (untrusted, checked by
chatserver/schema.py) in, its ack out."""


class OkAck(TypedDict):
    ok: Literal[True]


OK: OkAck = {"ok": True}


class SupportAck(TypedDict):
    """need_support: what the member is told (a facilitator will check in privately)."""

    ok: Literal[True]
    message: str


class LoggedAck(TypedDict):
    """A control that was logged as a room event: its offset."""

    ok: Literal[True]
    offset: int


class MessageAck(TypedDict):
    """A message in the log: its id, offset and the text as delivered (maybe masked)."""

    ok: Literal[True]
    id: str
    offset: int
    text: str


class HeldAck(TypedDict):
    """A message held for a facilitator: not in the log yet."""

    ok: Literal[True]
    held: Literal[True]
    text: str


class HandsAck(TypedDict):
    ok: Literal[True]
    hands: list[User]


class ReviewAck(TypedDict):
    ok: Literal[True]
    offset: NotRequired[int]
    """Approved: where the message went in the log."""


class AuditAck(TypedDict):
    ok: Literal[True]
    entries: list[AuditRecord]


class You(TypedDict):
    id: str
    name: str
    role: str
    muted_until: int | None
    muted: bool
    agreed: bool
    """Accepted the group agreement of the session now live (rooms/meeting.py)."""
    checkin: bool
    """A facilitator has a private check-in open with this member."""


class RoomView(TypedDict):
    """The room as the join ack describes it."""

    id: str
    epoch: str
    offset: int
    locked: bool
    paused: bool
    slow_mode_s: int
    floor: str | None
    pinned: list[MessageEntry]
    meeting: Meeting
    """The session, its phase, the round, statuses and wins (rooms/meeting.py)."""
    reactions: dict[str, dict[str, list[str]]]
    """message id -> reaction -> who reacted."""
    members: list[User]
    hands: list[User]
    you: You


class MuteInForce(TypedDict):
    user_id: str
    until: int | None


class JoinAck(TypedDict):
    ok: Literal[True]
    room: RoomView
    recovered: bool
    entries: list[Entry]
    held_status: dict[str, str]
    limits: dict[str, int]
    history: NotRequired[str]
    """Why a rejoin got a fresh page: rooms.recovery.history_gap (lost, trimmed,
    rolled_back)."""
    held: NotRequired[list[HeldEntry]]
    alerts: NotRequired[list[Alert]]
    mutes: NotRequired[list[MuteInForce]]
    removed: NotRequired[list[str]]
    checkins: NotRequired[list[str]]
    """Facilitators: the members with a private check-in open."""


def message_ack(entry: MessageEntry) -> MessageAck:
    return {"ok": True, "id": entry["id"], "offset": entry["offset"], "text": entry["text"]}


def held_ack(text: str) -> HeldAck:
    return {"ok": True, "held": True, "text": text}
