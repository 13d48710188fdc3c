"""Alerts for a room's facilitators: raised, kept open, dismissed, caught up.

Every alert but a held message's (the held list is its record) stays open until a
facilitator dismisses it: one who joins or reconnects later still sees a crisis flagged
while they were away.
"""

from __future__ import annotations

from chatserver.backend import (
    FACILITATORS,
    Alert,
    BackendUnavailable,
    Delivery,
    ReviewStore,
    RoomBus,
    User,
)
from chatserver.ids import ids
from chatserver.service.clock import ServiceClock
from chatserver.service.delivery import Connection, LocalRooms


class Alerts:
    def __init__(
        self, review: ReviewStore, bus: RoomBus, rooms: LocalRooms, *, clock: ServiceClock
    ) -> None:
        self._review = review
        self._bus = bus
        self._rooms = rooms
        self._clock = clock

    async def raise_alert(self, room: str, alert: Alert) -> None:
        """Tell the room's facilitators (and keep it open, but for a held message's)."""
        if alert["kind"] != "held":
            alert = {**alert, "id": ids.next(), "ts": self._clock()}
            await self._review.alert_put(room, alert)
        await self._bus.publish(room, Delivery("alert", dict(alert), audience=FACILITATORS))

    async def dismiss(self, room: str, alert_ids: list[str], by: User) -> int:
        """Close open alerts for every facilitator; returns how many were still open."""
        closed = 0
        for alert_id in alert_ids:
            if await self._review.alert_take(room, alert_id) is None:
                continue  # another facilitator was first
            closed += 1
            dismissed: Alert = {"room": room, "kind": "dismissed", "id": alert_id, "by": by}
            await self._bus.publish(room, Delivery("alert", dict(dismissed), audience=FACILITATORS))
        return closed

    async def open_alerts(self, room: str) -> list[Alert]:
        return await self._review.alerts_list(room)

    async def catch_up(self, conn: Connection, room: str, sent: set[str]) -> None:
        """An alert raised while a facilitator was joining reached neither the join ack
        nor (not yet a member) the live stream: send it now. The client dedupes by id."""
        try:
            missed = [a for a in await self._review.alerts_list(room) if a.get("id") not in sent]
        except BackendUnavailable:
            return  # the next join (reconnect) lists them
        if room in conn.rooms:
            for alert in missed:
                self._rooms.send(conn, "alert", dict(alert))
