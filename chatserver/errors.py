"""Error acks: ``{"ok": false, "error": {"code", "message"}}`` with the DESIGN §3 codes."""

from __future__ import annotations

from typing import Any, Final

UNAUTHORIZED: Final = "unauthorized"
FORBIDDEN: Final = "forbidden"
NOT_IN_ROOM: Final = "not_in_room"
INVALID_PAYLOAD: Final = "invalid_payload"
TOO_LONG: Final = "too_long"
RATE_LIMITED: Final = "rate_limited"
SLOW_MODE: Final = "slow_mode"
MUTED: Final = "muted"
ROOM_LOCKED: Final = "room_locked"
BLOCKED: Final = "blocked"
DUPLICATE: Final = "duplicate"
UNAVAILABLE: Final = "unavailable"


class ServiceError(Exception):
    """A request that cannot be carried out; becomes an error ack, never a crash."""

    def __init__(self, code: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    def ack(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after_s is not None:
            error["retry_after_s"] = round(self.retry_after_s, 3)
        return {"ok": False, "error": error}
