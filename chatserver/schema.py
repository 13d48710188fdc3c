"""Decoding and validating client payloads into typed requests.

Anything a client can send arrives here first; every shape problem becomes an
``invalid_payload`` (or ``too_long``) error naming the field, so the service code below
only ever sees well-formed requests.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeGuard

from chatserver.auth import ROOM_ID
from chatserver.errors import INVALID_PAYLOAD, TOO_LONG, ServiceError
from rooms.recovery import Since

MAX_OFFSET = 2**53 - 1  # the largest integer a JavaScript client holds exactly
MAX_CLIENT_ID_LENGTH = 64
# A UUID already in its canonical spelling (what the web client sends): taken as it is,
# without building a UUID object for every message.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_HELD_QUERY = 30  # own held messages a join may ask about


@dataclass(frozen=True, slots=True)
class JoinRequest:
    room: str
    since: Since | None
    held: tuple[tuple[str, str], ...] = ()
    """Own held messages the client still shows as waiting: (client_id as sent, canonical)."""


@dataclass(frozen=True, slots=True)
class MessageRequest:
    room: str
    text: str
    client_id: str
    thread: str | None = None
    """A private check-in's member (docs/protocol.md); None: the room."""


@dataclass(frozen=True, slots=True)
class RoomRequest:
    room: str


@dataclass(frozen=True, slots=True)
class FlagRequest:
    """typing {room, active} and hand {room, raised}."""

    room: str
    value: bool


# A payload's strings and containers walked for valid text, at most: far more than any
# request has (a join with 30 held ids is ~35), so the walk is bounded whatever is sent.
MAX_PAYLOAD_ITEMS = 1000


def _object(data: Any, *, repaired: str | None = None) -> dict[str, Any]:
    """The payload as an object whose every string (keys and values, at any depth) is
    valid Unicode text. JSON can carry a lone surrogate (``"\\ud800"``), which no UTF-8
    encoder takes: refused here, naming the field, before it could reach Redis, msgpack
    or another member. ``repaired`` names the one top-level field left to the moderation
    pipeline instead (a message's ``text``: its shape stage removes lone surrogates, so a
    member's words still go through)."""
    if not isinstance(data, dict):
        raise ServiceError(INVALID_PAYLOAD, "The payload must be an object.")
    if type(data) is dict and len(data) < MAX_PAYLOAD_ITEMS - 1 and _flat_text(data, repaired):
        return data  # the usual request: what the walk below would return
    stack: list[tuple[str, Any]] = [("", data)]
    seen = 0
    while stack:
        path, value = stack.pop()
        seen += 1
        if seen > MAX_PAYLOAD_ITEMS:
            raise ServiceError(INVALID_PAYLOAD, "The payload has too many parts.")
        if isinstance(value, str):
            if not _is_text(value):
                raise ServiceError(
                    INVALID_PAYLOAD,
                    f"`{_shown(path)}` must be valid text (it has a broken character).",
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not _is_text(key):
                    where = f"`{_shown(path)}`" if path else "the payload"
                    raise ServiceError(
                        INVALID_PAYLOAD, f"A field name in {where} is not valid text."
                    )
                if not (path == "" and key == repaired):
                    stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return data


def _flat_text(data: dict[str, Any], repaired: str | None) -> bool:
    """Whether ``data`` is a flat object (no object or list inside) whose keys and
    strings are all valid text, ``repaired`` left out: then ``_object`` has nothing to
    refuse, and this answers without building a path name per field. False also for
    anything the walk must look at (it names the field it refuses)."""
    for key, value in data.items():
        if isinstance(key, str) and not (key.isascii() or _is_text(key)):
            return False
        if key == repaired:
            continue
        kind = type(value)
        if kind is str:
            if not (value.isascii() or _is_text(value)):
                return False
        elif kind is dict or kind is list or isinstance(value, (dict, list, str)):
            return False
    return True


def _shown(path: str) -> str:
    """A field's path as an error names it (a client chooses the names: kept short)."""
    return path if len(path) <= 60 else path[:57] + "..."


def _is_text(value: str) -> bool:
    """No lone surrogates: the string can be encoded as UTF-8."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def _is_int_in(value: object, lo: int, hi: int) -> TypeGuard[int]:
    """A JSON integer (not a boolean) within [lo, hi]."""
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _client_id(value: object, field: str) -> str:
    """A client_id in its one canonical spelling (a UUID), as ``message`` stores it."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CLIENT_ID_LENGTH:
        raise ServiceError(INVALID_PAYLOAD, f"`{field}` must be a UUID string.")
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        # One spelling per UUID, so a retry dedupes however the client formats it.
        return str(uuid.UUID(value))
    except ValueError:
        raise ServiceError(INVALID_PAYLOAD, f"`{field}` must be a UUID string.") from None


def _held(obj: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    raw = obj.get("held")
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_HELD_QUERY:
        raise ServiceError(
            INVALID_PAYLOAD, f"`held` must be a list of at most {MAX_HELD_QUERY} client_ids."
        )
    held: dict[str, str] = {}
    for value in raw:
        canonical = _client_id(value, "held[]")
        held.setdefault(value, canonical)  # a repeated client_id is asked about once
    return tuple(held.items())


def parse_join(data: Any) -> JoinRequest:
    obj = _object(data)
    room = _room(obj)
    held = _held(obj)
    raw = obj.get("since")
    if raw is None:
        return JoinRequest(room, None, held)
    if not isinstance(raw, dict):
        raise ServiceError(INVALID_PAYLOAD, "`since` must be {offset, epoch}.")
    offset, epoch = raw.get("offset"), raw.get("epoch")
    if not _is_int_in(offset, 0, MAX_OFFSET):
        raise ServiceError(INVALID_PAYLOAD, "`since.offset` must be a non-negative integer.")
    if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
        raise ServiceError(INVALID_PAYLOAD, "`since.epoch` must be the epoch string from the room.")
    return JoinRequest(room, Since(offset=offset, epoch=epoch), held)


def parse_message(data: Any, max_chars: int) -> MessageRequest:
    obj = _object(data, repaired="text")
    room = _room(obj)
    text = obj.get("text")
    if not isinstance(text, str):
        raise ServiceError(INVALID_PAYLOAD, "`text` must be a string.")
    # The pipeline's shape stage gives the friendly verdict; this guard stops a huge
    # string from being normalised at all.
    if len(text) > max_chars * 2:
        raise ServiceError(TOO_LONG, f"Messages can be at most {max_chars} characters.")
    thread = obj.get("thread")
    if thread is not None and (not isinstance(thread, str) or not 0 < len(thread) <= 128):
        raise ServiceError(INVALID_PAYLOAD, "`thread` must be a member's user id, or left out.")
    return MessageRequest(room, text, _client_id(obj.get("client_id"), "client_id"), thread)


def parse_room(data: Any) -> RoomRequest:
    return RoomRequest(_room(_object(data)))


def parse_flag(data: Any, key: str) -> FlagRequest:
    obj = _object(data)
    return FlagRequest(_room(obj), _bool(obj, key))


MAX_REASON_LENGTH = 300
MAX_MUTE_S = 7 * 24 * 3600
MAX_SLOW_MODE_S = 3600
MAX_AUDIT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class TargetRequest:
    """mute / unmute / remove / readmit / floor: a facilitator acting on a member."""

    room: str
    user_id: str | None
    duration_s: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class MessageRefRequest:
    """pin / unpin / delete / report / review: acting on one message."""

    room: str
    msg_id: str
    reason: str
    approve: bool


def _reason(obj: dict[str, Any]) -> str:
    reason = obj.get("reason", "")
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise ServiceError(
            INVALID_PAYLOAD, f"`reason` must be text of at most {MAX_REASON_LENGTH} characters."
        )
    return reason.strip()


def _user_id(obj: dict[str, Any], *, optional: bool = False) -> str | None:
    user_id = obj.get("user_id")
    if user_id is None and optional:
        return None
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 128:
        raise ServiceError(INVALID_PAYLOAD, "`user_id` must be a user id.")
    return user_id


def parse_target(data: Any, *, optional_user: bool = False) -> TargetRequest:
    obj = _object(data)
    room = _room(obj)
    duration = obj.get("duration_s")
    if duration is not None and not _is_int_in(duration, 1, MAX_MUTE_S):
        raise ServiceError(
            INVALID_PAYLOAD, f"`duration_s` must be 1 to {MAX_MUTE_S} seconds, or left out."
        )
    return TargetRequest(room, _user_id(obj, optional=optional_user), duration, _reason(obj))


def parse_message_ref(data: Any, *, approve: bool = False) -> MessageRefRequest:
    obj = _object(data)
    room = _room(obj)
    msg_id = obj.get("id")
    if not isinstance(msg_id, str) or not 0 < len(msg_id) <= 64:
        raise ServiceError(INVALID_PAYLOAD, "`id` must be a message id.")
    decision = False
    if approve:
        decision = _bool(obj, "approve")
    return MessageRefRequest(room, msg_id, _reason(obj), decision)


def parse_seconds(data: Any) -> tuple[str, int]:
    """slow_mode {room, seconds}: 0 turns it off."""
    obj = _object(data)
    room = _room(obj)
    seconds = obj.get("seconds")
    if not _is_int_in(seconds, 0, MAX_SLOW_MODE_S):
        raise ServiceError(INVALID_PAYLOAD, f"`seconds` must be 0 (off) to {MAX_SLOW_MODE_S}.")
    return room, seconds


def parse_limit(data: Any) -> tuple[str, int]:
    obj = _object(data)
    room = _room(obj)
    limit = obj.get("limit", 100)
    if not _is_int_in(limit, 1, MAX_AUDIT_LIMIT):
        raise ServiceError(INVALID_PAYLOAD, f"`limit` must be 1 to {MAX_AUDIT_LIMIT}.")
    return room, limit
