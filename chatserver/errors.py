"""Error acks: ``{"ok": false, "error": {"code", "message"}}``.

The codes themselves are registered in rooms/codes.py (the one list, with plain words for
each); they are re-exported here for the service and the transport.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from rooms.codes import (
    BLOCKED,
    CODES,
    INVALID_PAYLOAD,
    NOT_IN_ROOM,
    TOO_LONG,
    UNAUTHORIZED,
    UNAVAILABLE,
)

__all__ = [
    "BLOCKED",
    "INVALID_PAYLOAD",
    "NOT_IN_ROOM",
    "TOO_LONG",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "ServiceError",
]


class ErrorBody(TypedDict):
    code: str
    """One of rooms/codes.py."""
    message: str
    """For people: what happened and what to do."""
    retry_after_s: NotRequired[float]


class ErrorAck(TypedDict):
    ok: Literal[False]
    error: ErrorBody


class ServiceError(Exception):
    """A request that cannot be carried out; becomes an error ack, never a crash."""

    def __init__(self, code: str, message: str, *, retry_after_s: float | None = None) -> None:
        if code not in CODES:
            # A typo'd code would reach clients as words nobody wrote: fail where it is made.
            raise ValueError(f"unregistered error code {code!r} (see rooms/codes.py)")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    def ack(self) -> ErrorAck:
        error: ErrorBody = {"code": self.code, "message": self.message}
        if self.retry_after_s is not None:
            error["retry_after_s"] = round(self.retry_after_s, 3)
        return {"ok": False, "error": error}
