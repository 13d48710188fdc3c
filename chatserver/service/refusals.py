"""A pure rule's refusal (rooms/policy.py) as the error ack it becomes."""

from __future__ import annotations

from chatserver.errors import ServiceError
from rooms.policy import Refusal


def refusal_error(refusal: Refusal) -> ServiceError:
    return ServiceError(refusal.code, refusal.message, retry_after_s=refusal.retry_after_s)


def refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise refusal_error(refusal)
