"""The storage and fan-out contract every backend implements.

Two implementations: ``memory`` (the embedded default: one process, no Redis) and
``redis`` (many workers). One contract test suite runs against both
(tests/test_backend_contract.py), so the service never knows which one it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rooms.entries import Entry
from rooms.log import ReadResult
from rooms.policy import Refusal
from rooms.recovery import Since
from rooms.state import RoomState

EVERYONE = "all"
FACILITATORS = "facilitators"
USER_AUDIENCE = "user:"
"""Prefix of an audience naming one user (on whichever worker they are): ``user:<id>``."""
# Open alerts and held messages kept per room (a busy session has a handful; this bounds
# a flood). Past the cap the oldest (by ``ts``, then ``id``) go, in both backends.
ALERTS_PER_ROOM = 200
HELD_PER_ROOM = 200


@dataclass(frozen=True, slots=True)
class Delivery:
    """Something to emit to a room's sockets on every worker that has some."""

    event: str
    payload: dict[str, Any]
    offset: int | None = None
    """Set for logged entries (message, room_event); None for ephemeral events."""
    audience: str = EVERYONE


RoomListener = Callable[[Delivery], None]
"""Called in offset order, with no gaps, for every logged entry and ephemeral event."""


@dataclass(frozen=True, slots=True)
class SharedRaid:
    """Count this message's senders across every worker: the same text (``key``, from
    moderation) from ``members`` or more members within ``window_ms`` is a raid."""

    key: str
    window_ms: int
    members: int


@dataclass(frozen=True, slots=True)
class PostGuard:
    """Who is posting: the backend re-checks mute, lock, floor and slow mode atomically,
    and counts raid copies across workers when ``raid`` is given."""

    user_id: str
    role: str
    raid: SharedRaid | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    entry: Entry
    duplicate: bool
    """True when this client_id was already appended: ``entry`` is the first result."""


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    epoch: str
    offset: int
    state: RoomState


class AppendRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class RaidSuspected(Exception):
    """Not appended: the same text came from ``members`` members (on any worker) within
    the raid window. The message is held for a facilitator instead."""

    def __init__(self, members: int) -> None:
        super().__init__(f"the same text from {members} members")
        self.members = members


class BackendUnavailable(Exception):
    """The backend cannot be reached now; the request gets an `unavailable` ack."""


class Backend(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        """True when appends and subscriptions work right now."""
        ...

    async def append(
        self, room: str, entry: Entry, *, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        """Atomically: dedupe client_id, check the guard, give the next offset, store,
        fold room events into the state, and publish to the room's subscribers."""
        ...

    async def find_client_id(self, room: str, client_id: str) -> Entry | None: ...

    async def read(self, room: str, since: Since | None, page: int) -> ReadResult: ...

    async def snapshot(self, room: str, now_ms: int) -> RoomSnapshot: ...

    async def get_message(self, room: str, msg_id: str) -> Entry | None: ...

    async def publish(self, room: str, delivery: Delivery) -> None:
        """Fan out an ephemeral event (typing, hand, presence, alert): not logged."""
        ...

    async def subscribe(self, room: str, listener: RoomListener) -> int:
        """Start live deliveries for a room; returns the offset they continue from."""
        ...

    async def unsubscribe(self, room: str, listener: RoomListener) -> None: ...

    async def presence_add(self, room: str, user: dict[str, str], conn_id: str) -> bool:
        """True when this is the user's first connection in the room."""
        ...

    async def presence_remove(self, room: str, user_id: str, conn_id: str) -> bool:
        """True when this was the user's last connection in the room."""
        ...

    async def presence_members(self, room: str) -> list[dict[str, str]]: ...

    # Ephemeral room state every worker sees: raised hands and held messages.

    async def hands_set(
        self, room: str, user: dict[str, str], raised: bool, now_ms: int
    ) -> list[dict[str, str]]:
        """Raise or lower a hand; returns the queue, in the order hands went up."""
        ...

    async def hands_clear(self, room: str) -> None: ...

    async def hands_list(self, room: str) -> list[dict[str, str]]: ...

    async def hold_put(self, room: str, entry: Entry) -> None:
        """Keep a held message (with its ``held_reason``) until a facilitator reviews it;
        the oldest go past HELD_PER_ROOM."""
        ...

    async def hold_take(self, room: str, msg_id: str) -> Entry | None:
        """Atomically take a held message: exactly one reviewer gets it."""
        ...

    async def holds_list(self, room: str) -> list[Entry]: ...

    # Alerts for facilitators stay open until one of them dismisses it, so a facilitator
    # who joins or reconnects later still sees a crisis flagged while they were away.

    async def alert_put(self, room: str, alert: dict[str, Any]) -> None:
        """Keep an open alert (it has an ``id`` and ``ts``); the oldest go past
        ALERTS_PER_ROOM."""
        ...

    async def alert_take(self, room: str, alert_id: str) -> dict[str, Any] | None:
        """Atomically take an open alert: exactly one facilitator dismisses it."""
        ...

    async def alerts_list(self, room: str) -> list[dict[str, Any]]:
        """The open alerts, oldest first."""
        ...

    async def audit_add(self, room: str, record: dict[str, Any]) -> None:
        """Record a moderation action or verdict (rule ids and who, never message text)."""
        ...

    async def audit_list(self, room: str, limit: int) -> list[dict[str, Any]]:
        """The newest audit records first."""
        ...
