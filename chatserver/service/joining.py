"""Joining a room: who may, what the joiner is told (the join ack), and entering live
delivery with nothing seen twice or missed.

The backend answers a join in one atomic step (``Entrance.enter``: presence, state, log,
members, hands and, for a facilitator, held messages and open alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from chatserver import errors
from chatserver.auth import Claims
from chatserver.backend import Entrance, JoinQuery, JoinView, RoomLog, User
from chatserver.errors import ServiceError
from chatserver.metrics import Metrics
from chatserver.schema import JoinRequest, parse_join
from chatserver.service.acks import JoinAck
from chatserver.service.admission import JoinAdmission
from chatserver.service.alerts import Alerts
from chatserver.service.clock import ServiceClock
from chatserver.service.connections import Connections
from chatserver.service.delivery import LocalRoom, LocalRooms
from chatserver.service.refusals import refuse
from chatserver.service.tasks import TaskSet
from rooms.entries import Entry
from rooms.log import ReadResult
from rooms.meeting_rules import may_see
from rooms.policy import check_invited, check_join, is_facilitator
from rooms.recovery import history_gap

Arrived = Callable[[str, User], Coroutine[Any, Any, None]]
"""Told of a room and the person who has just arrived in it."""

# Joins read again when live delivery moved on while the history was read.
JOIN_READ_ATTEMPTS = 5


class Joining:
    def __init__(
        self,
        connections: Connections,
        rooms: LocalRooms,
        entrance: Entrance,
        log: RoomLog,
        alerts: Alerts,
        *,
        metrics: Metrics,
        clock: ServiceClock,
        tasks: TaskSet,
        history_page: int,
        max_message_chars: int,
        admission: JoinAdmission | None = None,
    ) -> None:
        self._connections = connections
        self._rooms = rooms
        self._entrance = entrance
        self._log = log
        self._alerts = alerts
        self._metrics = metrics
        self._clock = clock
        self._tasks = tasks
        self._history_page = history_page
        self._max_message_chars = max_message_chars
        self._joined: list[Arrived] = []
        self._admission = admission or JoinAdmission()

    def on_joined(self, handler: Arrived) -> None:
        """Tell ``handler`` of each person's first connection in a room (after the ack)."""
        self._joined.append(handler)

    async def join(self, sid: str, data: object) -> JoinAck:
        conn = self._connections.get(sid)
        req = parse_join(data)
        claims = conn.claims
        refuse(check_invited(claims.rooms, req.room))
        # At most JOINS_IN_FLIGHT joins at once, recovery first (service/admission.py).
        async with self._admission.admitted(recovering=req.since is not None):
            now = self._clock()
            local = await self._rooms.open(req.room)
            entered = False
            try:
                view, read, upto = await self._enter(req, claims, local, sid, now)
                self._rooms.enter(local, conn, view.presence_seq)
                entered = True
            finally:
                if not entered:
                    self._rooms.abandon(local)
            if view.first:
                for handler in self._joined:
                    self._tasks.spawn(handler(req.room, claims.user(req.room)))
            if req.since is not None:
                self._metrics.recoveries.labels(recovered=str(read.recovered).lower()).inc()
            if is_facilitator(claims.rooms[req.room]):
                sent = {alert.get("id", "") for alert in view.alerts}
                self._tasks.spawn(self._alerts.catch_up(conn, req.room, sent))
            return join_ack(
                req,
                view,
                read,
                upto,
                user_id=claims.user_id,
                name=claims.name,
                role=claims.rooms[req.room],
                now=now,
                max_message_chars=self._max_message_chars,
            )

    async def _enter(
        self, req: JoinRequest, claims: Claims, local: LocalRoom, sid: str, now: int
    ) -> tuple[JoinView, ReadResult, int]:
        """The backend's side of the join, up to the moment the socket may enter live
        delivery: the view, what the ack carries, and the offset delivery stands at."""
        facilitator = is_facilitator(claims.rooms[req.room])
        query = JoinQuery(
            claims.user(req.room),
            sid,
            req.since,
            self._history_page,
            now,
            keep_out_removed=not facilitator,
            holds=facilitator or bool(req.held),
            alerts=facilitator,
            client_ids=tuple(canonical for _, canonical in req.held),
        )
        view = await self._entrance.enter(req.room, query)
        if not self._rooms.begin(local, view.live_from):
            # The room's subscription was lost before this join's read could say where
            # live delivery starts; the bus catches the room up when it is back.
            raise ServiceError(errors.UNAVAILABLE, "The room is busy; please try again.")
        refuse(check_join(claims.rooms, req.room, claims.user_id, view.state))
        if not local.seeded:
            # Read after subscribing: entries delivered meanwhile are folded in twice,
            # which apply_event tolerates, and none is missed.
            local.state, local.seeded = view.state, True
        read = view.read
        for _ in range(JOIN_READ_ATTEMPTS):
            if read.offset >= local.delivered_offset:
                break
            # Live delivery passed what we read: entries in between would reach this
            # socket neither in the ack nor live. Read again (rare: only under load).
            read = await self._log.read(req.room, req.since, self._history_page)
        # From here until the socket enters live delivery there is no await: the ack is
        # queued before any later live entry, so nothing is seen twice or missed.
        upto = local.delivered_offset
        if read.offset < upto:
            raise ServiceError(errors.UNAVAILABLE, "The room is busy; please try again.")
        return view, read, upto


def held_status(req: JoinRequest, view: JoinView, user_id: str) -> dict[str, str]:
    """The joiner's own held messages it still shows as waiting (``held``: client_ids as
    sent, and canonical): "shared" (approved: in the log), "waiting" (still held) or
    "not_shared" (refused, perhaps while they were away). Other people's messages and
    ones not found are left out: a member learns nothing about anyone else's.

    The backend reads the holds before the client_ids: a review takes the hold and then
    appends, so an entry found unlogged and already gone from the holds was taken before
    we looked. (One being approved at this moment may read "not_shared"; its log copy, in
    this ack or live, then takes the placeholder's place by client_id.)"""
    status: dict[str, str] = {}
    still_held = {h["id"] for h in view.holds}
    for asked, canonical in req.held:
        entry = view.found.get(canonical)
        if entry is None or entry["user"]["id"] != user_id:
            continue
        if entry["offset"]:
            status[asked] = "shared"
        else:
            status[asked] = "waiting" if entry["id"] in still_held else "not_shared"
    return status


def join_ack(
    req: JoinRequest,
    view: JoinView,
    read: ReadResult,
    upto: int,
    *,
    user_id: str,
    name: str,
    role: str,
    now: int,
    max_message_chars: int,
) -> JoinAck:
    """The join ack as the protocol has it (docs/protocol.md)."""
    state = view.state
    entries: list[Entry] = [
        e for e in read.entries if e["offset"] <= upto and may_see(e, user_id, role)
    ]
    muted_until = state.muted_until(user_id, now)
    ack: JoinAck = {
        "ok": True,
        "room": {
            "id": req.room,
            "epoch": read.epoch,
            "offset": upto,
            **state.summary(),  # locked, paused, slow_mode_s, floor, pinned
            "members": view.members,
            "hands": view.hands,
            "you": {
                "id": user_id,
                "name": name,
                "role": role,
                "muted_until": muted_until if muted_until != 0 else None,
                "muted": muted_until != 0,
                "agreed": state.has_agreed(user_id),
                "checkin": user_id in state.checkins,
            },
        },
        "recovered": read.recovered,
        "entries": entries,
        "held_status": held_status(req, view, user_id),
        "limits": {"max_message_chars": max_message_chars},
    }
    gap = history_gap(
        req.since,
        epoch=read.epoch,
        offset=read.offset,
        recovered=read.recovered,
        rolled_back_from=read.rolled_back_from,
    )
    if gap is not None:
        # Said plainly, so the client can tell the member why the page starts afresh.
        ack["history"] = gap
    if is_facilitator(role):
        ack["held"] = view.holds
        ack["alerts"] = view.alerts
        # Who is muted or removed now, so the facilitator view needs no history.
        ack["mutes"] = [
            {"user_id": uid, "until": until}
            for uid, until in state.mutes.items()
            if state.muted_until(uid, now) != 0
        ]
        ack["removed"] = sorted(state.removed)
        ack["checkins"] = sorted(state.checkins)
    return ack
