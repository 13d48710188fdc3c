"""A pure rule's refusal (rooms/policy.py, rooms/signals.py) as the error ack it becomes."""

from __future__ import annotations

import time

from chatserver.errors import ServiceError
from rooms.policy import Refusal
from rooms.signals import SignalLimiter


def refusal_error(refusal: Refusal) -> ServiceError:
    return ServiceError(refusal.code, refusal.message, retry_after_s=refusal.retry_after_s)


def refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise refusal_error(refusal)


def signal_allowed(
    signals: SignalLimiter, kind: str, room: str, user_id: str, on: bool | None = None
) -> bool:
    """Whether a typing, hand or report signal goes out (rooms/signals.py); over the
    member's limit it is refused with ``rate_limited`` and nothing is sent."""
    decision = signals.check(kind, room, user_id, time.monotonic(), on)
    refuse(decision.refusal)
    return decision.send
