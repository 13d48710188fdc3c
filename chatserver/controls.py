"""The control events for the transport, by name: each runs on the service's controls
flow (chatserver/service/controls.py), which holds the logic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chatserver.service import ChatService

Control = Callable[[ChatService, str, Any], Awaitable[dict[str, Any]]]

EVENTS = (
    "mute",
    "unmute",
    "remove",
    "readmit",
    "floor",
    "lock",
    "pause",
    "slow_mode",
    "pin",
    "unpin",
    "delete",
    "lower_hands",
    "review",
    "report",
    "audit",
    "dismiss_alert",
)


def _control(event: str) -> Control:
    async def run(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
        return await service.controls.handlers()[event](sid, data)

    return run


CONTROLS: dict[str, Control] = {event: _control(event) for event in EVENTS}
