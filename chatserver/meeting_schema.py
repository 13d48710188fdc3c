"""The meeting's requests (docs/protocol.md, "Sessions, rounds and reactions") decoded into
typed values: every shape problem is an ``invalid_payload`` naming the field, as in
chatserver/schema.py, whose helpers these use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatserver.errors import INVALID_PAYLOAD, ServiceError
from chatserver.schema import _bool, _is_int_in, _object, _room
from rooms.entries import REACTIONS
from rooms.meeting import (
    HISTORY,
    MAX_GUIDELINES_CHARS,
    MAX_NAME_CHARS,
    MAX_PHASE_S,
    MAX_PHASES,
    MAX_PROMPT_CHARS,
    MAX_ROUND_NAME_CHARS,
    MAX_SHARE_S,
    ROUND_NAMES,
    STATUSES,
    Phase,
)

ROUND_ORDERS = ("join", "shuffled")
MAX_SUPPORT_NOTE_CHARS = 300


@dataclass(frozen=True, slots=True)
class AgendaRequest:
    """session_start {room, agenda?} and agenda {room, agenda}."""

    room: str
    agenda: list[Phase] | None


@dataclass(frozen=True, slots=True)
class RoundRequest:
    room: str
    name: str
    shuffled: bool
    share_s: int


@dataclass(frozen=True, slots=True)
class ReactRequest:
    room: str
    msg_id: str
    reaction: str
    on: bool


@dataclass(frozen=True, slots=True)
class WinRequest:
    room: str
    msg_id: str
    on: bool


def _text(obj: dict[str, Any], key: str, limit: int, *, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or len(value) > limit:
        raise ServiceError(INVALID_PAYLOAD, f"`{key}` must be text of at most {limit} characters.")
    return value.strip()


def _agenda(raw: object) -> list[Phase]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_PHASES:
        raise ServiceError(INVALID_PAYLOAD, f"`agenda` must list 1 to {MAX_PHASES} phases.")
    agenda: list[Phase] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ServiceError(INVALID_PAYLOAD, "Each phase must be {name, prompt, length_s}.")
        name = _text(item, "name", MAX_NAME_CHARS)
        if not name:
            raise ServiceError(INVALID_PAYLOAD, "Each phase needs a `name`.")
        length = item.get("length_s", 0)
        if not _is_int_in(length, 0, MAX_PHASE_S):
            raise ServiceError(
                INVALID_PAYLOAD, f"`length_s` must be 0 (until moved on) to {MAX_PHASE_S}."
            )
        prompt = _text(item, "prompt", MAX_PROMPT_CHARS, default="")
        agenda.append({"name": name, "prompt": prompt, "length_s": length})
    return agenda


def parse_agenda(data: Any, *, optional: bool) -> AgendaRequest:
    obj = _object(data)
    room = _room(obj)
    raw = obj.get("agenda")
    if raw is None and optional:
        return AgendaRequest(room, None)
    return AgendaRequest(room, _agenda(raw))


def parse_guidelines(data: Any) -> tuple[str, str]:
    obj = _object(data)
    room = _room(obj)
    text = _text(obj, "text", MAX_GUIDELINES_CHARS)
    if not text:
        raise ServiceError(INVALID_PAYLOAD, "The group agreement cannot be empty.")
    return room, text


def parse_history(data: Any) -> tuple[str, str]:
    obj = _object(data)
    room = _room(obj)
    mode = obj.get("mode")
    if mode not in HISTORY:
        raise ServiceError(INVALID_PAYLOAD, f"`mode` must be one of {', '.join(sorted(HISTORY))}.")
    return room, str(mode)


def parse_round(data: Any) -> RoundRequest:
    obj = _object(data)
    room = _room(obj)
    name = _text(obj, "name", MAX_ROUND_NAME_CHARS, default="check_in")
    name = ROUND_NAMES.get(name, name) or ROUND_NAMES["check_in"]
    order = obj.get("order", "join")
    if order not in ROUND_ORDERS:
        raise ServiceError(INVALID_PAYLOAD, "`order` must be 'join' or 'shuffled'.")
    share_s = obj.get("share_s", 120)
    if not _is_int_in(share_s, 0, MAX_SHARE_S):
        raise ServiceError(
            INVALID_PAYLOAD, f"`share_s` must be 0 (no limit) to {MAX_SHARE_S} seconds."
        )
    return RoundRequest(room, name, order == "shuffled", share_s)


def _msg_id(obj: dict[str, Any]) -> str:
    msg_id = obj.get("id")
    if not isinstance(msg_id, str) or not 0 < len(msg_id) <= 64 or "\t" in msg_id:
        raise ServiceError(INVALID_PAYLOAD, "`id` must be a message id.")
    return msg_id


def parse_react(data: Any) -> ReactRequest:
    obj = _object(data)
    room = _room(obj)
    reaction = obj.get("reaction")
    if reaction not in REACTIONS:
        raise ServiceError(
            INVALID_PAYLOAD, f"`reaction` must be one of {', '.join(sorted(REACTIONS))}."
        )
    on = True if obj.get("on") is None else _bool(obj, "on")
    return ReactRequest(room, _msg_id(obj), str(reaction), on)


def parse_win(data: Any) -> WinRequest:
    obj = _object(data)
    room = _room(obj)
    on = True if obj.get("on") is None else _bool(obj, "on")
    return WinRequest(room, _msg_id(obj), on)


def parse_status(data: Any) -> tuple[str, str | None]:
    obj = _object(data)
    room = _room(obj)
    status = obj.get("status")
    if status is not None and status not in STATUSES:
        raise ServiceError(
            INVALID_PAYLOAD, f"`status` must be one of {', '.join(STATUSES)}, or null to clear."
        )
    return room, status


def parse_support(data: Any) -> tuple[str, str]:
    obj = _object(data)
    room = _room(obj)
    return room, _text(obj, "text", MAX_SUPPORT_NOTE_CHARS, default="")
