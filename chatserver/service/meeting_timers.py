"""The meeting's server-side timers: a turn's share running out, a timed phase ending,
the "5 minutes left" notice and a timed session's end.

The deadlines are in the room's state (rooms.meeting.due), not in the worker that set
them. Every worker sweeps the rooms it has members in and, for a room with something
due, makes the change through compare and set (chatserver/service/meeting_change.py):
so a timer fires after the worker that set it is gone, and once however many workers
see it due.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from chatserver.service.clock import ServiceClock
from chatserver.service.delivery import LocalRooms
from chatserver.service.meeting_change import Change, MeetingChanges
from chatserver.service.tasks import TaskSet
from rooms.entries import SYSTEM_USER
from rooms.meeting import ENDED, PHASE_END, TURN_TIMEOUT, WARNING, Meeting, due, on_timer
from rooms.state import RoomState

log = logging.getLogger(__name__)

TIMER_CHECK_S: Final = 0.5


def timer_change(m: Meeting, _: RoomState, now: int) -> Change | None:
    """The change a timer due at ``now`` makes (None: nothing is due, because another
    worker or a person got there first)."""
    timer = due(m, now)
    if timer is None:
        return None
    after = on_timer(m, timer, now)
    if timer == TURN_TIMEOUT:
        return Change("turn", after, {"reason": "timed_out", "timer": True})
    if timer == PHASE_END and after["status"] == ENDED:
        return Change("session_ended", after, {"reason": "time", "timer": True})
    if timer == PHASE_END:
        return Change("phase", after, {"timer": True})
    assert timer == WARNING
    return Change("time_notice", after, {"timer": True})


class MeetingTimers:
    def __init__(
        self, rooms: LocalRooms, changes: MeetingChanges, *, clock: ServiceClock, tasks: TaskSet
    ) -> None:
        self._rooms = rooms
        self._changes = changes
        self._clock = clock
        self._tasks = tasks
        self._firing: set[str] = set()
        """Rooms whose due timer this worker is appending now (one at a time per room)."""

    def sweep(self) -> None:
        """Start appending what is due in each room this worker has members in."""
        now = self._clock()
        for room, local in list(self._rooms.rooms.items()):
            if room in self._firing or not local.members:
                continue
            if due(local.state.meeting, now) is not None:
                self._firing.add(room)
                self._tasks.spawn(self._fire(room))

    async def _fire(self, room: str) -> None:
        try:
            await self._changes.make_unasked(room, SYSTEM_USER, timer_change)
        finally:
            self._firing.discard(room)

    async def run_forever(self, interval_s: float = TIMER_CHECK_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.sweep()
            except Exception:
                log.exception("meeting timer sweep failed")
