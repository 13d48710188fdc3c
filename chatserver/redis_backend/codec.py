"""Entries, state and records as Redis stores them (msgpack bodies, flat replies) and
back."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from chatserver.backend import (
    Alert,
    Delivery,
    RoomSnapshot,
    User,
)
from rooms.entries import Entry, HeldEntry, MessageEntry
from rooms.meeting import new_meeting
from rooms.state import RoomState, react, state_change


def state_op(entry: Entry) -> tuple[str, str, str | bytes]:
    """How an entry changes the room state (rooms.state.state_change, the fold's one
    reading of each event kind), in the strings the append script stores."""
    op, a, b = state_change(entry)
    if op == "meeting":
        return op, str(a), json.dumps(b, ensure_ascii=False, separators=(",", ":"))
    if op == "reaction":
        return op, "\t".join(a), "1" if b else ""
    if op == "pinned":
        return op, a, _pack(b)
    if op == "muted":
        return op, a, "-1" if b is None else str(b)  # -1: until unmuted
    return op, _stored(a), _stored(b)


def _stored(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# One packer for every body (msgpack.packb makes a new one, and its buffer, per call).
# Each pack() runs to the end before anything else can use it (no await, no callback).
_packer = msgpack.Packer(use_bin_type=True)


def _pack(obj: Any) -> bytes:
    packed: bytes = _packer.pack(obj)
    return packed


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def _body(entry: Entry) -> bytes:
    return _pack({k: v for k, v in entry.items() if k != "offset"})


def _entry(offset: int, body: bytes) -> Any:
    """A stored entry (a log entry, or a held one) with its offset put back."""
    entry = _unpack(body)
    entry["offset"] = offset
    return entry


def _cid_entry(raw: bytes) -> MessageEntry | HeldEntry:
    """The entry a client_id key keeps: ``offset \\n body`` (offset 0: held)."""
    offset, _, body = raw.partition(b"\n")
    entry: MessageEntry | HeldEntry = _entry(int(offset), body)
    return entry


def _stream_entry(item: list[Any]) -> Entry:
    # Script replies are raw [id, [field, value]]; redis-py parses XRANGE into (id, dict).
    stream_id, fields = item
    body = fields[b"e"] if isinstance(fields, dict) else fields[1]
    entry: Entry = _entry(int(stream_id.split(b"-", 1)[0]), body)
    return entry


def _snapshot(reply: list[Any], now_ms: int) -> RoomSnapshot:
    """A room's state from room.lua's room_state reply."""
    meta_l, mutes_l, pins_l, removed = reply
    meta = _pairs(meta_l)
    mutes: dict[str, int | None] = {}
    for user, until in _pairs(mutes_l).items():
        value = int(until)
        if value < 0:
            mutes[user] = None
        elif value > now_ms:
            mutes[user] = value
    pinned = []
    for msg_id, raw in _pairs(pins_l, decode_values=False).items():
        order, _, body = raw.partition(b"\n")
        pinned.append((int(order), msg_id, _unpack(body)))
    pinned.sort(key=lambda p: p[0])
    state = RoomState(
        locked=meta.get("locked") == "1",
        paused=meta.get("paused") == "1",
        slow_mode_s=int(meta.get("slow_mode_s") or 0),
        floor=meta.get("floor") or None,
        mutes=mutes,
        pins={msg_id: e for _, msg_id, e in pinned},
        removed={r.decode() for r in removed},
    )
    if "meeting" in meta:
        state.meeting = json.loads(meta["meeting"])
        state.meeting_at = int(meta.get("meeting_at") or 0)
    else:
        state.meeting = new_meeting()
    for key, value in meta.items():
        if key.startswith("ag\t"):
            state.agreed[key[3:]] = value
        elif key.startswith("nr\t"):
            state.no_reactions.add(key[3:])
        elif key.startswith("ck\t"):
            state.checkins.add(key[3:])
        elif key.startswith("rx\t"):
            msg_id, reaction, user_id = key[3:].split("\t", 2)
            react(state.reactions, msg_id, reaction, user_id, on=True)
    return RoomSnapshot(meta["epoch"], int(meta.get("offset") or 0), state)


def _pairs(flat: list[bytes], *, decode_values: bool = True) -> dict[str, Any]:
    it = iter(flat)
    return {
        key.decode(): (val.decode() if decode_values else val)
        for key, val in zip(it, it, strict=True)
    }


def _users(flat: list[bytes]) -> list[User]:
    it = iter(flat)
    return [
        {"id": uid.decode(), "name": name.decode(), "role": role.decode()}
        for uid, name, role in zip(it, it, it, strict=True)
    ]


def _oldest_first(values: list[bytes]) -> list[Alert]:
    alerts: list[Alert] = [_unpack(v) for v in values]
    return sorted(alerts, key=lambda a: (a.get("ts", 0), a.get("id", "")))


def _hand_queue(values: list[bytes]) -> list[User]:
    hands = sorted((_unpack(v) for v in values), key=lambda h: h["at"])
    return [h["user"] for h in hands]


def stored_body(item: Any) -> bytes:
    """The body of a log entry as XRANGE returns it (redis-py: (id, {field: value}))."""
    _, fields = item
    body: bytes = fields[b"e"] if isinstance(fields, dict) else fields[1]
    return body


def ephemeral_frame(delivery: Delivery) -> bytes:
    """An ephemeral event as published: ``E`` and one msgpack array [audience, event,
    payload]. Length-prefixed by msgpack, so no value (an audience naming a user, whatever
    their id holds) can be mistaken for the next field; join.lua and leave.lua publish the
    same, with the presence sequence number (``Delivery.seq``) as ``_seq`` in the
    "joined" or "left" payload."""
    return b"E" + _pack((delivery.audience, delivery.event, delivery.payload))


def ephemeral_delivery(data: bytes) -> Delivery:
    audience, event, payload = _unpack(data[1:])
    seq = payload.pop("_seq", 0) if event == "presence" else 0
    return Delivery(event, payload, audience=audience, seq=seq)
