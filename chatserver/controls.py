"""Facilitator controls and member reports (issue 5), on top of the chat service.

Every control is checked by the pure rules in rooms/policy.py (the role comes from the
token only), logged as a room event with an offset through the backend's atomic append
(so every worker applies it at once and recovery replays it), and written to the room's
audit trail: who did what, when — never message text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from chatserver import errors
from chatserver.backend import FACILITATORS, USER_AUDIENCE, AuditRecord, Delivery
from chatserver.errors import ServiceError
from chatserver.schema import (
    parse_flag,
    parse_limit,
    parse_message_ref,
    parse_room,
    parse_seconds,
    parse_target,
)
from chatserver.service import ChatService, Connection, refuse
from rooms.entries import message_entry, room_event
from rooms.policy import check_moderate, check_target

Control = Callable[[ChatService, str, Any], Awaitable[dict[str, Any]]]


def _facilitator(service: ChatService, sid: str, room: str) -> tuple[Connection, dict[str, str]]:
    conn = service.connection(sid)
    if room not in conn.rooms:
        # Checked before the role so a member learns nothing about other rooms.
        raise ServiceError(errors.NOT_IN_ROOM, "Join the room first.")
    user = conn.claims.user(room)
    refuse(check_moderate(user["role"]))
    return conn, user


async def _target(service: ChatService, room: str, user_id: str) -> dict[str, str] | None:
    """The member as others see them, when present (so events can name them)."""
    for member in await service.backend.presence_members(room):
        if member["id"] == user_id:
            return member
    return None


async def _log(
    service: ChatService,
    room: str,
    actor: dict[str, str],
    kind: str,
    audit: dict[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    now = service.clock()
    entry = room_event(room=room, kind=kind, by=actor, ts=now, **fields)
    result = await service.backend.append(room, entry, guard=None, now_ms=now)
    record = {"ts": now, "by": actor, "action": kind, "offset": result.entry["offset"], **audit}
    await service.backend.audit_add(room, cast(AuditRecord, record))
    return {"ok": True, "offset": result.entry["offset"]}


async def _acting_on_member(
    service: ChatService, sid: str, data: Any, *, optional_user: bool = False
) -> tuple[str, dict[str, str], str | None, int | None, str, dict[str, Any]]:
    """Parse and authorise a control aimed at a member; the last item names the member
    for the event (``{"user": {id, name, role}}`` when they are present)."""
    req = parse_target(data, optional_user=optional_user)
    _, actor = _facilitator(service, sid, req.room)
    named: dict[str, Any] = {}
    if req.user_id is not None:
        target = await _target(service, req.room, req.user_id)
        refuse(check_target(actor["id"], req.user_id, target["role"] if target else None))
        if target is not None:
            named["user"] = target
    return req.room, actor, req.user_id, req.duration_s, req.reason, named


async def mute(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    room, actor, user_id, duration_s, reason, named = await _acting_on_member(service, sid, data)
    until = None if duration_s is None else service.clock() + duration_s * 1000
    audit = {"user_id": user_id, "duration_s": duration_s, "reason": reason}
    return await _log(
        service, room, actor, "muted", audit, user_id=user_id, until=until, reason=reason, **named
    )


async def unmute(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    room, actor, user_id, _, _, named = await _acting_on_member(service, sid, data)
    audit = {"user_id": user_id}
    return await _log(service, room, actor, "unmuted", audit, user_id=user_id, **named)


async def remove(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    room, actor, user_id, _, reason, named = await _acting_on_member(service, sid, data)
    audit = {"user_id": user_id, "reason": reason}
    return await _log(
        service, room, actor, "removed", audit, user_id=user_id, reason=reason, **named
    )


async def readmit(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    room, actor, user_id, _, _, named = await _acting_on_member(service, sid, data)
    audit = {"user_id": user_id}
    return await _log(service, room, actor, "readmitted", audit, user_id=user_id, **named)


async def floor(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    """Give the floor to one member (``user_id``), or take it back (``user_id: null``)."""
    room, actor, user_id, _, _, named = await _acting_on_member(
        service, sid, data, optional_user=True
    )
    return await _log(service, room, actor, "floor", {"user_id": user_id}, user_id=user_id, **named)


async def lock(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    req = parse_flag(data, "locked")
    _, actor = _facilitator(service, sid, req.room)
    return await _log(service, req.room, actor, "locked", {"locked": req.value}, locked=req.value)


async def pause(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    req = parse_flag(data, "paused")
    _, actor = _facilitator(service, sid, req.room)
    return await _log(service, req.room, actor, "paused", {"paused": req.value}, paused=req.value)


async def slow_mode(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    room, seconds = parse_seconds(data)
    _, actor = _facilitator(service, sid, room)
    audit = {"slow_mode_s": seconds}
    return await _log(service, room, actor, "slow_mode", audit, slow_mode_s=seconds)


async def _existing_message(service: ChatService, room: str, msg_id: str) -> dict[str, Any]:
    entry = await service.backend.get_message(room, msg_id)
    if entry is None:
        raise ServiceError(errors.INVALID_PAYLOAD, "That message is not in the room's history.")
    return entry


async def pin(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    req = parse_message_ref(data)
    _, actor = _facilitator(service, sid, req.room)
    entry = await _existing_message(service, req.room, req.msg_id)
    return await _log(
        service, req.room, actor, "pinned", {"id": req.msg_id}, id=req.msg_id, entry=entry
    )


async def unpin(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    req = parse_message_ref(data)
    _, actor = _facilitator(service, sid, req.room)
    return await _log(service, req.room, actor, "unpinned", {"id": req.msg_id}, id=req.msg_id)


async def delete(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    req = parse_message_ref(data)
    _, actor = _facilitator(service, sid, req.room)
    entry = await _existing_message(service, req.room, req.msg_id)
    audit = {"id": req.msg_id, "user_id": entry["user"]["id"], "reason": req.reason}
    result = await _log(
        service, req.room, actor, "deleted", audit, id=req.msg_id, reason=req.reason
    )
    # Reports about it are dealt with. (A crisis alert is not: its author may still need
    # someone to check in with them.)
    reports = [
        alert["id"]
        for alert in await service.backend.alerts_list(req.room)
        if alert["kind"] == "report" and (alert.get("entry") or {}).get("id") == req.msg_id
    ]
    await service.dismiss_alerts(req.room, reports, actor)
    return result


async def lower_hands(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    req = parse_room(data)
    _, actor = _facilitator(service, sid, req.room)
    await service.backend.hands_clear(req.room)
    await service.backend.publish(
        req.room, Delivery("hand", {"room": req.room, "cleared": True, "by": actor, "hands": []})
    )
    await service.backend.audit_add(
        req.room, {"ts": service.clock(), "by": actor, "action": "hands_lowered"}
    )
    return {"ok": True}


async def review(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    """Approve (deliver to all, logged) or deny (the sender is told privately) a held message."""
    req = parse_message_ref(data, approve=True)
    _, actor = _facilitator(service, sid, req.room)
    held = await service.backend.hold_take(req.room, req.msg_id)
    if held is None:
        raise ServiceError(errors.INVALID_PAYLOAD, "That message was already reviewed.")
    now = service.clock()
    sender = held["user"]
    result: dict[str, Any] = {"ok": True}
    if req.approve:
        entry = message_entry(
            room=req.room,
            msg_id=held["id"],
            user=sender,
            text=held["text"],
            ts=now,
            client_id=held["client_id"],
        )
        appended = await service.backend.append(req.room, entry, guard=None, now_ms=now)
        result["offset"] = appended.entry["offset"]
        notice = "A facilitator approved your message and it has been shared with the group."
    else:
        notice = "A facilitator reviewed your message and did not share it with the group."
    await service.backend.publish(
        req.room,
        Delivery(
            "notice",
            {
                "room": req.room,
                "kind": "reviewed",
                "text": notice,
                "id": req.msg_id,
                "client_id": held["client_id"],
                "approved": req.approve,
            },
            audience=USER_AUDIENCE + sender["id"],
        ),
    )
    # Other facilitators' panels drop the item.
    await service.backend.publish(
        req.room,
        Delivery(
            "alert",
            {
                "room": req.room,
                "kind": "reviewed",
                "id": req.msg_id,
                "approved": req.approve,
                "by": actor,
            },
            audience=FACILITATORS,
        ),
    )
    await service.backend.audit_add(
        req.room,
        {
            "ts": now,
            "by": actor,
            "action": "approved" if req.approve else "denied",
            "id": req.msg_id,
            "user_id": sender["id"],
        },
    )
    return result


async def report(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    """Any member may report a message; facilitators get an alert."""
    req = parse_message_ref(data)
    conn = service.connection(sid)
    if req.room not in conn.rooms:
        raise ServiceError(errors.NOT_IN_ROOM, "Join the room first.")
    reporter = conn.claims.user(req.room)
    entry = await _existing_message(service, req.room, req.msg_id)
    await service.raise_alert(
        req.room,
        {
            "room": req.room,
            "kind": "report",
            "user": reporter,
            "entry": entry,
            "reason": req.reason or "Reported by a member.",
        },
    )
    await service.backend.audit_add(
        req.room,
        {
            "ts": service.clock(),
            "by": reporter,
            "action": "reported",
            "id": req.msg_id,
            "user_id": entry["user"]["id"],
        },
    )
    return {"ok": True}


async def dismiss_alert(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    """A facilitator has dealt with an alert: it closes for every facilitator."""
    req = parse_message_ref(data)
    _, actor = _facilitator(service, sid, req.room)
    if not await service.dismiss_alerts(req.room, [req.msg_id], actor):
        raise ServiceError(errors.INVALID_PAYLOAD, "That alert was already dealt with.")
    await service.backend.audit_add(
        req.room,
        {"ts": service.clock(), "by": actor, "action": "alert_dismissed", "id": req.msg_id},
    )
    return {"ok": True}


async def audit(service: ChatService, sid: str, data: Any) -> dict[str, Any]:
    room, limit = parse_limit(data)
    _facilitator(service, sid, room)
    return {"ok": True, "entries": await service.backend.audit_list(room, limit)}


CONTROLS: dict[str, Control] = {
    "mute": mute,
    "unmute": unmute,
    "remove": remove,
    "readmit": readmit,
    "floor": floor,
    "lock": lock,
    "pause": pause,
    "slow_mode": slow_mode,
    "pin": pin,
    "unpin": unpin,
    "delete": delete,
    "lower_hands": lower_hands,
    "review": review,
    "report": report,
    "audit": audit,
    "dismiss_alert": dismiss_alert,
}
