"""The chat service: one flow per module, built whole at construction, in one direction.

    delivery     this worker's rooms, their listeners, fan-out to sockets
    alerts       alerts for facilitators: raised, kept open, dismissed, caught up
    connections  sign-in, disconnect, leaving (with grace), dead workers, expiry, drain
    joining      who may join, the join ack, entering live delivery
    posting      a message through moderation to the log or review; typing; hands
    controls     facilitator controls, reviews and member reports
    meeting      sessions, the agreement, rounds, reactions, wins, statuses
    meeting_change   the meeting changed by compare and set (one change, however raced)
    meeting_timers   turns, phases and sessions that end on time, on any worker

Each flow is handed the narrow backend interfaces it uses (chatserver/backend.py) and
the flows below it; none reaches for the backend as a whole. Requests arrive decoded
only as far as the transport goes (chatserver/transport/); payloads are parsed by
chatserver/schema.py, decided by the pure rules in rooms/ and moderation/, and answered
with acks built here. May import chatserver.backend, schema, errors, fanout, metrics,
rooms/ and moderation/; never the transport or a backend implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chatserver.auth import Claims
from chatserver.backend import Backend
from chatserver.fanout import Fanout
from chatserver.looplag import LoopLag
from chatserver.metrics import Metrics
from chatserver.service.acks import Handler
from chatserver.service.alerts import Alerts
from chatserver.service.clock import ServiceClock
from chatserver.service.connections import Connections
from chatserver.service.controls import Controls
from chatserver.service.delivery import Connection, LocalRooms
from chatserver.service.joining import Joining
from chatserver.service.meeting import GroupAgreement, MeetingFlow
from chatserver.service.meeting_change import MeetingChanges
from chatserver.service.meeting_timers import MeetingTimers
from chatserver.service.posting import Posting
from chatserver.service.space import SpaceFlow
from chatserver.service.tasks import TaskSet
from chatserver.space.store import GroupSpace
from moderation import ModerationPolicy, Pipeline
from rooms.entries import UserInfo
from rooms.signals import SignalLimit, SignalLimiter, default_limits

__all__ = ["ChatService", "Connection"]


class ChatService:
    """The flows, wired: what the transport and the app's lifecycle talk to."""

    def __init__(
        self,
        backend: Backend,
        fanout: Fanout,
        *,
        pipeline: Pipeline,
        policy: ModerationPolicy,
        metrics: Metrics,
        history_page: int,
        max_message_chars: int,
        space: GroupSpace,
        leave_grace_s: float = 10.0,
        signal_limits: Mapping[str, SignalLimit] | None = None,
        room_policy: Callable[[str], ModerationPolicy] | None = None,
        group_agreement: GroupAgreement | None = None,
    ) -> None:
        """``room_policy`` names each room's moderation policy (its group's: the organiser
        chooses it); without it every room has ``policy``, the deployment's."""
        self.metrics = metrics
        policy_for = room_policy if room_policy is not None else (lambda room: policy)
        self.loop_lag = LoopLag()
        self._clock = ServiceClock()
        self._tasks = TaskSet()
        clock, tasks = self._clock, self._tasks
        # Typing, hands, reports, leaves: fanned out with no log entry, limited per member.
        self.signals = SignalLimiter(signal_limits or default_limits())
        self.rooms = LocalRooms(backend, fanout, metrics=metrics, clock=clock, tasks=tasks)
        self.alerts = Alerts(backend, backend, self.rooms, clock=clock)
        self.conns = Connections(
            self.rooms,
            backend,
            backend,
            metrics=metrics,
            clock=clock,
            tasks=tasks,
            leave_grace_s=leave_grace_s,
            signals=self.signals,
        )
        self.joining = Joining(
            self.conns,
            self.rooms,
            backend,
            backend,
            self.alerts,
            metrics=metrics,
            clock=clock,
            tasks=tasks,
            history_page=history_page,
            max_message_chars=max_message_chars,
        )
        self.posting = Posting(
            self.conns,
            self.rooms,
            backend,
            backend,
            backend,
            backend,
            self.alerts,
            pipeline=pipeline,
            policy_for=policy_for,
            metrics=metrics,
            loop_lag=self.loop_lag,
            clock=clock,
            max_message_chars=max_message_chars,
            signals=self.signals,
        )
        self.controls = Controls(
            self.conns,
            backend,
            backend,
            backend,
            backend,
            backend,
            self.alerts,
            clock=clock,
            signals=self.signals,
        )
        self.meeting = MeetingFlow(
            self.conns,
            self.rooms,
            backend,
            backend,
            backend,
            self.alerts,
            clock=clock,
            signals=self.signals,
            group_agreement=group_agreement,
        )
        self.meeting_timers = MeetingTimers(
            self.rooms, MeetingChanges(backend, backend, clock=clock), clock=clock, tasks=tasks
        )
        self.joining.on_joined(self.meeting.joined)
        self.space = SpaceFlow(
            self.conns,
            space,
            backend,
            backend,
            backend,
            self.alerts,
            pipeline=pipeline,
            policy_for=policy_for,
            clock=clock,
        )
        self.connections = self.conns.by_sid
        """Signed-in connections by Socket.IO sid."""
        # What the transport calls, by event.
        self.join: Handler = self.joining.join
        self.leave: Handler = self.conns.leave
        self.message: Handler = self.posting.message
        self.typing: Handler = self.posting.typing
        self.hand: Handler = self.posting.hand

    @property
    def clock(self) -> Callable[[], int]:
        """Wall-clock ms, as every flow reads it; set it to move time for all of them."""
        return self._clock.read

    @clock.setter
    def clock(self, read: Callable[[], int]) -> None:
        self._clock.read = read

    # -- connections, as the transport and the app's lifecycle see them ----------------

    def connect(self, sid: str, eio_sid: str, claims: Claims) -> None:
        self.conns.connect(sid, eio_sid, claims)

    async def disconnect(self, sid: str) -> None:
        await self.conns.disconnect(sid)

    def connection(self, sid: str) -> Connection:
        return self.conns.get(sid)

    @property
    def draining(self) -> bool:
        return self.conns.draining

    def request_started(self) -> None:
        self.conns.request_started()

    def request_finished(self) -> None:
        self.conns.request_finished()

    async def drain(self, timeout_s: float) -> None:
        await self.conns.drain(timeout_s)

    async def wait_all_disconnected(self, timeout_s: float) -> None:
        await self.conns.wait_all_disconnected(timeout_s)

    def end_expired(self) -> int:
        return self.conns.end_expired()

    def end_membership(self, membership: str) -> int:
        return self.conns.end_membership(membership)

    async def removed_by_organiser(self, room: str, user: UserInfo, reason: str) -> None:
        await self.controls.removed_by_organiser(room, user, reason)

    async def end_expired_forever(self) -> None:
        await self.conns.end_expired_forever()

    async def run_meeting_timers_forever(self) -> None:
        await self.meeting_timers.run_forever()

    async def close(self) -> None:
        self.conns.close()
        await self.rooms.close()
