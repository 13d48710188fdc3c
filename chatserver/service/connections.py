"""Connections: sign-in and disconnect, leaving a room (with a grace period for a dropped
connection), members whose worker died, token expiry, and the drain on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chatserver import errors
from chatserver.auth import Claims
from chatserver.backend import (
    BackendUnavailable,
    Delivery,
    Presence,
    PresenceGone,
    RoomBus,
    User,
)
from chatserver.errors import ServiceError
from chatserver.metrics import Metrics
from chatserver.schema import parse_room
from chatserver.service.acks import OkAck
from chatserver.service.clock import ServiceClock
from chatserver.service.delivery import Connection, LocalRooms
from chatserver.service.refusals import signal_allowed
from chatserver.service.tasks import TaskSet
from rooms.signals import LEAVE, SignalLimiter

log = logging.getLogger(__name__)

# How often connections are checked for expired tokens.
EXPIRY_SWEEP_S = 30.0


class Connections:
    def __init__(
        self,
        rooms: LocalRooms,
        presence: Presence,
        bus: RoomBus,
        *,
        metrics: Metrics,
        clock: ServiceClock,
        tasks: TaskSet,
        leave_grace_s: float,
        signals: SignalLimiter,
    ) -> None:
        self._rooms = rooms
        self._presence = presence
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._tasks = tasks
        self._leave_grace_s = leave_grace_s
        self._signals = signals
        self.by_sid: dict[str, Connection] = {}
        # Presence of dropped connections, removed when their grace period ends.
        self._pending_leaves: set[asyncio.TimerHandle] = set()
        self._left: list[PresenceGone] = []
        self.draining = False
        """Set on SIGTERM: new requests are refused while in-flight ones finish."""
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._empty = asyncio.Event()
        self._empty.set()
        presence.on_presence_gone(self._presence_gone)
        rooms.on_evicted(self._evicted)

    # -- sign-in and out ---------------------------------------------------------------

    def connect(self, sid: str, eio_sid: str, claims: Claims) -> None:
        self.by_sid[sid] = Connection(sid, eio_sid, claims)
        self._empty.clear()
        self._metrics.connections.set(len(self.by_sid))

    async def disconnect(self, sid: str) -> None:
        conn = self.by_sid.pop(sid, None)
        self._metrics.connections.set(len(self.by_sid))
        if not self.by_sid:
            self._empty.set()
        if conn is None:
            return
        for room in list(conn.rooms):
            await self._leave_room(conn, room, grace=True)

    def get(self, sid: str) -> Connection:
        conn = self.by_sid.get(sid)
        if conn is None:
            raise ServiceError(errors.UNAUTHORIZED, "This connection is not signed in.")
        return conn

    def in_room(self, sid: str, room: str, message: str) -> Connection:
        """The connection, which must have joined ``room`` (else ``message``)."""
        conn = self.get(sid)
        if room not in conn.rooms:
            raise ServiceError(errors.NOT_IN_ROOM, message)
        return conn

    # -- leaving -----------------------------------------------------------------------

    async def leave(self, sid: str, data: object) -> OkAck:
        req = parse_room(data)
        conn = self.in_room(sid, req.room, "You are not in this room.")
        # Each leave and the join after it announce "left" and "joined" to everyone:
        # limited per member like typing and hands (rooms/signals.py). A dropped
        # connection is not a leave: its grace period keeps a reconnect quiet.
        signal_allowed(self._signals, LEAVE, req.room, conn.claims.user_id)
        await self._leave_room(conn, req.room)
        return {"ok": True}

    async def _leave_room(self, conn: Connection, room: str, *, grace: bool = False) -> None:
        self._rooms.leave(conn, room)
        if grace and self._leave_grace_s > 0:
            # A dropped connection (not a "leave") stays present for a moment: if the
            # person is back by then, through any worker, the room sees no "left" and
            # "joined", and a raised hand keeps its place.
            def leave_later() -> None:
                self._pending_leaves.discard(handle)
                self._tasks.spawn(self._presence_leave(conn, room))

            handle = asyncio.get_running_loop().call_later(self._leave_grace_s, leave_later)
            self._pending_leaves.add(handle)
            return
        await self._presence_leave(conn, room)

    def _evicted(self, conn: Connection, room: str) -> None:
        """Removed by a facilitator: out of the room at once, no grace."""
        self._tasks.spawn(self._presence_leave(conn, room))

    async def _presence_leave(self, conn: Connection, room: str) -> None:
        user = conn.claims.user(room)
        try:
            # One step in the backend: presence removed, a raised hand lowered (someone
            # who left no longer waits to speak) and "left" published, numbered with
            # the "joined", so a join's ack is either before it or lists them gone.
            leaving = await self._presence.presence_leave(room, user, conn.sid)
        except BackendUnavailable:
            # Presence entries expire on their own in the shared backend.
            log.warning("presence of %s in %s not removed: backend unavailable", conn.sid, room)
            return
        if leaving.hands is not None:
            lowered = {"room": room, "user": user, "raised": False, "hands": leaving.hands}
            # The hand is down in the backend either way; the next "hand" event carries the queue.
            with contextlib.suppress(BackendUnavailable):
                await self._bus.publish(room, Delivery("hand", lowered))
        if leaving.left:
            await self._told_left(room, [user])

    async def _presence_gone(self, room: str, users: list[User]) -> None:
        """Members whose worker died (their presence expired) have left."""
        await self._presence.presence_announce_gone(room, users)
        await self._told_left(room, users)

    async def _told_left(self, room: str, users: list[User]) -> None:
        for handler in self._left:
            await handler(room, users)

    def on_left(self, handler: PresenceGone) -> None:
        """Tell ``handler`` of people who have left a room (after the room was told)."""
        self._left.append(handler)

    # -- expiry ------------------------------------------------------------------------

    def end_expired(self) -> int:
        """Close every connection whose token has expired, listeners that send nothing
        included (a request after expiry is refused by the transport). Their clients'
        reconnects are refused as expired. Returns how many were closed."""
        now = self._clock()
        expired = [c for c in self.by_sid.values() if c.claims.expired(now)]
        self._rooms.drop(expired, discard_queued=False)
        return len(expired)

    def end_membership(self, membership: str) -> int:
        """Close every connection signed in with this membership's credential: an
        organiser ended the place (chatserver/organise/access.py). The person leaves
        their rooms at once (no grace: they are not coming back) and their client's
        reconnect is refused at connect. Returns how many were closed."""
        ended = [c for c in self.by_sid.values() if c.claims.membership == membership]
        for conn in ended:
            for room in list(conn.rooms):
                self._rooms.leave(conn, room)  # out of delivery now, before any more entries
                self._tasks.spawn(self._presence_leave(conn, room))
        self._rooms.drop(ended, discard_queued=False)
        return len(ended)

    async def end_expired_forever(self, interval_s: float = EXPIRY_SWEEP_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.end_expired()

    # -- drain -------------------------------------------------------------------------

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def drain(self, timeout_s: float) -> None:
        """Refuse new requests and wait (bounded) for in-flight ones, e.g. appends."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        if self.in_flight:
            log.warning("drain: %d requests still in flight after %.1fs", self.in_flight, timeout_s)

    async def wait_all_disconnected(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout_s)

    def close(self) -> None:
        for handle in self._pending_leaves:
            handle.cancel()  # the shared backend's presence entries expire by themselves
        self._pending_leaves.clear()
