"""Every error code the server can send, in one place, with plain words for each.

An error ack is ``{"ok": false, "error": {"code", "message"}}`` (DESIGN §3). The server
always sends a ``message`` in plain words for the situation; ``TEXT`` is what a client
shows for a code when it has none of its own, and the web client keeps a copy of these
texts (tests/test_error_codes.py holds it to this list). The codes live here, in the pure
package, because the room rules (rooms/policy.py) refuse with them; chatserver/errors.py
re-exports them for the service and the transport, and moderation's ``BLOCK_CODES`` is
the subset a moderation stage may refuse with.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

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
SESSION_ENDED: Final = "session_ended"
AGREEMENT_REQUIRED: Final = "agreement_required"
NOT_YOUR_TURN: Final = "not_your_turn"
NO_SESSION: Final = "no_session"
NOT_REACTABLE: Final = "not_reactable"

TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        UNAUTHORIZED: "Your link has expired or is not valid. Ask your facilitator for a new one.",
        FORBIDDEN: "You can't do that in this room.",
        NOT_IN_ROOM: "You're not in this room right now. Rejoin it and try again.",
        INVALID_PAYLOAD: "Something went wrong sending that. Please try again.",
        TOO_LONG: "That message is too long. Please shorten it or split it in two.",
        RATE_LIMITED: "You're sending messages quickly. Please wait a moment, then send again.",
        SLOW_MODE: "Slow mode is on. Please wait a little before your next message.",
        MUTED: "A facilitator has muted you. You can still read along.",
        ROOM_LOCKED: "Only facilitators can post right now.",
        BLOCKED: "That message can't be posted here.",
        DUPLICATE: "You've just sent that message.",
        UNAVAILABLE: "The chat is briefly unavailable. Please try again in a moment.",
        SESSION_ENDED: "This session has ended. The room opens again at the next session.",
        AGREEMENT_REQUIRED: "Please read and accept the group agreement before you post.",
        NOT_YOUR_TURN: "It's someone else's turn in the round. You can still react.",
        NO_SESSION: "That needs a session to be running.",
        NOT_REACTABLE: "Reactions are off for that message.",
    }
)
"""Plain words for each code, for a client that has no message of its own to show."""

CODES: Final = frozenset(TEXT)
