"""The embedded backend: every room's log, state and presence in this process.

It is the product's default (a single worker needs no Redis), not a test double: it
applies the same pure rules from rooms/ as the Redis backend's append script, and the
same contract suite runs against both.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from chatserver.backend import (
    ALERTS_PER_ROOM,
    HELD_PER_ROOM,
    Alert,
    AppendRefused,
    AppendResult,
    AuditRecord,
    Delivery,
    JoinQuery,
    JoinView,
    Leaving,
    MeetingMoved,
    PostGuard,
    PresenceGone,
    RaidSuspected,
    RoomListener,
    RoomSnapshot,
    SharedRaid,
    User,
)
from rooms.entries import MEETING_KINDS, Entry, HeldEntry, MessageEntry, event_name
from rooms.log import ReadResult, RoomLog
from rooms.policy import FACILITATOR, check_post
from rooms.presence import RoomPresence
from rooms.recovery import Since
from rooms.state import RoomState, apply_event

log = logging.getLogger(__name__)


AUDIT_PER_ROOM = 1000
# Client ids of held messages, for a retry's answer (Redis keeps each for a day instead).
HELD_CLIENT_IDS_PER_ROOM = 1000


@dataclass(slots=True)
class _Room:
    log: RoomLog
    state: RoomState = field(default_factory=RoomState)
    presence: RoomPresence = field(default_factory=RoomPresence)
    listeners: list[RoomListener] = field(default_factory=list)
    hands: dict[str, User] = field(default_factory=dict)
    held: dict[str, HeldEntry] = field(default_factory=dict)
    held_client_ids: dict[tuple[str, str], HeldEntry] = field(default_factory=dict)
    """(sender, client_id) -> the held entry, as the log dedupes: per sender."""
    facilitators: set[str] = field(default_factory=set)
    """Everyone who has joined as a facilitator (the roster: ``facilitators``)."""
    alerts: dict[str, Alert] = field(default_factory=dict)
    audit: deque[AuditRecord] = field(default_factory=lambda: deque(maxlen=AUDIT_PER_ROOM))
    raids: dict[str, dict[str, int]] = field(default_factory=dict)
    """Raid key -> sender -> when they last sent it (ms)."""
    delivered: int = 0
    """The last offset handed to the listeners (a durable store delivers an entry only
    once it is written, so this may trail ``log.offset`` for a few milliseconds)."""
    presence_seq: int = 0
    """Counts the "joined" and "left" events published (``Delivery.seq``)."""


class MemoryBackend:
    name = "memory"

    def __init__(self, *, history_size: int = 1000) -> None:
        self._history_size = history_size
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        r = self._rooms.get(room)
        if r is None:
            r = _Room(RoomLog(secrets.token_hex(8), max_entries=self._history_size))
            self._rooms[room] = r
        return r

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._rooms.clear()

    async def ready(self) -> bool:
        return True

    async def append(
        self, room: str, entry: Entry, *, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        r = self._room(room)
        result = self._apply_append(r, entry, guard, now_ms)
        if not result.duplicate:
            self._deliver_logged(r, result.entry)
        return result

    def _apply_append(
        self, r: _Room, entry: Entry, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        """Dedupe, check the guard, give the offset, keep the entry and fold it into the
        state, with no await: atomic on the event loop. Delivery is the caller's."""
        if "kind" not in entry and entry["client_id"]:
            first = r.log.find_client_id(entry["user"]["id"], entry["client_id"])
            if first is not None:
                return AppendResult(first, duplicate=True)
        if guard is not None:
            refusal = check_post(r.state, guard.user_id, guard.role, now_ms)
            if refusal is not None:
                raise AppendRefused(refusal)
            if guard.raid is not None:
                senders = _count_raid(r.raids, guard.raid, guard.user_id, now_ms)
                if senders >= guard.raid.members:
                    raise RaidSuspected(senders)
        moved = "kind" in entry and entry.get("after", 0) != r.state.meeting_at
        if moved and entry.get("kind") in MEETING_KINDS:
            raise MeetingMoved()
        stored = r.log.append(entry)
        apply_event(r.state, stored, now_ms)
        return AppendResult(stored, duplicate=False)

    def _deliver_logged(self, r: _Room, stored: Entry) -> None:
        """Hand a logged entry to the room's listeners (in offset order, called once per
        entry)."""
        r.delivered = stored["offset"]
        self._deliver(r, Delivery(event_name(stored), stored, offset=stored["offset"]))

    async def find_client_id(
        self, room: str, user_id: str, client_id: str
    ) -> MessageEntry | HeldEntry | None:
        r = self._room(room)
        key = (user_id, client_id)
        return r.log.find_client_id(*key) or r.held_client_ids.get(key)

    async def read(self, room: str, since: Since | None, page: int) -> ReadResult:
        return self._room(room).log.read(since, page)

    async def snapshot(self, room: str, now_ms: int) -> RoomSnapshot:
        r = self._room(room)
        return RoomSnapshot(r.log.epoch, r.log.offset, _copy(r.state))

    async def enter(self, room: str, query: JoinQuery) -> JoinView:
        r = self._room(room)
        state = _copy(r.state)
        user = query.user
        if query.keep_out_removed and user["id"] in state.removed:
            empty = ReadResult(r.log.epoch, r.log.offset, False, [])
            return JoinView(state, empty, admitted=False, first=False)
        if user["role"] == FACILITATOR:
            r.facilitators.add(user["id"])
        first = r.presence.add(user, query.conn_id)
        members = r.presence.members()
        if first:
            self._announce(r, room, "joined", user)
        found: dict[str, MessageEntry | HeldEntry] = {}
        for client_id in query.client_ids:
            key = (user["id"], client_id)
            entry = r.log.find_client_id(*key) or r.held_client_ids.get(key)
            if entry is not None:
                found[client_id] = entry
        return JoinView(
            state,
            r.log.read(query.since, query.page),
            admitted=True,
            first=first,
            members=members,
            hands=list(r.hands.values()),
            holds=list(r.held.values()) if query.holds else [],
            alerts=_oldest_first(r.alerts) if query.alerts else [],
            found=found,
            presence_seq=r.presence_seq,
        )

    async def get_message(self, room: str, msg_id: str) -> MessageEntry | None:
        return self._room(room).log.get_message(msg_id)

    async def publish(self, room: str, delivery: Delivery) -> None:
        r = self._rooms.get(room)
        if r is not None:
            self._deliver(r, delivery)

    async def subscribe(self, room: str, listener: RoomListener) -> int:
        r = self._room(room)
        r.listeners.append(listener)
        return r.delivered

    async def subscribe_for_join(self, room: str, listener: RoomListener) -> int:
        return await self.subscribe(room, listener)

    async def unsubscribe(self, room: str, listener: RoomListener) -> None:
        r = self._rooms.get(room)
        if r is not None and listener in r.listeners:
            r.listeners.remove(listener)

    async def presence_add(self, room: str, user: User, conn_id: str) -> bool:
        return self._room(room).presence.add(user, conn_id)

    async def presence_remove(self, room: str, user_id: str, conn_id: str) -> bool:
        return self._room(room).presence.remove(user_id, conn_id)

    async def presence_members(self, room: str) -> list[User]:
        return self._room(room).presence.members()

    async def presence_leave(self, room: str, user: User, conn_id: str) -> Leaving:
        r = self._room(room)
        if not r.presence.remove(user["id"], conn_id):
            return Leaving(False)
        self._announce(r, room, "left", user)
        if user["id"] not in r.hands:
            return Leaving(True)
        return Leaving(True, await self.hands_set(room, user, False, 0))

    async def presence_announce_gone(self, room: str, users: list[User]) -> None:
        r = self._room(room)
        for user in users:
            self._announce(r, room, "left", user)

    def _announce(self, r: _Room, room: str, change: str, user: User) -> None:
        """A presence change, numbered (``Delivery.seq``), with the members now."""
        r.presence_seq += 1
        payload = {"room": room, change: user, "members": r.presence.members()}
        self._deliver(r, Delivery("presence", payload, seq=r.presence_seq))

    def on_presence_gone(self, handler: PresenceGone) -> None:
        """Presence here ends with its connection, never by expiry: nothing to report."""

    async def facilitators(self, room: str) -> frozenset[str]:
        return frozenset(self._room(room).facilitators)

    async def hands_set(self, room: str, user: User, raised: bool, now_ms: int) -> list[User]:
        hands = self._room(room).hands
        if raised:
            hands.setdefault(user["id"], user)  # dicts keep insertion order: the queue
        else:
            hands.pop(user["id"], None)
        return list(hands.values())

    async def hands_clear(self, room: str) -> None:
        self._room(room).hands.clear()

    async def hands_list(self, room: str) -> list[User]:
        return list(self._room(room).hands.values())

    async def hold_put(self, room: str, entry: HeldEntry) -> None:
        r = self._room(room)
        r.held[entry["id"]] = entry
        _drop_oldest(r.held, HELD_PER_ROOM)
        if entry["client_id"]:
            r.held_client_ids.setdefault((entry["user"]["id"], entry["client_id"]), entry)
            while len(r.held_client_ids) > HELD_CLIENT_IDS_PER_ROOM:
                del r.held_client_ids[next(iter(r.held_client_ids))]

    async def hold_take(self, room: str, msg_id: str) -> HeldEntry | None:
        return self._room(room).held.pop(msg_id, None)

    async def holds_list(self, room: str) -> list[HeldEntry]:
        return list(self._room(room).held.values())

    async def alert_put(self, room: str, alert: Alert) -> None:
        alerts = self._room(room).alerts
        alerts[alert["id"]] = alert
        _drop_oldest(alerts, ALERTS_PER_ROOM)

    async def alert_take(self, room: str, alert_id: str) -> Alert | None:
        return self._room(room).alerts.pop(alert_id, None)

    async def alerts_list(self, room: str) -> list[Alert]:
        return _oldest_first(self._room(room).alerts)

    async def audit_add(self, room: str, record: AuditRecord) -> None:
        self._room(room).audit.appendleft(record)

    async def audit_list(self, room: str, limit: int) -> list[AuditRecord]:
        return list(self._room(room).audit)[:limit]

    def _deliver(self, r: _Room, delivery: Delivery) -> None:
        # Synchronous: the entry reaches every local socket queue before append returns,
        # so offsets are delivered in order without a per-room task.
        for listener in list(r.listeners):
            try:
                listener(delivery)
            except Exception:
                log.exception("room listener failed")


def _copy(state: RoomState) -> RoomState:
    """A copy, so a caller holding it never sees later changes half-applied."""
    return replace(
        state,
        mutes=dict(state.mutes),
        pins=dict(state.pins),
        removed=set(state.removed),
        last_post_ms=dict(state.last_post_ms),
        agreed=dict(state.agreed),
        checkins=set(state.checkins),
        no_reactions=set(state.no_reactions),
        reactions={m: {k: list(v) for k, v in r.items()} for m, r in state.reactions.items()},
    )


def _oldest_first(alerts: dict[str, Alert]) -> list[Alert]:
    return sorted(alerts.values(), key=lambda a: (a.get("ts", 0), a.get("id", "")))


def _drop_oldest(items: dict[str, Any], cap: int) -> None:
    """Keep the newest ``cap`` items (by ``ts``, then id), as the Redis backend does."""
    while len(items) > cap:
        del items[min(items, key=lambda key: (items[key]["ts"], key))]


def _count_raid(
    raids: dict[str, dict[str, int]], raid: SharedRaid, user_id: str, now_ms: int
) -> int:
    """Record this sender of ``raid.key`` and count the senders within the window (as
    append.lua does). ``raids`` is kept in order of each key's latest copy, so texts whose
    window has passed are forgotten from the front: constant time per message."""
    since = now_ms - raid.window_ms
    while raids:
        oldest = next(iter(raids))
        if max(raids[oldest].values()) > since:
            break
        del raids[oldest]
    senders = raids.pop(raid.key, {})
    for sender in [s for s, at in senders.items() if at <= since]:
        del senders[sender]
    senders[user_id] = now_ms
    raids[raid.key] = senders  # re-inserted: now the newest
    return len(senders)
