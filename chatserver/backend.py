"""The storage and fan-out contract every backend implements, as a few narrow interfaces.

Each piece of the service (chatserver/service/) asks only for what it uses:

- ``RoomLog``: append (atomic guard, offset, fold, publish), read, recover, snapshot;
- ``RoomBus``: publish ephemeral events, subscribe and unsubscribe a room's listener;
- ``Presence``: who is in a room across workers, and who vanished with a dead worker;
- ``Hands``: the raised-hands queue;
- ``ReviewStore``: held messages, open alerts and the audit trail;
- ``Entrance``: a join's reads and presence in one atomic step (one round trip).

Three implementations: ``sqlite`` (the embedded default: one process, no Redis, rooms
kept in a file), ``memory`` (the same in memory only; ``sqlite`` builds on it) and
``redis`` (many workers); each implements them all (``Backend``). One contract test
suite runs against all three (tests/contract/test_backend_contract.py), so the service
never knows which one it has. This module may import rooms/ only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NotRequired, Protocol, TypeAlias, TypedDict, cast

from rooms.entries import Entry, HeldEntry, MessageEntry, UserInfo
from rooms.log import ReadResult
from rooms.policy import Refusal
from rooms.recovery import Since
from rooms.state import RoomState

User: TypeAlias = UserInfo
"""A person as others see them in a room: ``{id, name, role}`` (rooms.entries.user_info)."""


Payload: TypeAlias = Mapping[str, object]
"""What an event carries to clients: a log entry, an alert, a typing or hand change ...
(each a TypedDict of its own; docs/protocol.md lists them). Encoded as JSON or msgpack."""


class Alert(TypedDict):
    """An alert for a room's facilitators, as stored and as sent (``alert`` event)."""

    room: str
    kind: str
    user: NotRequired[User]
    entry: NotRequired[MessageEntry | HeldEntry | None]
    reason: NotRequired[str]
    priority: NotRequired[bool]
    kinds: NotRequired[list[str]]
    id: NotRequired[str]
    ts: NotRequired[int]
    """``id`` and ``ts`` are given when an alert is kept open (every kind but ``held``)."""
    by: NotRequired[User]
    approved: NotRequired[bool]


class AuditRecord(TypedDict):
    """One line of a room's audit trail: who did what, when; never message text."""

    ts: int
    by: User
    action: str
    rule: NotRequired[str]
    stage: NotRequired[str]
    user_id: NotRequired[str | None]
    offset: NotRequired[int]
    id: NotRequired[str]
    reason: NotRequired[str]
    duration_s: NotRequired[int | None]
    locked: NotRequired[bool]
    paused: NotRequired[bool]
    slow_mode_s: NotRequired[int]


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
    payload: Payload
    offset: int | None = None
    """Set for logged entries (message, room_event); None for ephemeral events."""
    audience: str = EVERYONE
    seq: int = 0
    """For a "presence" event a join or a leave published (join.lua, leave.lua): the
    room's presence sequence number, which orders it against a join's member list
    (``JoinView.presence_seq``); 0 for every other event (and a "left" of a worker of an
    earlier version)."""

    @property
    def entry(self) -> Entry | None:
        """The log entry a logged delivery carries (its payload); None when ephemeral."""
        return cast(Entry, self.payload) if self.offset is not None else None


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


@dataclass(frozen=True, slots=True)
class JoinQuery:
    """What one join reads and changes, all at once (``Entrance.enter``)."""

    user: User
    conn_id: str
    since: Since | None
    page: int
    """Entries in a fresh page (when ``since`` cannot be recovered)."""
    now_ms: int
    keep_out_removed: bool = True
    """Add no presence when the user was removed from the room (check_join refuses them);
    False for facilitators, whom removal does not keep out."""
    holds: bool = False
    """List the held messages (for a facilitator, or a member asking about their own)."""
    alerts: bool = False
    """List the open alerts (for a facilitator)."""
    client_ids: tuple[str, ...] = ()
    """The joiner's own canonical client_ids to look up, logged (offset > 0) or held
    (offset 0)."""


@dataclass(frozen=True, slots=True)
class JoinView:
    """Everything a join ack needs, read in one atomic step after presence was added."""

    state: RoomState
    read: ReadResult
    admitted: bool
    """False when the user is removed and ``keep_out_removed``: nothing was changed."""
    first: bool
    """This was the user's first connection in the room: the room was told they joined."""
    members: list[User] = field(default_factory=list)
    hands: list[User] = field(default_factory=list)
    holds: list[HeldEntry] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    found: dict[str, MessageEntry] = field(default_factory=dict)
    """client_id -> its entry, for the looked-up client_ids that were found."""
    presence_seq: int = 0
    """The room's presence sequence number when ``members`` was read (this join's own
    "joined" included): a "presence" event with a higher ``seq`` came after that list,
    one with a lower or equal ``seq`` is already in it. Joins on several workers at once
    hear each other's "joined", and the "left" of leaves meanwhile, in any order relative
    to their own acks."""
    live_from: int | None = None
    """Where this worker's live delivery of the room stands (the offset of the last entry
    it handed its listeners), when the bus took it from a join's read: see
    ``RoomBus.subscribe_for_join``. None when the bus read it itself."""


class AppendRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class MeetingMoved(Exception):
    """Not appended: a meeting event worked out from a meeting that has changed since
    (its ``after`` is not the room's last meeting event). Work it out again from the
    room's state now (rooms/meeting.py)."""


class RaidSuspected(Exception):
    """Not appended: the same text came from ``members`` members (on any worker) within
    the raid window. The message is held for a facilitator instead."""

    def __init__(self, members: int) -> None:
        super().__init__(f"the same text from {members} members")
        self.members = members


class BackendUnavailable(Exception):
    """The backend cannot be reached now; the request gets an `unavailable` ack."""


class RoomLog(Protocol):
    """A room's ordered log and the state folded from it."""

    async def append(
        self, room: str, entry: Entry, *, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        """Atomically: dedupe client_id, check the guard, give the next offset, store,
        fold room events into the state, and publish to the room's subscribers."""
        ...

    async def find_client_id(
        self, room: str, user_id: str, client_id: str
    ) -> MessageEntry | HeldEntry | None:
        """What this sender's client_id became: logged (offset > 0) or held (offset 0).
        Per sender, as the append dedupes: another member's client_id finds nothing."""
        ...

    async def read(self, room: str, since: Since | None, page: int) -> ReadResult: ...

    async def snapshot(self, room: str, now_ms: int) -> RoomSnapshot: ...

    async def get_message(self, room: str, msg_id: str) -> MessageEntry | None: ...


class RoomBus(Protocol):
    """Live delivery of a room to this worker's listeners, from every worker."""

    async def publish(self, room: str, delivery: Delivery) -> None:
        """Fan out an ephemeral event (typing, hand, presence, alert): not logged."""
        ...

    async def subscribe(self, room: str, listener: RoomListener) -> int:
        """Start live deliveries for a room; returns the offset they continue from."""
        ...

    async def subscribe_for_join(self, room: str, listener: RoomListener) -> int | None:
        """As ``subscribe``, for a room about to be joined. When the room is new to this
        worker, the bus may leave where live deliveries start to the join: it returns
        None then, holds what is published meanwhile, and the room's next
        ``Entrance.enter`` (sent after this returns, so after the subscription took
        effect) starts live delivery from its own read and reports it in
        ``JoinView.live_from``. One round trip fewer on a room's first join."""
        ...

    async def unsubscribe(self, room: str, listener: RoomListener) -> None: ...


@dataclass(frozen=True, slots=True)
class Leaving:
    """What a connection's leave did (``Presence.presence_leave``)."""

    left: bool
    """It was the user's last connection in the room: "left" was published."""
    hands: list[User] | None = None
    """The raised-hands queue after the leaver's hand was lowered (None: it was not up)."""


PresenceGone = Callable[[str, list[User]], Awaitable[None]]
"""Called with a room and the users whose presence expired there (their worker died)."""


class Presence(Protocol):
    """Who is in a room: a person counts once however many connections they have."""

    async def presence_add(self, room: str, user: User, conn_id: str) -> bool:
        """True when this is the user's first connection in the room."""
        ...

    async def presence_remove(self, room: str, user_id: str, conn_id: str) -> bool:
        """True when this was the user's last connection in the room."""
        ...

    async def presence_members(self, room: str) -> list[User]: ...

    async def presence_leave(self, room: str, user: User, conn_id: str) -> Leaving:
        """Atomically, in one step: remove the connection's presence and, if it was the
        user's last in the room, lower their raised hand and publish "left", numbered in
        the room's presence sequence with the "joined" (``Delivery.seq``), with the member
        list read in the same step."""
        ...

    async def presence_announce_gone(self, room: str, users: list[User]) -> None:
        """Publish "left", numbered like ``presence_leave``'s, for users whose presence
        expired (``on_presence_gone``)."""
        ...

    def on_presence_gone(self, handler: PresenceGone) -> None:
        """Register who hears of members whose worker died (never called in one process)."""
        ...

    async def facilitators(self, room: str) -> frozenset[str]:
        """The room's facilitator roster: everyone who has joined it as a facilitator,
        present or not (recorded by ``Entrance.enter``), so rules about a co-facilitator
        hold while they are away."""
        ...


class Hands(Protocol):
    """The raised-hands queue every worker sees."""

    async def hands_set(self, room: str, user: User, raised: bool, now_ms: int) -> list[User]:
        """Raise or lower a hand; returns the queue, in the order hands went up."""
        ...

    async def hands_clear(self, room: str) -> None: ...

    async def hands_list(self, room: str) -> list[User]: ...


class ReviewStore(Protocol):
    """What facilitators review: held messages, open alerts, and the audit trail.

    Alerts stay open until a facilitator dismisses one, so a facilitator who joins or
    reconnects later still sees a crisis flagged while they were away.
    """

    async def hold_put(self, room: str, entry: HeldEntry) -> None:
        """Keep a held message (with its ``held_reason``) until a facilitator reviews it;
        the oldest go past HELD_PER_ROOM."""
        ...

    async def hold_take(self, room: str, msg_id: str) -> HeldEntry | None:
        """Atomically take a held message: exactly one reviewer gets it."""
        ...

    async def holds_list(self, room: str) -> list[HeldEntry]: ...

    async def alert_put(self, room: str, alert: Alert) -> None:
        """Keep an open alert (it has an ``id`` and ``ts``); the oldest go past
        ALERTS_PER_ROOM."""
        ...

    async def alert_take(self, room: str, alert_id: str) -> Alert | None:
        """Atomically take an open alert: exactly one facilitator dismisses it."""
        ...

    async def alerts_list(self, room: str) -> list[Alert]:
        """The open alerts, oldest first."""
        ...

    async def audit_add(self, room: str, record: AuditRecord) -> None:
        """Record a moderation action or verdict (rule ids and who, never message text)."""
        ...

    async def audit_list(self, room: str, limit: int) -> list[AuditRecord]:
        """The newest audit records first."""
        ...


class Entrance(Protocol):
    async def enter(self, room: str, query: JoinQuery) -> JoinView:
        """Atomically, in one round trip: add the joiner's presence (unless kept out),
        tell the room when it is their first connection, and read the room's state, log,
        members, hands and what ``query`` asks for."""
        ...


class Backend(RoomLog, RoomBus, Presence, Hands, ReviewStore, Entrance, Protocol):
    """One backend implements every interface; app.py hands each piece what it needs."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        """True when appends and subscriptions work right now."""
        ...
