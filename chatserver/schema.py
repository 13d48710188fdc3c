"""Decoding and validating client payloads into typed requests.

Anything a client can send arrives here first; every shape problem becomes an
``invalid_payload`` (or ``too_long``) error naming the field, so the service code below
only ever sees well-formed requests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from chatserver.auth import ROOM_ID
from chatserver.errors import INVALID_PAYLOAD, TOO_LONG, ServiceError
from rooms.recovery import Since

MAX_OFFSET = 2**53 - 1  # the largest integer a JavaScript client holds exactly
MAX_CLIENT_ID_LENGTH = 64


@dataclass(frozen=True, slots=True)
class JoinRequest:
    room: str
    since: Since | None


@dataclass(frozen=True, slots=True)
class MessageRequest:
    room: str
    text: str
    client_id: str


@dataclass(frozen=True, slots=True)
class RoomRequest:
    room: str


@dataclass(frozen=True, slots=True)
class FlagRequest:
    """typing {room, active} and hand {room, raised}."""

    room: str
    value: bool


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ServiceError(INVALID_PAYLOAD, "The payload must be an object.")
    return data


def _room(data: dict[str, Any]) -> str:
    room = data.get("room")
    if not isinstance(room, str) or not ROOM_ID.fullmatch(room):
        raise ServiceError(INVALID_PAYLOAD, "`room` must be a room id (letters, digits, _ . : -).")
    return room


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise ServiceError(INVALID_PAYLOAD, f"`{key}` must be true or false.")
    return value


def parse_join(data: Any) -> JoinRequest:
    obj = _object(data)
    room = _room(obj)
    raw = obj.get("since")
    if raw is None:
        return JoinRequest(room, None)
    if not isinstance(raw, dict):
        raise ServiceError(INVALID_PAYLOAD, "`since` must be {offset, epoch}.")
    offset, epoch = raw.get("offset"), raw.get("epoch")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ServiceError(INVALID_PAYLOAD, "`since.offset` must be a non-negative integer.")
    if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
        raise ServiceError(INVALID_PAYLOAD, "`since.epoch` must be the epoch string from the room.")
    return JoinRequest(room, Since(offset=offset, epoch=epoch))


def parse_message(data: Any, max_chars: int) -> MessageRequest:
    obj = _object(data)
    room = _room(obj)
    text = obj.get("text")
    if not isinstance(text, str):
        raise ServiceError(INVALID_PAYLOAD, "`text` must be a string.")
    # The pipeline's shape stage gives the friendly verdict; this guard stops a huge
    # string from being normalised at all.
    if len(text) > max_chars * 2:
        raise ServiceError(TOO_LONG, f"Messages can be at most {max_chars} characters.")
    client_id = obj.get("client_id")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        raise ServiceError(INVALID_PAYLOAD, "`client_id` must be a UUID string.")
    try:
        # One spelling per UUID, so a retry dedupes however the client formats it.
        canonical = str(uuid.UUID(client_id))
    except ValueError:
        raise ServiceError(INVALID_PAYLOAD, "`client_id` must be a UUID string.") from None
    return MessageRequest(room, text, canonical)


def parse_room(data: Any) -> RoomRequest:
    return RoomRequest(_room(_object(data)))


def parse_flag(data: Any, key: str) -> FlagRequest:
    obj = _object(data)
    return FlagRequest(_room(obj), _bool(obj, key))
