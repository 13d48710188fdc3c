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
class PostGuard:
    """Who is posting: the backend re-checks mute, lock, floor and slow mode atomically."""

    user_id: str
    role: str


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
