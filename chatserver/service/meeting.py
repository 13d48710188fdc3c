"""The meeting: sessions and their agenda, the group agreement, rounds, support reactions,
wins, quiet statuses and asking for support.

Every change is decided by the pure rules (rooms/meeting.py says how the meeting
changes, rooms/meeting_rules.py who may) and logged as a room event through the room
log's atomic append, so every worker folds it and a reconnect recovers it. A meeting
event is appended by compare and set (chatserver/service/meeting_change.py); the timers
that move a meeting on by themselves are chatserver/service/meeting_timers.py.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Final

from chatserver.backend import (
    AuditRecord,
    Presence,
    ReviewStore,
    RoomLog,
    User,
)
from chatserver.errors import ServiceError
from chatserver.ids import ids
from chatserver.meeting_schema import (
    parse_agenda,
    parse_guidelines,
    parse_history,
    parse_react,
    parse_round,
    parse_status,
    parse_support,
    parse_win,
)
from chatserver.schema import parse_room, parse_target
from chatserver.service.acks import Handler, LoggedAck, OkAck, SupportAck
from chatserver.service.alerts import Alerts
from chatserver.service.clock import ServiceClock
from chatserver.service.connections import Connections
from chatserver.service.delivery import LocalRooms
from chatserver.service.meeting_change import Change, MeetingChanges
from chatserver.service.refusals import refuse, signal_allowed
from rooms.codes import FORBIDDEN
from rooms.entries import SYSTEM_USER, EventFields, MessageEntry, room_event
from rooms.meeting import (
    DEFAULT_GUIDELINES,
    EACH_SESSION,
    ENDED,
    MAX_GUIDELINES_CHARS,
    Meeting,
    Speaker,
    advance_phase,
    end_round,
    end_session,
    history_of,
    is_live,
    join_order,
    join_round,
    leave_round,
    mark_win,
    next_turn,
    set_agenda,
    set_guidelines,
    set_history,
    set_status,
    start_round,
    start_session,
    unmark_win,
)
from rooms.meeting_rules import (
    check_agree,
    check_checkin,
    check_live,
    check_reactable,
    check_round_going,
    check_round_start,
    check_runs_meeting,
    check_turn_over,
    check_win,
)
from rooms.policy import Refusal, is_facilitator
from rooms.recovery import Since
from rooms.signals import REACT, REPORT, SignalLimiter
from rooms.state import RoomState

log = logging.getLogger(__name__)

# Entries read for a round's join order when the log cannot be read whole from its start.
ROUND_ORDER_READ: Final = 1000
SUPPORT_CONFIRMATION: Final = (
    "A facilitator has been told and will check in with you privately. "
    "If you are in danger now, call your local emergency number."
)


GroupAgreement = Callable[[str], Awaitable[str]]
"""The group agreement its organiser wrote for a room ("" if none): a session starts with
it until a facilitator edits the meeting's own."""


def _refuse(refusal: Refusal | None) -> None:
    refuse(refusal)


class MeetingFlow:
    def __init__(
        self,
        connections: Connections,
        rooms: LocalRooms,
        log_: RoomLog,
        presence: Presence,
        review: ReviewStore,
        alerts: Alerts,
        *,
        clock: ServiceClock,
        signals: SignalLimiter,
        group_agreement: GroupAgreement | None = None,
    ) -> None:
        self._group_agreement = group_agreement
        self._connections = connections
        self._rooms = rooms
        self._log = log_
        self._presence = presence
        self._review = review
        self._alerts = alerts
        self._clock = clock
        self._signals = signals
        self._changes = MeetingChanges(log_, review, clock=clock)
        connections.on_left(self.left)

    def handlers(self) -> dict[str, Handler]:
        return {
            "session_start": self.session_start,
            "session_end": self.session_end,
            "phase_next": self.phase_next,
            "agenda": self.agenda,
            "guidelines": self.guidelines,
            "history": self.history,
            "agree": self.agree,
            "round_start": self.round_start,
            "turn_done": self.turn_done,
            "turn_pass": self.turn_pass,
            "round_end": self.round_end,
            "react": self.react,
            "win": self.win,
            "status": self.status,
            "need_support": self.need_support,
            "checkin_open": self.checkin_open,
            "checkin_close": self.checkin_close,
        }

    # -- who -----------------------------------------------------------------------------

    def _person(self, sid: str, room: str) -> User:
        conn = self._connections.in_room(sid, room, "Join the room first.")
        return conn.claims.user(room)

    def _runner(self, sid: str, room: str) -> User:
        user = self._person(sid, room)
        refuse(check_runs_meeting(user["role"]))
        return user

    # -- the session ---------------------------------------------------------------------

    async def session_start(self, sid: str, data: object) -> LoggedAck | OkAck:
        req = parse_agenda(data, optional=True)
        by = self._runner(sid, req.room)
        session_id = ids.next()
        now = self._clock()
        meeting = (await self._log.snapshot(req.room, now)).state.meeting
        if history_of(meeting) == EACH_SESSION and not is_live(meeting):
            # The room keeps nothing of the last session's conversation.
            cleared = room_event(room=req.room, kind="cleared", by=by, ts=now)
            await self._log.append(req.room, cleared, guard=None, now_ms=now)
        organised = ""
        if self._group_agreement is not None:
            organised = (await self._group_agreement(req.room)).strip()[:MAX_GUIDELINES_CHARS]

        def work(m: Meeting, _: RoomState, now: int) -> Change:
            if is_live(m):
                raise ServiceError(FORBIDDEN, "A session is already running.")
            if organised and m["guidelines"] == DEFAULT_GUIDELINES:
                # Not edited here: the group's own agreement, as its organiser wrote it.
                m = set_guidelines(m, organised)
            started = start_session(m, session_id, now, req.agenda)
            return Change("session_started", started, {"session_id": session_id})

        return await self._changes.make(req.room, by, work, audit="session_started")

    async def session_end(self, sid: str, data: object) -> LoggedAck | OkAck:
        room = parse_room(data).room
        by = self._runner(sid, room)

        def work(m: Meeting, _: RoomState, now: int) -> Change:
            _refuse(check_live(m))
            return Change("session_ended", end_session(m, now), {"reason": "ended"})

        return await self._changes.make(room, by, work, audit="session_ended")

    async def phase_next(self, sid: str, data: object) -> LoggedAck | OkAck:
        room = parse_room(data).room
        by = self._runner(sid, room)

        def work(m: Meeting, _: RoomState, now: int) -> Change:
            _refuse(check_live(m))
            after = advance_phase(m, now)
            if after["status"] == ENDED:
                return Change("session_ended", after, {"reason": "ended"})
            return Change("phase", after)

        return await self._changes.make(room, by, work)

    async def agenda(self, sid: str, data: object) -> LoggedAck | OkAck:
        req = parse_agenda(data, optional=False)
        by = self._runner(sid, req.room)
        agenda = req.agenda or []
        return await self._changes.make(
            req.room, by, lambda m, _, now: Change("agenda", set_agenda(m, agenda, now))
        )

    async def guidelines(self, sid: str, data: object) -> LoggedAck | OkAck:
        room, text = parse_guidelines(data)
        by = self._runner(sid, room)
        return await self._changes.make(
            room, by, lambda m, _, now: Change("guidelines", set_guidelines(m, text))
        )

    async def history(self, sid: str, data: object) -> LoggedAck | OkAck:
        """The room's history setting (rooms/meeting.py ``HISTORY``)."""
        room, mode = parse_history(data)
        by = self._runner(sid, room)
        return await self._changes.make(
            room,
            by,
            lambda m, _, now: (
                None if history_of(m) == mode else Change("history", set_history(m, mode))
            ),
            audit="history_set",
        )

    async def agree(self, sid: str, data: object) -> LoggedAck | OkAck:
        """Accept the group agreement for this session (once: again is a no-op)."""
        room = parse_room(data).room
        user = self._person(sid, room)
        now = self._clock()
        state = (await self._log.snapshot(room, now)).state
        refuse(check_agree(state.meeting))
        if state.has_agreed(user["id"]):
            return {"ok": True}
        session_id = state.meeting["session_id"]
        entry = room_event(
            room=room, kind="agreed", by=user, ts=now, user_id=user["id"], session_id=session_id
        )
        appended = await self._log.append(room, entry, guard=None, now_ms=now)
        return {"ok": True, "offset": appended.entry["offset"]}

    # -- rounds --------------------------------------------------------------------------

    async def round_start(self, sid: str, data: object) -> LoggedAck | OkAck:
        req = parse_round(data)
        by = self._runner(sid, req.room)
        present = await self._presence.presence_members(req.room)
        order: list[Speaker] = [
            {"id": u["id"], "name": u["name"]} for u in present if not is_facilitator(u["role"])
        ]
        if req.shuffled:
            random.SystemRandom().shuffle(order)
        else:
            # As people joined the session: the order they accepted its agreement in.
            snap = await self._log.snapshot(req.room, self._clock())
            read = await self._log.read(req.room, Since(0, snap.epoch), ROUND_ORDER_READ)
            order = join_order(order, read.entries, snap.state.meeting["session_id"])

        def work(m: Meeting, _: RoomState, now: int) -> Change:
            _refuse(check_round_start(m, len(order)))
            started = start_round(m, req.name, order, req.share_s, req.shuffled, now)
            return Change("round_started", started, {"name": req.name})

        return await self._changes.make(req.room, by, work, audit="round_started")

    async def _turn_over(self, sid: str, data: object, outcome: str) -> LoggedAck | OkAck:
        room = parse_room(data).room
        user = self._person(sid, room)

        def work(m: Meeting, _: RoomState, now: int) -> Change:
            _refuse(check_turn_over(m, user["id"], user["role"], outcome))
            return Change("turn", next_turn(m, outcome, now), {"reason": outcome})

        return await self._changes.make(room, user, work)

    async def turn_done(self, sid: str, data: object) -> LoggedAck | OkAck:
        return await self._turn_over(sid, data, "done")

    async def turn_pass(self, sid: str, data: object) -> LoggedAck | OkAck:
        return await self._turn_over(sid, data, "passed")

    async def round_end(self, sid: str, data: object) -> LoggedAck | OkAck:
        room = parse_room(data).room
        by = self._runner(sid, room)

        def work(m: Meeting, _: RoomState, now: int) -> Change:
            _refuse(check_round_going(m))
            return Change("round_ended", end_round(m))

        return await self._changes.make(room, by, work)

    # -- reactions, wins, statuses -------------------------------------------------------

    async def _shown_message(self, room: str, msg_id: str) -> MessageEntry:
        """A message everyone can see and may react to (not held, deleted or crisis)."""
        entry = await self._log.get_message(room, msg_id)
        state = (await self._log.snapshot(room, self._clock())).state
        crisis = msg_id in state.no_reactions
        for alert in await self._alerts.open_alerts(room):
            about = alert.get("entry")
            crisis |= alert["kind"] == "crisis" and about is not None and about["id"] == msg_id
        private = entry is not None and "thread" in entry
        refuse(check_reactable(held_or_gone=entry is None or private, crisis=crisis))
        assert entry is not None
        return entry

    async def react(self, sid: str, data: object) -> LoggedAck | OkAck:
        """One of each support reaction per member per message; taken away with on: false."""
        req = parse_react(data)
        user = self._person(sid, req.room)
        signal_allowed(self._signals, REACT, req.room, user["id"])
        await self._shown_message(req.room, req.msg_id)
        now = self._clock()
        state = (await self._log.snapshot(req.room, now)).state
        reacted = user["id"] in state.reactions.get(req.msg_id, {}).get(req.reaction, [])
        if reacted == req.on:
            return {"ok": True}
        entry = room_event(
            room=req.room,
            kind="reaction",
            by=user,
            ts=now,
            id=req.msg_id,
            reaction=req.reaction,
            user_id=user["id"],
            on=req.on,
        )
        appended = await self._log.append(req.room, entry, guard=None, now_ms=now)
        return {"ok": True, "offset": appended.entry["offset"]}

    async def win(self, sid: str, data: object) -> LoggedAck | OkAck:
        """A member marks their own message as a win; a facilitator highlights any."""
        req = parse_win(data)
        user = self._person(sid, req.room)
        entry = await self._shown_message(req.room, req.msg_id)
        refuse(check_win(user["id"], user["role"], entry["user"]["id"]))

        def work(m: Meeting, _: RoomState, now: int) -> Change | None:
            after = mark_win(m, entry, user) if req.on else unmark_win(m, req.msg_id)
            if after is None:
                return None
            return Change("win", after, {"id": req.msg_id, "on": req.on})

        return await self._changes.make(req.room, user, work)

    async def status(self, sid: str, data: object) -> LoggedAck | OkAck:
        room, status = parse_status(data)
        user = self._person(sid, room)
        signal_allowed(self._signals, REACT, room, user["id"])

        def work(m: Meeting, _: RoomState, now: int) -> Change | None:
            after = set_status(m, user["id"], status)
            if after is None:
                return None
            return Change("status", after, {"user_id": user["id"], "status": status})

        return await self._changes.make(room, user, work)

    async def need_support(self, sid: str, data: object) -> SupportAck:
        """Privately ask for a facilitator: a priority alert for them, a confirmation for
        the member; nobody else learns of it."""
        room, text = parse_support(data)
        user = self._person(sid, room)
        signal_allowed(self._signals, REPORT, room, user["id"])
        await self._alerts.raise_alert(
            room,
            {
                "room": room,
                "kind": "support",
                "user": user,
                "entry": None,
                "reason": text or "Asked for support.",
                "priority": True,
            },
        )
        record: AuditRecord = {"ts": self._clock(), "by": user, "action": "support_requested"}
        await self._review.audit_add(room, record)
        return {"ok": True, "message": SUPPORT_CONFIRMATION}

    # -- private check-ins ------------------------------------------------------------------

    async def _checkin(self, sid: str, data: object, on: bool) -> LoggedAck | OkAck:
        """Open (or close) a two-person thread inside the room: the member and the
        facilitators see it; the audit records that it happened, never what was said."""
        req = parse_target(data)
        user = self._person(sid, req.room)
        present = await self._presence.presence_members(req.room)
        target = next((m for m in present if m["id"] == req.user_id), None)
        if on or target is None:
            refuse(check_checkin(user["role"], None if target is None else target["role"]))
        else:
            refuse(check_runs_meeting(user["role"]))
        member_id = req.user_id or ""
        now = self._clock()
        state = (await self._log.snapshot(req.room, now)).state
        if (member_id in state.checkins) == on:
            return {"ok": True}
        fields: EventFields = {"user_id": member_id, "on": on, "thread": member_id}
        if target is not None:
            fields["user"] = target
        entry = room_event(room=req.room, kind="checkin", by=user, ts=now, **fields)
        appended = await self._log.append(req.room, entry, guard=None, now_ms=now)
        record: AuditRecord = {
            "ts": now,
            "by": user,
            "action": "checkin_opened" if on else "checkin_closed",
            "user_id": member_id,
            "offset": appended.entry["offset"],
        }
        await self._review.audit_add(req.room, record)
        return {"ok": True, "offset": appended.entry["offset"]}

    async def checkin_open(self, sid: str, data: object) -> LoggedAck | OkAck:
        return await self._checkin(sid, data, True)

    async def checkin_close(self, sid: str, data: object) -> LoggedAck | OkAck:
        return await self._checkin(sid, data, False)

    # -- arrivals and departures -----------------------------------------------------------

    async def joined(self, room: str, user: User) -> None:
        """Someone arriving mid-round goes to the end of the order."""
        if is_facilitator(user["role"]) or not self._may_concern(room, _round_going):
            return
        speaker: Speaker = {"id": user["id"], "name": user["name"]}

        def work(m: Meeting, _: RoomState, now: int) -> Change | None:
            after = join_round(m, speaker)
            if after is None:
                return None
            return Change("turn", after, {"reason": "joined", "user_id": user["id"]})

        await self._changes.make_unasked(room, SYSTEM_USER, work)

    async def left(self, room: str, users: list[User]) -> None:
        """Someone who left is skipped in the round and their quiet status is cleared."""
        for user in users:
            user_id = user["id"]
            if not self._may_concern(room, partial(_waits_or_shows, user_id=user_id)):
                continue

            def work(m: Meeting, _: RoomState, now: int, user_id: str = user_id) -> Change | None:
                skipped = leave_round(m, user_id, now)
                after = set_status(skipped or m, user_id, None) or skipped
                if after is None:
                    return None
                if skipped is not None:
                    return Change("turn", after, {"reason": "left", "user_id": user_id})
                return Change("status", after, {"user_id": user_id, "status": None})

            await self._changes.make_unasked(room, SYSTEM_USER, work)

    def _may_concern(self, room: str, test: Callable[[Meeting], bool]) -> bool:
        """Whether the meeting this worker has cached may need a change (a join's
        one-round-trip path reads nothing more when it does not); the change itself is
        worked out from the backend's state, compare and set."""
        local = self._rooms.rooms.get(room)
        return local is None or not local.seeded or test(local.state.meeting)


def _round_going(m: Meeting) -> bool:
    return m["round"] is not None and not m["round"]["over"]


def _waits_or_shows(m: Meeting, user_id: str) -> bool:
    """Whether someone leaving changes the meeting: a turn still to come, or a status."""
    rnd = m["round"]
    if user_id in m["statuses"]:
        return True
    if rnd is None or rnd["over"] or user_id in rnd["outcomes"]:
        return False
    return any(s["id"] == user_id for s in rnd["order"][rnd["index"] :])
