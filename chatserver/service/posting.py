"""Posting: a member's message through moderation to the log (or to review), and the
lighter signals a member sends: typing and a raised hand (limited per member:
rooms/signals.py).

The pipeline decides on this worker's cached room state (delivery.LocalRoom.state); the
backend's append re-checks the post rules atomically, so every worker agrees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from chatserver import errors
from chatserver.backend import (
    Alert,
    AppendRefused,
    Delivery,
    Hands,
    PostGuard,
    RaidSuspected,
    ReviewStore,
    RoomBus,
    RoomLog,
    SharedRaid,
    User,
)
from chatserver.errors import ServiceError
from chatserver.ids import ids
from chatserver.looplag import LoopLag
from chatserver.metrics import Metrics
from chatserver.schema import parse_flag, parse_message
from chatserver.service.acks import HandsAck, HeldAck, MessageAck, OkAck, held_ack, message_ack
from chatserver.service.alerts import Alerts
from chatserver.service.clock import ServiceClock
from chatserver.service.connections import Connections
from chatserver.service.delivery import Connection, LocalRooms
from chatserver.service.refusals import refusal_error, refuse, signal_allowed
from moderation import Action, MessageContext, ModerationPolicy, Outcome, Pipeline
from moderation.context import RoomGate
from moderation.duplicate import DuplicateStage, raid_verdict
from moderation.gate import room_gate
from moderation.verdict import Verdict
from rooms.entries import HeldEntry, MessageEntry, as_message, message_entry, reactions_off
from rooms.meeting_rules import check_thread_post
from rooms.policy import may_show_typing
from rooms.signals import HAND, TYPING, SignalLimiter


class Posting:
    def __init__(
        self,
        connections: Connections,
        rooms: LocalRooms,
        log: RoomLog,
        review: ReviewStore,
        hands: Hands,
        bus: RoomBus,
        alerts: Alerts,
        *,
        pipeline: Pipeline,
        policy_for: Callable[[str], ModerationPolicy],
        metrics: Metrics,
        loop_lag: LoopLag,
        clock: ServiceClock,
        max_message_chars: int,
        signals: SignalLimiter,
    ) -> None:
        self._connections = connections
        self._rooms = rooms
        self._log = log
        self._review = review
        self._hands = hands
        self._bus = bus
        self._alerts = alerts
        self._pipeline = pipeline
        self._policy_for = policy_for
        """Each room's moderation policy (its group's, chatserver/organise/policies.py)."""
        self._metrics = metrics
        self._loop_lag = loop_lag
        self._clock = clock
        self._max_message_chars = max_message_chars
        self._signals = signals
        # Its raid memory is this worker's; the backend counts copies across workers.
        self._duplicates = next(
            (stage for stage in pipeline.stages if isinstance(stage, DuplicateStage)), None
        )

    # -- messages ----------------------------------------------------------------------

    async def message(self, sid: str, data: object) -> MessageAck | HeldAck:
        req = parse_message(data, self._max_message_chars)
        conn = self._connections.in_room(sid, req.room, "Join the room before sending to it.")
        if self._loop_lag.overloaded:
            # Shed load early: a refused message is retried by the client in a moment; an
            # accepted one that cannot be delivered in time helps nobody.
            self._metrics.shed.inc()
            raise ServiceError(
                errors.UNAVAILABLE,
                "The group is very busy right now; your message will be retried.",
                retry_after_s=1.0,
            )
        user = conn.claims.user(req.room)
        now = self._clock()
        # A connection in a room keeps that room's local state alive (join put it there).
        local = self._rooms.rooms[req.room]
        ctx = MessageContext(
            room=req.room,
            sender_id=user["id"],
            role=user["role"],
            text=req.text,
            now=now / 1000,
            policy=self._policy_for(req.room),
            gate=room_gate(local.state, user["id"], now),
        )
        if req.thread is not None:
            # A private check-in: only its two sides, whatever the room's state (a round,
            # a lock) says about posting to everyone; its words are moderated the same.
            refuse(check_thread_post(user["id"], user["role"], req.thread, local.state.checkins))
            ctx = replace(ctx, gate=RoomGate())
        outcome = self._pipeline.run(ctx)
        entry = message_entry(
            room=req.room,
            msg_id=ids.next(),
            user=user,
            text=outcome.text,
            ts=now,
            client_id=req.client_id,
        )
        if req.thread is not None:
            entry["thread"] = req.thread
        if outcome.action in (Action.BLOCK, Action.HOLD):
            # A retry after a lost ack must answer exactly like the first attempt, even
            # though the duplicate or rate rule would refuse it now. (An allowed message
            # needs no look-up: the append itself dedupes client_id atomically.)
            first = await self._log.find_client_id(req.room, user["id"], req.client_id)
            if first is not None:
                if not first["offset"]:
                    return held_ack(first["text"])
                return message_ack(first)
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
        shared = self._shared_raid(ctx if outcome.text == ctx.text else ctx.with_text(outcome.text))
        guard = PostGuard(user["id"], user["role"], raid=shared) if req.thread is None else None
        started = time.perf_counter()
        try:
            result = await self._log.append(req.room, entry, guard=guard, now_ms=now)
        except AppendRefused as exc:
            raise refusal_error(exc.refusal) from None
        except RaidSuspected as exc:
            # Copies of this text came from members on other workers too: a raid this
            # worker's moderation alone could not see. Held, as a local raid would be.
            raid = raid_verdict(exc.members, self._policy_for(req.room).raid_window_s)
            await self._record_verdict(req.room, raid, user, now)
            held = Outcome(Action.HOLD, outcome.text, (*outcome.verdicts, raid), outcome.memos)
            return await self._hold(conn, req.room, user, entry, held)
        finally:
            self._metrics.append_seconds.observe(time.perf_counter() - started)
        # In the log (now, or by an earlier attempt whose ack was lost): only now does it
        # count as sent, so a retry after `unavailable` is not refused as a repeat.
        self._pipeline.accept(outcome)
        stored = as_message(result.entry)
        if not result.duplicate:
            self._metrics.messages_in.inc()
            if any(v.alert == "crisis" for v in outcome.verdicts):
                closed = reactions_off(req.room, stored["id"], now)
                await self._log.append(req.room, closed, guard=None, now_ms=now)
            await self._alerts_and_notices(conn, req.room, user, outcome, stored)
        return message_ack(stored)

    async def _hold(
        self, conn: Connection, room: str, user: User, entry: MessageEntry, outcome: Outcome
    ) -> HeldAck:
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
        held: HeldEntry = {**entry, "held_reason": reasons, "kinds": also, "priority": priority}
        await self._review.hold_put(room, held)
        self._pipeline.accept(outcome)  # held counts as sent (see message)
        await self._alert(room, "held", user, reasons, held, priority, kinds=also)
        self._notices(conn, room, outcome)
        return held_ack(outcome.text)

    async def _record_verdict(self, room: str, verdict: Verdict, user: User, now: int) -> None:
        self._metrics.verdicts.labels(rule=verdict.rule).inc()
        # The audit trail names the rule and who, never the text.
        await self._review.audit_add(
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
        self, conn: Connection, room: str, user: User, outcome: Outcome, entry: MessageEntry
    ) -> None:
        """Facilitators hear about flagged messages (crisis first); the sender is told
        privately why a message was changed, held or flagged (with support lines)."""
        for verdict in sorted(outcome.verdicts, key=lambda v: not v.priority):
            if verdict.alert:
                await self._alert(
                    room, verdict.alert, user, verdict.for_facilitators, entry, verdict.priority
                )
        self._notices(conn, room, outcome)

    async def _alert(
        self,
        room: str,
        kind: str,
        user: User,
        reason: str,
        entry: MessageEntry | HeldEntry | None = None,
        priority: bool = False,
        kinds: list[str] | None = None,
    ) -> None:
        alert: Alert = {
            "room": room,
            "kind": kind,
            "user": user,
            "entry": entry,
            "reason": reason,
            "priority": priority,
        }
        if kinds is not None:
            alert["kinds"] = kinds
        await self._alerts.raise_alert(room, alert)

    def _notices(self, conn: Connection, room: str, outcome: Outcome) -> None:
        for verdict in outcome.verdicts:
            if verdict.notice:
                self._notice(conn, room, verdict.rule, verdict.notice)

    def _notice(self, conn: Connection, room: str, kind: str, text: str) -> None:
        self._rooms.send(conn, "notice", {"room": room, "kind": kind, "text": text})

    # -- typing and hands --------------------------------------------------------------

    async def typing(self, sid: str, data: object) -> OkAck:
        req = parse_flag(data, "active")
        conn = self._connections.in_room(sid, req.room, "You are not in this room.")
        user = conn.claims.user(req.room)
        local = self._rooms.rooms.get(req.room)
        if (
            req.value
            and local is not None
            and not may_show_typing(local.state, user["id"], user["role"], self._clock())
        ):
            return {"ok": True}
        # Each change reaches every member: limited per member (rooms/signals.py).
        if not signal_allowed(self._signals, TYPING, req.room, user["id"], req.value):
            return {"ok": True}  # nothing the room does not already see
        payload = {"room": req.room, "user": user, "active": req.value}
        await self._bus.publish(req.room, Delivery("typing", payload))
        return {"ok": True}

    async def hand(self, sid: str, data: object) -> HandsAck:
        req = parse_flag(data, "raised")
        conn = self._connections.in_room(sid, req.room, "You are not in this room.")
        user = conn.claims.user(req.room)
        # Refused over the limit before anything is stored or sent (lowering a hand the
        # room saw raised always passes).
        signal_allowed(self._signals, HAND, req.room, user["id"], req.value)
        hands = await self._hands.hands_set(req.room, user, req.value, self._clock())
        payload = {"room": req.room, "user": user, "raised": req.value, "hands": hands}
        await self._bus.publish(req.room, Delivery("hand", payload))
        return {"ok": True, "hands": hands}
