"""The chat service: one method per client request, orchestrating the pure core and I/O.

A request is decoded (schema), checked against who is asking (token claims and the
room's rules in rooms/), run through the moderation pipeline, appended by the backend,
and answered with an ack. Live delivery comes back from the backend through the room's
listener and goes out through the fan-out, the same way for both backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from chatserver import errors
from chatserver.auth import Claims
from chatserver.backend import (
    FACILITATORS,
    USER_AUDIENCE,
    Alert,
    AppendRefused,
    Backend,
    BackendUnavailable,
    Delivery,
    JoinQuery,
    PostGuard,
    RaidSuspected,
    SharedRaid,
)
from chatserver.clock import now_ms
from chatserver.errors import ServiceError
from chatserver.fanout import Fanout
from chatserver.ids import ids
from chatserver.looplag import LoopLag
from chatserver.metrics import Metrics
from chatserver.schema import parse_flag, parse_join, parse_message, parse_room
from moderation import Action, MessageContext, ModerationPolicy, Outcome, Pipeline, RoomGate
from moderation.duplicate import DuplicateStage, raid_verdict
from moderation.verdict import Verdict
from rooms.entries import message_entry
from rooms.policy import Refusal, check_invited, check_join, is_facilitator, may_show_typing
from rooms.state import RoomState, apply_event

log = logging.getLogger(__name__)

# How long a worker stays subscribed to a room after its last local member left: a
# member reloading the page should not cost an unsubscribe and resubscribe.
UNSUBSCRIBE_DELAY_S = 5.0
# Typing indicators are cosmetic; one per second per member is plenty.
TYPING_MIN_INTERVAL_S = 1.0
# How often connections are checked for expired tokens.
EXPIRY_SWEEP_S = 30.0
# Joins retry when live delivery moved on while the history was read.
JOIN_READ_ATTEMPTS = 5


@dataclass(slots=True, eq=False)
class Connection:
    sid: str
    eio_sid: str
    claims: Claims
    rooms: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises this connection's requests so offsets follow the member's sending order."""
    last_typing: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class LocalRoom:
    """The sockets of one room on this worker and how far live delivery has got."""

    room: str
    members: dict[str, Connection] = field(default_factory=dict)
    delivered_offset: int = 0
    state: RoomState = field(default_factory=RoomState)
    """Room state folded from the entries this worker delivered: the cached view the
    pipeline's gate reads. The backend re-checks it atomically on append."""
    listener: Callable[[Delivery], None] | None = None
    unsubscribe_handle: asyncio.TimerHandle | None = None


class ChatService:
    def __init__(
        self,
        backend: Backend,
        *,
        pipeline: Pipeline,
        policy: ModerationPolicy,
        metrics: Metrics,
        history_page: int,
        max_message_chars: int,
        leave_grace_s: float = 10.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.backend = backend
        self.pipeline = pipeline
        self.policy = policy
        self.metrics = metrics
        self.history_page = history_page
        self.max_message_chars = max_message_chars
        self.leave_grace_s = leave_grace_s
        self.clock = clock
        # Presence of dropped connections, removed when their grace period ends.
        self._pending_leaves: set[asyncio.TimerHandle] = set()
        # Its raid memory is this worker's; the backend counts copies across workers.
        self._duplicates = next(
            (stage for stage in pipeline.stages if isinstance(stage, DuplicateStage)), None
        )
        self.fanout: Fanout | None = None
        self.loop_lag = LoopLag()
        self.connections: dict[str, Connection] = {}
        self.rooms: dict[str, LocalRoom] = {}
        self._subscribing: dict[str, asyncio.Future[LocalRoom]] = {}
        self.draining = False
        """Set on SIGTERM: new requests are refused while in-flight ones finish."""
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._empty = asyncio.Event()
        self._empty.set()
        # Follow-up work started by a request (a task must be referenced until it ends).
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- connections -------------------------------------------------------------------

    def connect(self, sid: str, eio_sid: str, claims: Claims) -> None:
        self.connections[sid] = Connection(sid, eio_sid, claims)
        self._empty.clear()
        self.metrics.connections.set(len(self.connections))

    async def disconnect(self, sid: str) -> None:
        conn = self.connections.pop(sid, None)
        self.metrics.connections.set(len(self.connections))
        if not self.connections:
            self._empty.set()
        if conn is None:
            return
        for room in list(conn.rooms):
            await self._leave_room(conn, room, grace=True)

    def connection(self, sid: str) -> Connection:
        return self._conn(sid)

    def _conn(self, sid: str) -> Connection:
        conn = self.connections.get(sid)
        if conn is None:
            raise ServiceError(errors.UNAUTHORIZED, "This connection is not signed in.")
        return conn

    # -- join / leave ------------------------------------------------------------------

    async def join(self, sid: str, data: Any) -> dict[str, Any]:
        conn = self._conn(sid)
        req = parse_join(data)
        claims = conn.claims
        refuse(check_invited(claims.rooms, req.room))
        now = self.clock()
        local = await self._local_room(req.room)
        user = claims.user(req.room)
        facilitator = is_facilitator(claims.rooms[req.room])
        view = await self.backend.enter(
            req.room,
            JoinQuery(
                user,
                sid,
                req.since,
                self.history_page,
                now,
                keep_out_removed=not facilitator,
                holds=facilitator or bool(req.held),
                alerts=facilitator,
                client_ids=tuple(canonical for _, canonical in req.held),
            ),
        )
        refusal = check_join(claims.rooms, req.room, claims.user_id, view.state)
        if refusal is not None or not view.admitted:
            if not local.members:
                self._schedule_unsubscribe(local)
            refuse(refusal)
        members, hands = view.members, view.hands
        held = view.holds if facilitator else []
        alerts = view.alerts
        # The joiner's own held messages it still shows as waiting (``held``: client_ids as
        # sent, and canonical): "shared" (approved: in the log), "waiting" (still held) or
        # "not_shared" (refused, perhaps while they were away). Other people's messages and
        # ones not found are left out: a member learns nothing about anyone else's. The
        # backend reads the holds before the client_ids: a review takes the hold and then
        # appends, so an entry found unlogged and already gone from the holds was taken
        # before we looked. (One being approved at this moment may read "not_shared"; its
        # log copy, in this ack or live, then takes the placeholder's place by client_id.)
        held_status: dict[str, str] = {}
        still_held = {h["id"] for h in view.holds}
        for asked, canonical in req.held:
            entry = view.found.get(canonical)
            if entry is None or (entry.get("user") or {}).get("id") != claims.user_id:
                continue
            if entry["offset"]:
                held_status[asked] = "shared"
            else:
                held_status[asked] = "waiting" if entry["id"] in still_held else "not_shared"
        read = view.read
        for _ in range(JOIN_READ_ATTEMPTS):
            if read.offset >= local.delivered_offset:
                break
            # Live delivery passed what we read: entries in between would reach this
            # socket neither in the ack nor live. Read again (rare: only under load).
            read = await self.backend.read(req.room, req.since, self.history_page)
        # From here to the return there is no await: the socket enters live delivery and
        # the ack is queued before any later live entry, so nothing is seen twice or missed.
        upto = local.delivered_offset
        entries = [e for e in read.entries if e["offset"] <= upto]
        if read.offset < upto:
            raise ServiceError(errors.UNAVAILABLE, "The room is busy; please try again.")
        local.members[sid] = conn
        conn.rooms.add(req.room)
        self._cancel_unsubscribe(local)
        if req.since is not None:
            self.metrics.recoveries.labels(recovered=str(read.recovered).lower()).inc()
        if facilitator:
            sent = {alert.get("id", "") for alert in alerts}
            self._spawn(self._catch_up_alerts(conn, req.room, sent))
        state = view.state
        muted_until = state.muted_until(claims.user_id, now)
        return {
            "ok": True,
            "room": {
                "id": req.room,
                "epoch": read.epoch,
                "offset": upto,
                **state.summary(),  # locked, paused, slow_mode_s, floor, pinned
                "members": members,
                "hands": hands,
                "you": {
                    "id": claims.user_id,
                    "name": claims.name,
                    "role": user["role"],
                    "muted_until": muted_until if muted_until != 0 else None,
                    "muted": muted_until != 0,
                },
            },
            "recovered": read.recovered,
            "entries": entries,
            "limits": {"max_message_chars": self.max_message_chars},
            "held_status": held_status,
            **(
                {
                    "held": held,
                    "alerts": alerts,
                    # Who is muted or removed now, so the facilitator view needs no history.
                    "mutes": [
                        {"user_id": uid, "until": until}
                        for uid, until in state.mutes.items()
                        if state.muted_until(uid, now) != 0
                    ],
                    "removed": sorted(state.removed),
                }
                if facilitator
                else {}
            ),
        }

    async def leave(self, sid: str, data: Any) -> dict[str, Any]:
        conn = self._conn(sid)
        req = parse_room(data)
        if req.room not in conn.rooms:
            raise ServiceError(errors.NOT_IN_ROOM, "You are not in this room.")
        await self._leave_room(conn, req.room)
        return {"ok": True}

    async def _leave_room(self, conn: Connection, room: str, *, grace: bool = False) -> None:
        conn.rooms.discard(room)
        local = self.rooms.get(room)
        if local is not None:
            local.members.pop(conn.sid, None)
            if not local.members:
                self._schedule_unsubscribe(local)
        if grace and self.leave_grace_s > 0:
            # A dropped connection (not a "leave") stays present for a moment: if the
            # person is back by then, through any worker, the room sees no "left" and
            # "joined", and a raised hand keeps its place.
            def leave_later() -> None:
                self._pending_leaves.discard(handle)
                self._spawn(self._presence_leave(conn, room))

            handle = asyncio.get_running_loop().call_later(self.leave_grace_s, leave_later)
            self._pending_leaves.add(handle)
            return
        await self._presence_leave(conn, room)

    async def _presence_leave(self, conn: Connection, room: str) -> None:
        try:
            if await self.backend.presence_remove(room, conn.claims.user_id, conn.sid):
                user = conn.claims.user(room)
                # Someone who left no longer waits to speak.
                hands = await self.backend.hands_list(room)
                if any(h["id"] == user["id"] for h in hands):
                    hands = await self.backend.hands_set(room, user, False, self.clock())
                    await self.backend.publish(
                        room,
                        Delivery(
                            "hand", {"room": room, "user": user, "raised": False, "hands": hands}
                        ),
                    )
                members = await self.backend.presence_members(room)
                await self.backend.publish(
                    room, Delivery("presence", {"room": room, "left": user, "members": members})
                )
        except BackendUnavailable:
            # Presence entries expire on their own in the shared backend.
            log.warning("presence of %s in %s not removed: backend unavailable", conn.sid, room)

    # -- messages ----------------------------------------------------------------------

    async def message(self, sid: str, data: Any) -> dict[str, Any]:
        conn = self._conn(sid)
        req = parse_message(data, self.max_message_chars)
        if req.room not in conn.rooms:
            raise ServiceError(errors.NOT_IN_ROOM, "Join the room before sending to it.")
        if self.loop_lag.overloaded:
            # Shed load early: a refused message is retried by the client in a moment; an
            # accepted one that cannot be delivered in time helps nobody.
            self.metrics.shed.inc()
            raise ServiceError(
                errors.UNAVAILABLE,
                "The group is very busy right now; your message will be retried.",
                retry_after_s=1.0,
            )
        user = conn.claims.user(req.room)
        now = self.clock()
        # A connection in a room keeps that room's local state alive (join put it there).
        local = self.rooms[req.room]
        ctx = MessageContext(
            room=req.room,
            sender_id=user["id"],
            role=user["role"],
            text=req.text,
            now=now / 1000,
            policy=self.policy,
            gate=_gate(local.state, user["id"], now),
        )
        outcome = self.pipeline.run(ctx)
        entry = message_entry(
            room=req.room,
            msg_id=ids.next(),
            user=user,
            text=outcome.text,
            ts=now,
            client_id=req.client_id,
        )
        if outcome.action in (Action.BLOCK, Action.HOLD):
            # A retry after a lost ack must answer exactly like the first attempt, even
            # though the duplicate or rate rule would refuse it now. (An allowed message
            # needs no look-up: the append itself dedupes client_id atomically.)
            first = await self.backend.find_client_id(req.room, req.client_id)
            if first is not None:
                if not first["offset"]:
                    return {"ok": True, "held": True, "text": first["text"]}
                return _message_ack(first)
        for verdict in outcome.verdicts:
            await self._record_verdict(req.room, verdict, user, now)
        blocked = outcome.blocked_by
        if blocked is not None:
            if blocked.alert:
                await self._alert(
                    req.room, blocked.alert, user, blocked.for_facilitators, entry, blocked.priority
                )
            if blocked.notice:
                self._notice(conn, req.room, blocked.rule, blocked.notice)
            raise ServiceError(
                blocked.code or errors.BLOCKED, blocked.reason, retry_after_s=blocked.retry_after_s
            )
        if outcome.action is Action.HOLD:
            return await self._hold(conn, req.room, user, entry, outcome)
        # Keyed on the delivered text: the pipeline's last scan, so no second scan.
        shared = self._shared_raid(ctx.with_text(outcome.text))
        guard = PostGuard(user["id"], user["role"], raid=shared)
        started = time.perf_counter()
        try:
            result = await self.backend.append(req.room, entry, guard=guard, now_ms=now)
        except AppendRefused as exc:
            raise refusal_error(exc.refusal) from None
        except RaidSuspected as exc:
            # Copies of this text came from members on other workers too: a raid this
            # worker's moderation alone could not see. Held, as a local raid would be.
            raid = raid_verdict(exc.members, self.policy.raid_window_s)
            await self._record_verdict(req.room, raid, user, now)
            held = Outcome(Action.HOLD, outcome.text, (*outcome.verdicts, raid))
            return await self._hold(conn, req.room, user, entry, held)
        finally:
            self.metrics.append_seconds.observe(time.perf_counter() - started)
        if not result.duplicate:
            self.metrics.messages_in.inc()
            await self._alerts_and_notices(conn, req.room, user, outcome, result.entry)
        return _message_ack(result.entry)

    async def _hold(
        self,
        conn: Connection,
        room: str,
        user: dict[str, str],
        entry: dict[str, Any],
        outcome: Outcome,
    ) -> dict[str, Any]:
        """Held messages reach facilitators only, until one of them reviews it."""
        holds = [v for v in outcome.verdicts if v.action is Action.HOLD]
        reasons = "; ".join(v.reason for v in holds if v.reason)
        priority = any(v.priority for v in outcome.verdicts)
        # One card for the facilitators: the message's other concerns (crisis language,
        # contact details ...) are named on it rather than raised as alerts of their own,
        # which would outlive the review. Kept on the held entry too, for the join ack.
        # The held reason already says why it was held (a link, a medication offer); a
        # crisis stays named, since it is what the facilitator must follow up first.
        kinds = [
            v.alert
            for v in outcome.verdicts
            if v.alert and v.alert != "held" and (v.action is not Action.HOLD or v.priority)
        ]
        also = list(dict.fromkeys(kinds))
        held = {**entry, "held_reason": reasons, "kinds": also, "priority": priority}
        await self.backend.hold_put(room, held)
        await self._alert(room, "held", user, reasons, held, priority, kinds=also)
        self._notices(conn, room, outcome)
        return {"ok": True, "held": True, "text": outcome.text}

    async def _record_verdict(
        self, room: str, verdict: Verdict, user: dict[str, str], now: int
    ) -> None:
        self.metrics.verdicts.labels(rule=verdict.rule).inc()
        # The audit trail names the rule and who, never the text.
        await self.backend.audit_add(
            room,
            {
                "ts": now,
                "by": {"id": "moderation", "name": "Moderation", "role": "system"},
                "action": f"verdict.{verdict.action}",
                "rule": verdict.rule,
                "stage": verdict.rule.split(".", 1)[0],
                "user_id": user["id"],
            },
        )

    def _shared_raid(self, ctx: MessageContext) -> SharedRaid | None:
        """What the backend needs to count this message's senders across workers."""
        if self._duplicates is None:
            return None
        key = self._duplicates.shared_raid_key(ctx)
        if key is None:
            return None
        policy = ctx.policy
        return SharedRaid(key, int(policy.raid_window_s * 1000), policy.raid_members)

    async def _alerts_and_notices(
        self,
        conn: Connection,
        room: str,
        user: dict[str, str],
        outcome: Outcome,
        entry: dict[str, Any],
    ) -> None:
        """Facilitators hear about flagged messages (crisis first); the sender is told
        privately why a message was changed, held or flagged (with support lines)."""
        for verdict in sorted(outcome.verdicts, key=lambda v: not v.priority):
            if verdict.alert:
                await self._alert(
                    room, verdict.alert, user, verdict.for_facilitators, entry, verdict.priority
                )
        self._notices(conn, room, outcome)

    def _notices(self, conn: Connection, room: str, outcome: Outcome) -> None:
        for verdict in outcome.verdicts:
            if verdict.notice:
                self._notice(conn, room, verdict.rule, verdict.notice)

    async def typing(self, sid: str, data: Any) -> dict[str, Any]:
        conn = self._conn(sid)
        req = parse_flag(data, "active")
        if req.room not in conn.rooms:
            raise ServiceError(errors.NOT_IN_ROOM, "You are not in this room.")
        mono = time.monotonic()
        last = conn.last_typing.get(req.room, 0.0)
        if req.value and mono - last < TYPING_MIN_INTERVAL_S:
            return {"ok": True}
        conn.last_typing[req.room] = mono if req.value else 0.0
        user = conn.claims.user(req.room)
        local = self.rooms.get(req.room)
        if (
            req.value
            and local is not None
            and not may_show_typing(local.state, user["id"], user["role"], self.clock())
        ):
            return {"ok": True}
        payload = {"room": req.room, "user": user, "active": req.value}
        await self.backend.publish(req.room, Delivery("typing", payload))
        return {"ok": True}

    async def hand(self, sid: str, data: Any) -> dict[str, Any]:
        conn = self._conn(sid)
        req = parse_flag(data, "raised")
        if req.room not in conn.rooms:
            raise ServiceError(errors.NOT_IN_ROOM, "You are not in this room.")
        user = conn.claims.user(req.room)
        hands = await self.backend.hands_set(req.room, user, req.value, self.clock())
        payload = {"room": req.room, "user": user, "raised": req.value, "hands": hands}
        await self.backend.publish(req.room, Delivery("hand", payload))
        return {"ok": True, "hands": hands}

    async def presence_gone(self, room: str, users: list[dict[str, str]]) -> None:
        """Members whose worker died (their presence expired) have left."""
        members = await self.backend.presence_members(room)
        for user in users:
            await self.backend.publish(
                room, Delivery("presence", {"room": room, "left": user, "members": members})
            )

    # -- alerts and notices ------------------------------------------------------------

    async def _alert(
        self,
        room: str,
        kind: str,
        user: dict[str, str],
        reason: str,
        entry: dict[str, Any] | None = None,
        priority: bool = False,
        kinds: list[str] | None = None,
    ) -> None:
        payload: Alert = {
            "room": room,
            "kind": kind,
            "user": user,
            "entry": entry,
            "reason": reason,
            "priority": priority,
        }
        if kinds is not None:
            payload["kinds"] = kinds
        await self.raise_alert(room, payload)

    async def raise_alert(self, room: str, payload: Alert) -> None:
        """Tell the room's facilitators. Every alert but a held message's (the held list
        is its record) stays open until a facilitator dismisses it: one who joins or
        reconnects later still sees a crisis flagged while they were away."""
        if payload["kind"] != "held":
            payload = {**payload, "id": ids.next(), "ts": self.clock()}
            await self.backend.alert_put(room, payload)
        await self.backend.publish(room, Delivery("alert", dict(payload), audience=FACILITATORS))

    async def dismiss_alerts(self, room: str, alert_ids: list[str], by: dict[str, str]) -> int:
        """Close open alerts for every facilitator; returns how many were still open."""
        closed = 0
        for alert_id in alert_ids:
            if await self.backend.alert_take(room, alert_id) is None:
                continue  # another facilitator was first
            closed += 1
            payload = {"room": room, "kind": "dismissed", "id": alert_id, "by": by}
            await self.backend.publish(room, Delivery("alert", payload, audience=FACILITATORS))
        return closed

    async def _catch_up_alerts(self, conn: Connection, room: str, sent: set[str]) -> None:
        """An alert raised while a facilitator was joining reached neither the join ack
        nor (not yet a member) the live stream: send it now. The client dedupes by id."""
        try:
            missed = [a for a in await self.backend.alerts_list(room) if a.get("id") not in sent]
        except BackendUnavailable:
            return  # the next join (reconnect) lists them
        if missed and self.fanout is not None and room in conn.rooms:
            for alert in missed:
                self.fanout.send([conn.eio_sid], Fanout.encode("alert", dict(alert)))

    def _notice(self, conn: Connection, room: str, kind: str, text: str) -> None:
        if self.fanout is not None:
            frame = Fanout.encode("notice", {"room": room, "kind": kind, "text": text})
            self.fanout.send([conn.eio_sid], frame)

    # -- local rooms and live delivery -------------------------------------------------

    async def _local_room(self, room: str) -> LocalRoom:
        local = self.rooms.get(room)
        if local is not None:
            return local
        pending = self._subscribing.get(room)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[LocalRoom] = asyncio.get_running_loop().create_future()
        self._subscribing[room] = future
        try:
            local = LocalRoom(room)
            local.listener = self._listener(local)
            local.delivered_offset = await self.backend.subscribe(room, local.listener)
            # Taken after subscribing: entries delivered meanwhile are folded in twice,
            # which apply_event tolerates, and none is missed.
            local.state = (await self.backend.snapshot(room, self.clock())).state
            self.rooms[room] = local
            self.metrics.rooms.set(len(self.rooms))
            future.set_result(local)
            return local
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody else may be waiting; don't let the loop warn about it.
            future.exception()
            raise
        finally:
            del self._subscribing[room]

    def _listener(self, local: LocalRoom) -> Callable[[Delivery], None]:
        def deliver(delivery: Delivery) -> None:
            if delivery.event == "reset":
                # The room's log was lost and restarted: its clients rejoin and start over.
                local.delivered_offset = 0
                if self.fanout is not None:
                    for c in local.members.values():
                        self.fanout.drop(c.eio_sid, True)
                return
            if delivery.offset is not None:
                if delivery.offset <= local.delivered_offset:
                    return
                local.delivered_offset = delivery.offset
                now = self.clock()
                apply_event(local.state, delivery.payload, now)
                self.metrics.fanout_seconds.observe(max(0, now - delivery.payload["ts"]) / 1000)
            if self.fanout is None or not local.members:
                return
            audience = delivery.audience
            if audience == FACILITATORS:
                targets = [
                    c.eio_sid
                    for c in local.members.values()
                    if is_facilitator(c.claims.rooms.get(local.room, ""))
                ]
            elif audience.startswith(USER_AUDIENCE):
                user_id = audience[len(USER_AUDIENCE) :]
                targets = [c.eio_sid for c in local.members.values() if c.claims.user_id == user_id]
            else:
                targets = [c.eio_sid for c in local.members.values()]
            if targets:
                frame = Fanout.encode(delivery.event, delivery.payload)
                self.metrics.deliveries.inc(self.fanout.send(targets, frame))
            if delivery.payload.get("kind") == "removed" and delivery.offset is not None:
                self._evict(local, delivery.payload["user_id"])

        return deliver

    def _evict(self, local: LocalRoom, user_id: str) -> None:
        """A member removed by a facilitator leaves the room on this worker at once."""
        for conn in [c for c in local.members.values() if c.claims.user_id == user_id]:
            asyncio.get_running_loop().create_task(self._leave_room(conn, local.room))
            # Out of the delivery set now, before any later entry is fanned out.
            local.members.pop(conn.sid, None)

    def _schedule_unsubscribe(self, local: LocalRoom) -> None:
        self._cancel_unsubscribe(local)
        loop = asyncio.get_running_loop()
        local.unsubscribe_handle = loop.call_later(
            UNSUBSCRIBE_DELAY_S, lambda: loop.create_task(self._unsubscribe_if_empty(local))
        )

    def _cancel_unsubscribe(self, local: LocalRoom) -> None:
        if local.unsubscribe_handle is not None:
            local.unsubscribe_handle.cancel()
            local.unsubscribe_handle = None

    async def _unsubscribe_if_empty(self, local: LocalRoom) -> None:
        local.unsubscribe_handle = None
        if local.members or self.rooms.get(local.room) is not local:
            return
        del self.rooms[local.room]
        self.metrics.rooms.set(len(self.rooms))
        if local.listener is not None:
            await self.backend.unsubscribe(local.room, local.listener)

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

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    def end_expired(self) -> int:
        """Close every connection whose token has expired, listeners that send nothing
        included (a request after expiry is refused in transport.py). Their clients'
        reconnects are refused as expired. Returns how many were closed."""
        if self.fanout is None:
            return 0
        now = self.clock()
        expired = [c for c in self.connections.values() if c.claims.expired(now)]
        for conn in expired:
            self.fanout.drop(conn.eio_sid, False)
        return len(expired)

    async def end_expired_forever(self, interval_s: float = EXPIRY_SWEEP_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.end_expired()

    async def close(self) -> None:
        for handle in self._pending_leaves:
            handle.cancel()  # the shared backend's presence entries expire by themselves
        self._pending_leaves.clear()
        for local in list(self.rooms.values()):
            self._cancel_unsubscribe(local)
            if local.listener is not None:
                await self.backend.unsubscribe(local.room, local.listener)
        self.rooms.clear()


def refusal_error(refusal: Refusal) -> ServiceError:
    """A pure rule's refusal as the error ack it becomes."""
    return ServiceError(refusal.code, refusal.message, retry_after_s=refusal.retry_after_s)


def refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise refusal_error(refusal)


def _gate(state: RoomState, user_id: str, now_ms: int) -> RoomGate:
    """The pipeline's view of the room for this sender, from this worker's cached state."""
    until = state.muted_until(user_id, now_ms)
    last = state.last_post_ms.get(user_id)
    return RoomGate(
        muted=until != 0,
        muted_until=None if not until else until / 1000,
        locked=state.locked,
        paused=state.paused,
        floor_user_id=state.floor,
        slow_mode_s=state.slow_mode_s,
        last_post_at=None if last is None else last / 1000,
    )


def _message_ack(entry: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "id": entry["id"], "offset": entry["offset"], "text": entry["text"]}
