"""Facilitator controls and member reports.

Every control is checked by the pure rules in rooms/policy.py (the role comes from the
token only), logged as a room event with an offset through the room log's atomic append
(so every worker applies it at once and recovery replays it), and written to the room's
audit trail: who did what, when — never message text.
"""

from __future__ import annotations

from typing import Unpack

from chatserver import errors
from chatserver.backend import (
    FACILITATORS,
    USER_AUDIENCE,
    Alert,
    AuditRecord,
    Delivery,
    Hands,
    Presence,
    ReviewStore,
    RoomBus,
    RoomLog,
    User,
)
from chatserver.errors import ServiceError
from chatserver.schema import (
    parse_flag,
    parse_limit,
    parse_message_ref,
    parse_room,
    parse_seconds,
    parse_target,
)
from chatserver.service.acks import AuditAck, Handler, LoggedAck, OkAck, ReviewAck
from chatserver.service.alerts import Alerts
from chatserver.service.clock import ServiceClock
from chatserver.service.connections import Connections
from chatserver.service.refusals import refuse, signal_allowed
from rooms.entries import EventFields, MessageEntry, message_entry, reactions_off, room_event
from rooms.policy import check_moderate, check_target, is_facilitator
from rooms.signals import HAND, REPORT, SignalLimiter

ORGANISER: User = {"id": "organiser", "name": "The group's organiser", "role": "facilitator"}
"""Who an organiser's removal is by, in the room's log and audit (chatserver/organise/)."""
APPROVED_NOTICE = "A facilitator approved your message and it has been shared with the group."
DENIED_NOTICE = "A facilitator reviewed your message and did not share it with the group."


class Controls:
    def __init__(
        self,
        connections: Connections,
        log: RoomLog,
        review: ReviewStore,
        hands: Hands,
        presence: Presence,
        bus: RoomBus,
        alerts: Alerts,
        *,
        clock: ServiceClock,
        signals: SignalLimiter,
    ) -> None:
        self._connections = connections
        self._log = log
        self._review = review
        self._hands = hands
        self._presence = presence
        self._bus = bus
        self._alerts = alerts
        self._clock = clock
        # Reports and lowering every hand reach others with no log entry: limited per
        # member like typing and hands (rooms/signals.py).
        self._signals = signals

    def handlers(self) -> dict[str, Handler]:
        """The control events by name."""
        return {
            "mute": self.mute,
            "unmute": self.unmute,
            "remove": self.remove,
            "readmit": self.readmit,
            "floor": self.floor,
            "lock": self.lock,
            "pause": self.pause,
            "slow_mode": self.slow_mode,
            "pin": self.pin,
            "unpin": self.unpin,
            "delete": self.delete,
            "clear": self.clear,
            "lower_hands": self.lower_hands,
            "review": self.review,
            "report": self.report,
            "audit": self.audit,
            "dismiss_alert": self.dismiss_alert,
        }

    # -- who may -----------------------------------------------------------------------

    def _facilitator(self, sid: str, room: str) -> User:
        # In the room is checked before the role so a member learns nothing about others.
        conn = self._connections.in_room(sid, room, "Join the room first.")
        user = conn.claims.user(room)
        refuse(check_moderate(user["role"]))
        return user

    async def _acting_on_member(
        self, sid: str, action: str, data: object, *, optional_user: bool = False
    ) -> tuple[str, User, str | None, int | None, str, EventFields]:
        """Parse and authorise a control aimed at a member; the last item is the event's
        fields: ``user_id``, and ``user`` ({id, name, role}) when they are present."""
        req = parse_target(data, optional_user=optional_user)
        actor = self._facilitator(sid, req.room)
        named: EventFields = {"user_id": req.user_id}
        if req.user_id is not None:
            present = await self._presence.presence_members(req.room)
            # Their role when they are away too: the room's facilitator roster (present
            # facilitators are on it; those here are added in case it was lost).
            roster = await self._presence.facilitators(req.room)
            roster |= {m["id"] for m in present if is_facilitator(m["role"])}
            refuse(check_target(action, actor["id"], req.user_id, roster))
            target = next((m for m in present if m["id"] == req.user_id), None)
            if target is not None:
                named["user"] = target
        return req.room, actor, req.user_id, req.duration_s, req.reason, named

    async def _logged(
        self, room: str, actor: User, kind: str, audit: AuditRecord, **fields: Unpack[EventFields]
    ) -> LoggedAck:
        """Append the room event, then audit it (``audit`` gets its offset)."""
        now = self._clock()
        entry = room_event(room=room, kind=kind, by=actor, ts=now, **fields)
        result = await self._log.append(room, entry, guard=None, now_ms=now)
        offset = result.entry["offset"]
        record: AuditRecord = {**audit, "ts": now, "offset": offset}
        await self._review.audit_add(room, record)
        return {"ok": True, "offset": offset}

    def _audit(self, actor: User, action: str) -> AuditRecord:
        return {"ts": self._clock(), "by": actor, "action": action}

    # -- acting on a member ------------------------------------------------------------

    async def mute(self, sid: str, data: object) -> LoggedAck:
        room, actor, user_id, duration_s, reason, named = await self._acting_on_member(
            sid, "mute", data
        )
        until = None if duration_s is None else self._clock() + duration_s * 1000
        audit = self._audit(actor, "muted")
        audit.update({"user_id": user_id, "duration_s": duration_s, "reason": reason})
        named["until"], named["reason"] = until, reason
        return await self._logged(room, actor, "muted", audit, **named)

    async def unmute(self, sid: str, data: object) -> LoggedAck:
        room, actor, user_id, _, _, named = await self._acting_on_member(sid, "unmute", data)
        audit = self._audit(actor, "unmuted")
        audit["user_id"] = user_id
        return await self._logged(room, actor, "unmuted", audit, **named)

    async def remove(self, sid: str, data: object) -> LoggedAck:
        room, actor, user_id, _, reason, named = await self._acting_on_member(sid, "remove", data)
        audit = self._audit(actor, "removed")
        audit.update({"user_id": user_id, "reason": reason})
        named["reason"] = reason
        return await self._logged(room, actor, "removed", audit, **named)

    async def removed_by_organiser(self, room: str, user: User, reason: str) -> None:
        """An organiser ended this person's place (chatserver/organise/): logged like a
        facilitator's removal, so every worker takes them out of the room at once, their
        client says so, and the room's facilitators see it."""
        audit = self._audit(ORGANISER, "removed")
        audit.update({"user_id": user["id"], "reason": reason})
        await self._logged(
            room, ORGANISER, "removed", audit, user_id=user["id"], user=user, reason=reason
        )

    async def readmit(self, sid: str, data: object) -> LoggedAck:
        room, actor, user_id, _, _, named = await self._acting_on_member(sid, "readmit", data)
        audit = self._audit(actor, "readmitted")
        audit["user_id"] = user_id
        return await self._logged(room, actor, "readmitted", audit, **named)

    async def floor(self, sid: str, data: object) -> LoggedAck:
        """Give the floor to one member (``user_id``), or take it back (``user_id: null``)."""
        room, actor, user_id, _, _, named = await self._acting_on_member(
            sid, "floor", data, optional_user=True
        )
        audit = self._audit(actor, "floor")
        audit["user_id"] = user_id
        result = await self._logged(room, actor, "floor", audit, **named)
        if user_id is not None:
            await self._lower_hand(room, user_id)
        return result

    async def _lower_hand(self, room: str, user_id: str) -> None:
        """Someone given the floor no longer waits to speak: their hand goes down."""
        raised = next((h for h in await self._hands.hands_list(room) if h["id"] == user_id), None)
        if raised is None:
            return
        hands = await self._hands.hands_set(room, raised, False, self._clock())
        lowered = {"room": room, "user": raised, "raised": False, "hands": hands}
        await self._bus.publish(room, Delivery("hand", lowered))

    # -- the room ----------------------------------------------------------------------

    async def lock(self, sid: str, data: object) -> LoggedAck:
        req = parse_flag(data, "locked")
        actor = self._facilitator(sid, req.room)
        audit = self._audit(actor, "locked")
        audit["locked"] = req.value
        return await self._logged(req.room, actor, "locked", audit, locked=req.value)

    async def pause(self, sid: str, data: object) -> LoggedAck:
        req = parse_flag(data, "paused")
        actor = self._facilitator(sid, req.room)
        audit = self._audit(actor, "paused")
        audit["paused"] = req.value
        return await self._logged(req.room, actor, "paused", audit, paused=req.value)

    async def slow_mode(self, sid: str, data: object) -> LoggedAck:
        room, seconds = parse_seconds(data)
        actor = self._facilitator(sid, room)
        audit = self._audit(actor, "slow_mode")
        audit["slow_mode_s"] = seconds
        return await self._logged(room, actor, "slow_mode", audit, slow_mode_s=seconds)

    async def lower_hands(self, sid: str, data: object) -> OkAck:
        req = parse_room(data)
        actor = self._facilitator(sid, req.room)
        signal_allowed(self._signals, HAND, req.room, actor["id"])
        await self._hands.hands_clear(req.room)
        cleared = {"room": req.room, "cleared": True, "by": actor, "hands": []}
        await self._bus.publish(req.room, Delivery("hand", cleared))
        await self._review.audit_add(req.room, self._audit(actor, "hands_lowered"))
        return {"ok": True}

    # -- messages ----------------------------------------------------------------------

    async def _existing_message(self, room: str, msg_id: str) -> MessageEntry:
        entry = await self._log.get_message(room, msg_id)
        if entry is None:
            raise ServiceError(errors.INVALID_PAYLOAD, "That message is not in the room's history.")
        return entry

    async def pin(self, sid: str, data: object) -> LoggedAck:
        req = parse_message_ref(data)
        actor = self._facilitator(sid, req.room)
        entry = await self._existing_message(req.room, req.msg_id)
        audit = self._audit(actor, "pinned")
        audit["id"] = req.msg_id
        return await self._logged(req.room, actor, "pinned", audit, id=req.msg_id, entry=entry)

    async def unpin(self, sid: str, data: object) -> LoggedAck:
        req = parse_message_ref(data)
        actor = self._facilitator(sid, req.room)
        audit = self._audit(actor, "unpinned")
        audit["id"] = req.msg_id
        return await self._logged(req.room, actor, "unpinned", audit, id=req.msg_id)

    async def clear(self, sid: str, data: object) -> LoggedAck:
        """Purge the room's conversation: every message and event before this one is
        erased from the store on every backend (members' clients empty their view; one
        recovering from before it gets the room as it is now). The audit keeps only that
        it happened. The group space (goals, wins, the shelf) is its members' and stays."""
        room = parse_room(data).room
        actor = self._facilitator(sid, room)
        return await self._logged(room, actor, "cleared", self._audit(actor, "cleared"))

    async def delete(self, sid: str, data: object) -> LoggedAck:
        req = parse_message_ref(data)
        actor = self._facilitator(sid, req.room)
        entry = await self._existing_message(req.room, req.msg_id)
        audit = self._audit(actor, "deleted")
        audit.update({"id": req.msg_id, "user_id": entry["user"]["id"], "reason": req.reason})
        result = await self._logged(
            req.room,
            actor,
            "deleted",
            audit,
            id=req.msg_id,
            at=entry["offset"],
            reason=req.reason,
        )
        # Alerts about it (reports, contact details, a link …) are dealt with. A crisis
        # alert is not: its author may still need someone to check in with them.
        settled = [
            alert.get("id", "")
            for alert in await self._alerts.open_alerts(req.room)
            if _entry_id(alert) == req.msg_id and not _needs_a_person(alert)
        ]
        await self._alerts.dismiss(req.room, settled, actor)
        return result

    async def review(self, sid: str, data: object) -> ReviewAck:
        """Approve (deliver to all, logged) or deny (the sender is told privately) a held
        message."""
        req = parse_message_ref(data, approve=True)
        actor = self._facilitator(sid, req.room)
        held = await self._review.hold_take(req.room, req.msg_id)
        if held is None:
            raise ServiceError(errors.INVALID_PAYLOAD, "That message was already reviewed.")
        now = self._clock()
        sender = held["user"]
        result: ReviewAck = {"ok": True}
        if req.approve:
            entry = message_entry(
                room=req.room,
                msg_id=held["id"],
                user=sender,
                text=held["text"],
                ts=now,
                client_id=held["client_id"],
            )
            if "thread" in held:
                entry["thread"] = held["thread"]
            appended = await self._log.append(req.room, entry, guard=None, now_ms=now)
            result["offset"] = appended.entry["offset"]
            if "crisis" in held.get("kinds", []):
                no_reactions = reactions_off(req.room, held["id"], now)
                await self._log.append(req.room, no_reactions, guard=None, now_ms=now)
        reviewed = {
            "room": req.room,
            "kind": "reviewed",
            "text": APPROVED_NOTICE if req.approve else DENIED_NOTICE,
            "id": req.msg_id,
            "client_id": held["client_id"],
            "approved": req.approve,
        }
        to_sender = USER_AUDIENCE + sender["id"]
        await self._bus.publish(req.room, Delivery("notice", reviewed, audience=to_sender))
        # Other facilitators' panels drop the item.
        closed = {
            "room": req.room,
            "kind": "reviewed",
            "id": req.msg_id,
            "approved": req.approve,
            "by": actor,
        }
        await self._bus.publish(req.room, Delivery("alert", closed, audience=FACILITATORS))
        audit: AuditRecord = {
            "ts": now,
            "by": actor,
            "action": "approved" if req.approve else "denied",
            "id": req.msg_id,
            "user_id": sender["id"],
        }
        await self._review.audit_add(req.room, audit)
        return result

    # -- reports and alerts ------------------------------------------------------------

    async def report(self, sid: str, data: object) -> OkAck:
        """Any member may report a message; facilitators get an alert."""
        req = parse_message_ref(data)
        conn = self._connections.in_room(sid, req.room, "Join the room first.")
        reporter = conn.claims.user(req.room)
        signal_allowed(self._signals, REPORT, req.room, reporter["id"])
        entry = await self._existing_message(req.room, req.msg_id)
        await self._alerts.raise_alert(
            req.room,
            {
                "room": req.room,
                "kind": "report",
                "user": reporter,
                "entry": entry,
                "reason": req.reason or "Reported by a member.",
            },
        )
        audit = self._audit(reporter, "reported")
        audit.update({"id": req.msg_id, "user_id": entry["user"]["id"]})
        await self._review.audit_add(req.room, audit)
        return {"ok": True}

    async def dismiss_alert(self, sid: str, data: object) -> OkAck:
        """A facilitator has dealt with an alert: it closes for every facilitator."""
        req = parse_message_ref(data)
        actor = self._facilitator(sid, req.room)
        if not await self._alerts.dismiss(req.room, [req.msg_id], actor):
            raise ServiceError(errors.INVALID_PAYLOAD, "That alert was already dealt with.")
        audit = self._audit(actor, "alert_dismissed")
        audit["id"] = req.msg_id
        await self._review.audit_add(req.room, audit)
        return {"ok": True}

    async def audit(self, sid: str, data: object) -> AuditAck:
        room, limit = parse_limit(data)
        self._facilitator(sid, room)
        return {"ok": True, "entries": await self._review.audit_list(room, limit)}


def _needs_a_person(alert: Alert) -> bool:
    """A crisis (or any priority) alert is about someone, not only their message."""
    return alert["kind"] == "crisis" or alert.get("priority") is True


def _entry_id(alert: Alert) -> str | None:
    """The message an alert is about, if any."""
    entry = alert.get("entry")
    return entry["id"] if entry is not None else None
