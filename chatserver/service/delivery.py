"""Delivery routing: this worker's rooms, their live listeners, and fan-out to sockets.

A room is local while this worker has members in it: subscribed on the room bus, with a
listener that folds logged entries into the cached room state (what moderation's gate
reads) and hands every delivery to the fan-out, addressed to everyone, the room's
facilitators, or one user. Nothing here decides anything about a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chatserver.auth import Claims
from chatserver.backend import EVERYONE, FACILITATORS, USER_AUDIENCE, Delivery, Payload, RoomBus
from chatserver.fanout import Fanout, Route
from chatserver.metrics import Metrics
from chatserver.service.clock import ServiceClock
from chatserver.service.tasks import TaskSet
from rooms.meeting_rules import may_see
from rooms.policy import is_facilitator
from rooms.state import RoomState, apply_event

log = logging.getLogger(__name__)

# How long a worker stays subscribed to a room after its last local member left: a
# member reloading the page should not cost an unsubscribe and resubscribe.
UNSUBSCRIBE_DELAY_S = 5.0

# A room's comings and goings within this window reach its members as one "presence"
# event: a room filling up would otherwise send each member every later arrival with the
# whole member list (quadratic in the room's size). Short enough that nobody notices.
PRESENCE_WINDOW_S = 0.05

# How many of a room's earlier "joined" and "left" a socket entering it can still be told
# of (who came or went: the member list is the newest one's). A join's ack and the
# others' presence events reach a worker in any order, so a socket may enter after
# hearing of people who came or went after its member list was read.
PRESENCE_REMEMBERED = 64


@dataclass(slots=True, eq=False)
class Connection:
    """One signed-in socket on this worker."""

    sid: str
    eio_sid: str
    claims: Claims
    rooms: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises this connection's requests so offsets follow the member's sending order."""


@dataclass(slots=True, eq=False)
class LocalRoom:
    """The sockets of one room on this worker and how far live delivery has got."""

    room: str
    members: dict[str, Connection] = field(default_factory=dict)
    delivered_offset: int = 0
    state: RoomState = field(default_factory=RoomState)
    """Room state folded from the entries this worker delivered: the cached view the
    pipeline's gate reads. The backend re-checks it atomically on append."""
    seeded: bool = False
    """Whether ``state`` was set from the backend (by the room's first join here)."""
    listener: Callable[[Delivery], None] | None = None
    unsubscribe_handle: asyncio.TimerHandle | None = None
    everyone: Route | None = None
    """Where a delivery to every member goes, resolved once (None: the members changed
    since; made again at the next delivery)."""
    joining: int = 0
    """Joins that opened the room and have not yet entered or given up: the room is kept
    for them (a join reads the backend between the two)."""
    live: bool = True
    """Whether ``delivered_offset`` is known: False while the bus leaves it to the
    room's first join here (``RoomBus.subscribe_for_join``)."""
    presence: list[Delivery] = field(default_factory=list)
    """Presence events received and not yet sent on (oldest first)."""
    presence_late: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Sockets that entered since presence was last sent (by sid): the first held event
    that came after they entered, and the presence sequence number of their join ack
    (``JoinView.presence_seq``): changes numbered after it are news to them, wherever
    held, those numbered before are in their ack."""
    presence_handle: asyncio.TimerHandle | None = None
    presence_heard: deque[tuple[int, Payload]] = field(
        default_factory=lambda: deque(maxlen=PRESENCE_REMEMBERED)
    )
    """Numbered "joined" and "left" no longer held (sent, or heard with nobody here): their
    number and who came or went, oldest first."""
    presence_newest: Delivery | None = None
    """The last of those, whole: its member list is the newest the room has sent."""


Evicted = Callable[[Connection, str], None]
"""Told of a connection a facilitator removed from a room (already out of delivery)."""


class LocalRooms:
    def __init__(
        self,
        bus: RoomBus,
        fanout: Fanout,
        *,
        metrics: Metrics,
        clock: ServiceClock,
        tasks: TaskSet,
        unsubscribe_delay_s: float = UNSUBSCRIBE_DELAY_S,
        presence_window_s: float = PRESENCE_WINDOW_S,
    ) -> None:
        self._bus = bus
        self._fanout = fanout
        self._metrics = metrics
        self._clock = clock
        self._tasks = tasks
        self._unsubscribe_delay_s = unsubscribe_delay_s
        self._presence_window_s = presence_window_s
        self.rooms: dict[str, LocalRoom] = {}
        self._subscribing: dict[str, asyncio.Future[LocalRoom]] = {}
        self._evicted: list[Evicted] = []

    def on_evicted(self, handler: Evicted) -> None:
        self._evicted.append(handler)

    # -- membership --------------------------------------------------------------------

    async def open(self, room: str) -> LocalRoom:
        """The room's local state for a join, subscribing to it first if this worker is
        not yet. The room is kept for the join until it ``enter``s or ``abandon``s it: a
        join reads the backend in between, and a room unsubscribed meanwhile (its last
        member left a while before) would take the joiner into a room nothing is
        delivered to."""
        local = await self._open(room)
        local.joining += 1
        self._cancel_unsubscribe(local)
        return local

    async def _open(self, room: str) -> LocalRoom:
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
            start = await self._bus.subscribe_for_join(room, local.listener)
            local.delivered_offset, local.live = start or 0, start is not None
            self.rooms[room] = local
            self._metrics.rooms.set(len(self.rooms))
            future.set_result(local)
            return local
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody else may be waiting; don't let the loop warn about it.
            future.exception()
            raise
        finally:
            del self._subscribing[room]

    def begin(self, local: LocalRoom, live_from: int | None) -> bool:
        """Whether live delivery of ``local`` is known to stand somewhere: the bus said at
        subscribe, or says now from a join's read (``JoinView.live_from``)."""
        if not local.live and live_from is not None:
            local.delivered_offset, local.live = live_from, True
        return local.live

    def enter(self, local: LocalRoom, conn: Connection, presence_seq: int = 0) -> None:
        """The socket joins live delivery (no await between its ack and this); the join
        that opened ``local`` is done. ``presence_seq``: its ack's (``JoinView``)."""
        local.joining -= 1
        local.members[conn.sid] = conn
        local.everyone = None
        newest = local.presence_newest
        if local.presence or (newest is not None and newest.seq > presence_seq):
            local.presence_late[conn.sid] = (len(local.presence), presence_seq)
            self._arm_presence(local)
        conn.rooms.add(local.room)
        self._cancel_unsubscribe(local)

    def abandon(self, local: LocalRoom) -> None:
        """A join that opened ``local`` was refused or failed: it no longer keeps it."""
        local.joining -= 1
        self.release(local)

    def leave(self, conn: Connection, room: str) -> None:
        conn.rooms.discard(room)
        local = self.rooms.get(room)
        if local is not None:
            local.members.pop(conn.sid, None)
            local.everyone = None
            self.release(local)

    def release(self, local: LocalRoom) -> None:
        """Unsubscribe a while after the last local member left (unless one comes back
        or is on its way)."""
        if local.members or local.joining:
            return
        self._cancel_unsubscribe(local)
        loop = asyncio.get_running_loop()
        local.unsubscribe_handle = loop.call_later(
            self._unsubscribe_delay_s,
            lambda: self._tasks.spawn(self._unsubscribe_if_empty(local)),
        )

    def _cancel_unsubscribe(self, local: LocalRoom) -> None:
        if local.unsubscribe_handle is not None:
            local.unsubscribe_handle.cancel()
            local.unsubscribe_handle = None

    async def _unsubscribe_if_empty(self, local: LocalRoom) -> None:
        local.unsubscribe_handle = None
        if local.members or local.joining or self.rooms.get(local.room) is not local:
            return
        del self.rooms[local.room]
        self._metrics.rooms.set(len(self.rooms))
        self._discard_presence(local)
        if local.listener is not None:
            await self._bus.unsubscribe(local.room, local.listener)

    async def close(self) -> None:
        for local in list(self.rooms.values()):
            self._cancel_unsubscribe(local)
            self._discard_presence(local)
            if local.listener is not None:
                await self._bus.unsubscribe(local.room, local.listener)
        self.rooms.clear()

    # -- to sockets --------------------------------------------------------------------

    def send(self, conn: Connection, event: str, payload: Payload) -> None:
        """One event to one socket of this worker (a notice, a caught-up alert)."""
        self._fanout.send([conn.eio_sid], Fanout.encode(event, payload))

    def drop(self, conns: Iterable[Connection], *, discard_queued: bool) -> None:
        """End these sockets' transports: their clients reconnect and recover."""
        for conn in conns:
            self._fanout.drop(conn.eio_sid, discard_queued)

    def _listener(self, local: LocalRoom) -> Callable[[Delivery], None]:
        def deliver(delivery: Delivery) -> None:
            if not local.live:
                return  # nobody is here yet; the first join tells where delivery stands
            if delivery.event == "presence" and delivery.audience == EVERYONE:
                if local.members:
                    self._hold_presence(local, delivery)
                else:
                    _remember(local, delivery)
                return
            if delivery.event == "reset":
                # The room's log was lost and restarted: its clients rejoin and start over,
                # and so does the cached state the gate reads (a lock, slow mode or mute
                # of the lost log would refuse posts the new log allows): the next join
                # seeds it from the backend again.
                local.delivered_offset = 0
                local.state, local.seeded = RoomState(), False
                self._discard_presence(local)
                self.drop(local.members.values(), discard_queued=True)
                return
            if local.presence_handle is not None:
                # What the room heard before this reaches its members before it.
                self._send_presence(local)
            entry = delivery.entry
            if entry is not None:
                if entry["offset"] <= local.delivered_offset:
                    return
                local.delivered_offset = entry["offset"]
                now = self._clock()
                apply_event(local.state, entry, now)
                self._metrics.fanout_seconds.observe(max(0, now - entry["ts"]) / 1000)
            if not local.members:
                return
            self._emit(local, delivery)
            if entry is not None and "kind" in entry and entry["kind"] == "removed":
                self._evict(local, entry.get("user_id") or "")

        return deliver

    def _emit(self, local: LocalRoom, delivery: Delivery, among: set[str] | None = None) -> None:
        """Send ``delivery`` to its audience in the room (those of it ``among``, by sid)."""
        audience = self._audience(local, delivery)
        if audience is None and among is None:  # everyone: the common case, on a route
            route = local.everyone
            if route is None or route.stale:
                route = local.everyone = self._fanout.route(
                    [c.eio_sid for c in local.members.values()]
                )
            frame = Fanout.encode(delivery.event, delivery.payload)
            self._metrics.deliveries.inc(self._fanout.send_route(route, frame))
            return
        if audience is None:
            audience = list(local.members.values())
        if among is not None:
            audience = [c for c in audience if c.sid in among]
        if audience:
            frame = Fanout.encode(delivery.event, delivery.payload)
            targets = [c.eio_sid for c in audience]
            self._metrics.deliveries.inc(self._fanout.send(targets, frame))

    # -- presence, coalesced -----------------------------------------------------------

    def _hold_presence(self, local: LocalRoom, delivery: Delivery) -> None:
        local.presence.append(delivery)
        self._arm_presence(local)

    def _arm_presence(self, local: LocalRoom) -> None:
        if local.presence_handle is None:
            local.presence_handle = asyncio.get_running_loop().call_later(
                self._presence_window_s, self._send_presence, local
            )

    def _send_presence(self, local: LocalRoom) -> None:
        """The held comings and goings as one event (``_gathered``), encoded once for
        the room. A socket that entered meanwhile hears what is news to it: a numbered
        "joined" or "left" after its ack's number (held, or heard before it entered: a
        join's ack and the others' presence events reach this worker in any order), and
        any unnumbered change (from a worker of an earlier version) held after it
        entered. A member sees only who is here, so the room's event is right for them
        when it ends with news to them; a facilitator, who sees people arrive, gets
        exactly the changes that are news to them."""
        held, late = local.presence, local.presence_late
        self._discard_presence(local)
        if local.members:
            self._send_held(local, held, late)
        for delivery in held:
            _remember(local, delivery)

    def _send_held(
        self, local: LocalRoom, held: list[Delivery], late: dict[str, tuple[int, int]]
    ) -> None:
        skip: set[str] = set()
        own: dict[tuple[int, ...], tuple[Delivery, set[str]]] = {}
        for sid, (start, seen) in late.items():
            conn = local.members.get(sid)
            if conn is None:
                continue
            skip.add(sid)
            before = [(seq, move) for seq, move in local.presence_heard if seq > seen]
            now = [i for i, d in enumerate(held) if (d.seq > seen if d.seq else i >= start)]
            if not before and not now:
                continue
            facilitator = is_facilitator(conn.claims.rooms.get(local.room, ""))
            ends_with_news = bool(now) and now[-1] == len(held) - 1
            if ends_with_news and (not facilitator or (not before and len(now) == len(held))):
                skip.discard(sid)  # the room's event ends with news to them
                continue
            key = (*(seq for seq, _ in before), -1, *now) if facilitator else (-2, *now[-1:])
            if key not in own:
                own[key] = (_news(local, held, before, now, facilitator), set())
            own[key][1].add(sid)
        if held:
            moves = [_movement(d.payload) for d in held[:-1]] if len(held) > 1 else []
            room_event = _gathered(held, moves)
            if skip:
                self._emit(local, room_event, {s for s in local.members if s not in skip})
            else:
                self._emit(local, room_event)
        for delivery, sids in own.values():
            self._emit(local, delivery, sids)

    def _discard_presence(self, local: LocalRoom) -> None:
        local.presence = []
        local.presence_late = {}
        if local.presence_handle is not None:
            local.presence_handle.cancel()
            local.presence_handle = None

    def _audience(self, local: LocalRoom, delivery: Delivery) -> list[Connection] | None:
        """Who of the room's members a delivery is for: None for all of them."""
        audience = delivery.audience
        members = local.members.values()
        entry = delivery.entry
        if entry is not None and (entry.get("thread") or entry.get("audience")):
            # A private check-in: its member and the facilitators only.
            room = local.room
            return [
                c for c in members if may_see(entry, c.claims.user_id, c.claims.rooms.get(room, ""))
            ]
        if audience == FACILITATORS:
            return [c for c in members if is_facilitator(c.claims.rooms.get(local.room, ""))]
        if audience.startswith(USER_AUDIENCE):
            user_id = audience[len(USER_AUDIENCE) :]
            return [c for c in members if c.claims.user_id == user_id]
        joined = delivery.payload.get("joined") if delivery.event == "presence" else None
        if isinstance(joined, dict):
            # The joiner learns who is here from its join ack, not from its own "joined"
            # (which may reach this worker after the socket entered delivery).
            return [c for c in members if c.claims.user_id != joined["id"]]
        return None

    def _evict(self, local: LocalRoom, user_id: str) -> None:
        """A member removed by a facilitator leaves the room on this worker at once."""
        for conn in [c for c in local.members.values() if c.claims.user_id == user_id]:
            # Out of the delivery set now, before any later entry is fanned out.
            local.members.pop(conn.sid, None)
            local.everyone = None
            conn.rooms.discard(local.room)
            for handler in self._evicted:
                handler(conn, local.room)
        self.release(local)


def _remember(local: LocalRoom, delivery: Delivery) -> None:
    """A numbered "joined" or "left" no longer held: kept for sockets whose ack came
    before it."""
    if delivery.seq:
        local.presence_heard.append((delivery.seq, _movement(delivery.payload)))
        local.presence_newest = delivery


def _news(
    local: LocalRoom,
    held: list[Delivery],
    before: list[tuple[int, Payload]],
    now: list[int],
    facilitator: bool,
) -> Delivery:
    """The presence event for one socket that entered lately: the newest list that is news
    to it, with (for a facilitator) the earlier changes that are, in ``earlier``."""
    if now:
        last = held[now[-1]]
        moves = [move for _, move in before] + [_movement(held[i].payload) for i in now[:-1]]
    else:
        assert local.presence_newest is not None  # ``before`` ends with it
        last = local.presence_newest
        moves = [move for _, move in before[:-1]]
    if not facilitator or not moves:
        return last
    return Delivery("presence", {**last.payload, "earlier": moves})


def _gathered(held: list[Delivery], moves: list[Payload]) -> Delivery:
    """Presence events as one: the last as it was published (its member list is the
    newest), the changes before it (``moves``) in ``earlier``, oldest first. Its joiner is
    left out as before (``_audience``): their join ack, read after every earlier change,
    had them."""
    last = held[-1]
    if len(held) == 1:
        return last
    return Delivery("presence", {**last.payload, "earlier": moves})


def _movement(payload: Payload) -> Payload:
    """Who came or went in a presence event, without its member list."""
    return {k: payload[k] for k in ("joined", "left") if k in payload}
