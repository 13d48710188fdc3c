"""Decoding the group space's requests (docs/protocol.md, "Group space"): every shape
problem is an ``invalid_payload`` (or ``too_long``) error naming the field."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from chatserver.errors import INVALID_PAYLOAD, TOO_LONG, ServiceError
from chatserver.schema import parse_room
from chatserver.space.records import GOAL_ANSWERS, RESOURCE_TAGS, GoalAnswer

MAX_GOAL_CHARS = 300
MAX_NOTE_CHARS = 500
MAX_TITLE_CHARS = 120
MAX_URL_CHARS = 500
MAX_TAGS = 5
MAX_ID_CHARS = 64
DAY_MS = 86_400_000
LATEST_NEXT_SESSION_DAYS = 400


@dataclass(frozen=True, slots=True)
class GoalRequest:
    room: str
    text: str
    shared: bool


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    room: str
    goal_id: str
    answer: GoalAnswer
    note: str


@dataclass(frozen=True, slots=True)
class RefRequest:
    """win_keep {room, msg_id}; win_withdraw / win_take_down / resource_remove {room, id}."""

    room: str
    ref: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    room: str
    title: str
    url: str
    note: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    room: str
    resource_id: str
    approve: bool


@dataclass(frozen=True, slots=True)
class NextSessionRequest:
    room: str
    starts_at_ms: int | None
    """None clears it."""
    time_zone: str


def _fields(data: object) -> tuple[str, dict[str, Any]]:
    room = parse_room(data).room  # also checks every string in it is valid text
    assert isinstance(data, dict)  # parse_room refused anything else
    return room, data


def _text(obj: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str:
    value = obj.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ServiceError(INVALID_PAYLOAD, f"`{key}` must be some text.")
    if len(value) > limit:
        raise ServiceError(TOO_LONG, f"`{key}` can be at most {limit} characters.")
    return value.strip()


def _id(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise ServiceError(INVALID_PAYLOAD, f"`{key}` must be an id.")
    return value


def parse_goal(data: object) -> GoalRequest:
    room, obj = _fields(data)
    shared = obj.get("shared", False)
    if not isinstance(shared, bool):
        raise ServiceError(INVALID_PAYLOAD, "`shared` must be true or false.")
    return GoalRequest(room, _text(obj, "text", MAX_GOAL_CHARS), shared)


def parse_answer(data: object) -> AnswerRequest:
    room, obj = _fields(data)
    answer = obj.get("answer")
    if answer not in GOAL_ANSWERS:
        raise ServiceError(INVALID_PAYLOAD, f"`answer` must be one of {', '.join(GOAL_ANSWERS)}.")
    note = _text(obj, "note", MAX_NOTE_CHARS, required=False)
    return AnswerRequest(room, _id(obj, "id"), answer, note)


def parse_ref(data: object, key: str = "id") -> RefRequest:
    room, obj = _fields(data)
    return RefRequest(room, _id(obj, key), _text(obj, "reason", MAX_NOTE_CHARS, required=False))


def parse_resource(data: object) -> ResourceRequest:
    room, obj = _fields(data)
    tags = obj.get("tags", [])
    if (
        not isinstance(tags, list)
        or len(tags) > MAX_TAGS
        or any(tag not in RESOURCE_TAGS for tag in tags)
    ):
        raise ServiceError(
            INVALID_PAYLOAD, f"`tags` must be up to {MAX_TAGS} of: {', '.join(RESOURCE_TAGS)}."
        )
    return ResourceRequest(
        room,
        _text(obj, "title", MAX_TITLE_CHARS),
        _text(obj, "url", MAX_URL_CHARS),
        _text(obj, "note", MAX_NOTE_CHARS, required=False),
        tuple(dict.fromkeys(tags)),
    )


def parse_review(data: object) -> ReviewRequest:
    room, obj = _fields(data)
    approve = obj.get("approve")
    if not isinstance(approve, bool):
        raise ServiceError(INVALID_PAYLOAD, "`approve` must be true or false.")
    return ReviewRequest(room, _id(obj, "id"), approve)


def parse_next_session(data: object, now_ms: int) -> NextSessionRequest:
    room, obj = _fields(data)
    starts = obj.get("starts_at_ms")
    if starts is None:
        return NextSessionRequest(room, None, "")
    latest = now_ms + LATEST_NEXT_SESSION_DAYS * DAY_MS
    if (
        not isinstance(starts, int)
        or isinstance(starts, bool)
        or not now_ms - DAY_MS <= starts <= latest
    ):
        raise ServiceError(
            INVALID_PAYLOAD,
            "`starts_at_ms` must be a time (ms since 1970) from yesterday to about a year ahead.",
        )
    zone = obj.get("time_zone")
    if not isinstance(zone, str) or not _is_zone(zone):
        raise ServiceError(
            INVALID_PAYLOAD, "`time_zone` must be a time zone such as Europe/London."
        )
    return NextSessionRequest(room, starts, zone)


def _is_zone(name: str) -> bool:
    if not 0 < len(name) <= 64 or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
