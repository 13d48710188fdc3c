"""Changing the meeting by compare and set: the one way a meeting event reaches the log.

A request (or a timer, a join, a leave) says what it does to the meeting as ``Work``: a
function of the meeting, the room's state and the time, giving the ``Change`` to log.
``MeetingChanges.make`` reads the room's state, works the change out and appends it
carrying ``after``, the offset of the meeting event it was worked out from; the backend
appends it only if that is still the latest meeting event (``MeetingMoved`` otherwise),
and the work is done again on the room's state as it is now. So a timer that two workers
see due, or a facilitator's "next" racing it, changes the meeting once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from chatserver import errors
from chatserver.backend import BackendUnavailable, MeetingMoved, ReviewStore, RoomLog, User
from chatserver.errors import ServiceError
from chatserver.service.acks import LoggedAck, OkAck
from chatserver.service.clock import ServiceClock
from rooms.entries import EventFields, room_event
from rooms.meeting import Meeting
from rooms.state import RoomState

log = logging.getLogger(__name__)

# A meeting change worked out again this many times when others changed it meanwhile.
CHANGE_ATTEMPTS: Final = 6


@dataclass(frozen=True, slots=True)
class Change:
    """A meeting event to log: its kind, the meeting after it, and its other fields."""

    kind: str
    meeting: Meeting
    fields: EventFields = field(default_factory=lambda: EventFields())


Work = Callable[[Meeting, RoomState, int], Change | None]
"""What a request does to the meeting: from the meeting, the room state and the time,
the change to log (None: nothing to change). Raises a ServiceError to refuse."""


class MeetingChanges:
    def __init__(self, log_: RoomLog, review: ReviewStore, *, clock: ServiceClock) -> None:
        self._log = log_
        self._review = review
        self._clock = clock

    async def make(
        self, room: str, by: User, work: Work, *, audit: str | None = None
    ) -> LoggedAck | OkAck:
        """Log the change ``work`` works out (and an audit record named ``audit``), on
        the meeting as it is when it is appended; the ack has its offset."""
        for _ in range(CHANGE_ATTEMPTS):
            now = self._clock()
            state = (await self._log.snapshot(room, now)).state
            change = work(state.meeting, state, now)
            if change is None:
                return {"ok": True}
            fields: EventFields = {
                **change.fields,
                "after": state.meeting_at,
                "meeting": change.meeting,
            }
            entry = room_event(room=room, kind=change.kind, by=by, ts=now, **fields)
            try:
                appended = await self._log.append(room, entry, guard=None, now_ms=now)
            except MeetingMoved:
                continue
            offset = appended.entry["offset"]
            if audit is not None:
                await self._review.audit_add(
                    room, {"ts": now, "by": by, "action": audit, "offset": offset}
                )
            return {"ok": True, "offset": offset}
        raise ServiceError(
            errors.UNAVAILABLE, "The session is busy; please try again.", retry_after_s=1.0
        )

    async def make_unasked(self, room: str, by: User, work: Work) -> None:
        """A change nobody waits for an answer to (a timer, an arrival, a departure):
        one that cannot be made now is logged here, not raised."""
        try:
            await self.make(room, by, work)
        except (ServiceError, BackendUnavailable) as exc:
            log.warning("meeting change not made: %s", exc)
