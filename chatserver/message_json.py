"""The JSON text of the two payloads every chat message makes — its delivery to each
room and its sender's ack — written from a template: the same text as the compact
encoder (``json.JSONEncoder(separators=(",", ":"))``) writes for them, at a fraction of the
cost.

The generic encoder walks the dict, looks each key up in its memo and dispatches on every
value's type; for these fixed shapes only the strings need escaping, which is the very
function the encoder escapes them with (``ensure_ascii``). Anything not exactly of the
shape — another key, another order, a value of another type — gets ``None``, and the
caller encodes it as before, so no payload is ever written differently.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii as _quote
from typing import Any

_MESSAGE_KEYS = ("room", "id", "user", "text", "ts", "client_id", "offset")
"""A message entry as delivered: its stored body's keys (rooms.entries.message_entry,
less its offset) in order, and the offset the bus puts back last."""
_USER_KEYS = ("id", "name", "role")
_ACK_KEYS = ("ok", "id", "offset", "text")


def message_event(entry: Any) -> str | None:
    """``["message", entry]`` as compact JSON, or None if ``entry`` is not a plain chat
    message of the usual shape."""
    if type(entry) is not dict or tuple(entry) != _MESSAGE_KEYS:
        return None
    user = entry["user"]
    if type(user) is not dict or tuple(user) != _USER_KEYS:
        return None
    room, msg_id, text, client_id = entry["room"], entry["id"], entry["text"], entry["client_id"]
    user_id, name, role = user["id"], user["name"], user["role"]
    ts, offset = entry["ts"], entry["offset"]
    if not (
        type(room) is str
        and type(msg_id) is str
        and type(text) is str
        and type(client_id) is str
        and type(user_id) is str
        and type(name) is str
        and type(role) is str
        and type(ts) is int
        and type(offset) is int
    ):
        return None
    return (
        f'["message",{{"room":{_quote(room)},"id":{_quote(msg_id)},'
        f'"user":{{"id":{_quote(user_id)},"name":{_quote(name)},"role":{_quote(role)}}},'
        f'"text":{_quote(text)},"ts":{ts},"client_id":{_quote(client_id)},"offset":{offset}}}]'
    )


def message_ack(arguments: Any) -> str | None:
    """An ack's argument list ``[{"ok": true, "id", "offset", "text"}]`` (a message in the
    log) as compact JSON, or None if it is anything else."""
    if type(arguments) is not list or len(arguments) != 1:
        return None
    ack = arguments[0]
    if type(ack) is not dict or tuple(ack) != _ACK_KEYS or ack["ok"] is not True:
        return None
    msg_id, offset, text = ack["id"], ack["offset"], ack["text"]
    if type(msg_id) is not str or type(offset) is not int or type(text) is not str:
        return None
    return f'[{{"ok":true,"id":{_quote(msg_id)},"offset":{offset},"text":{_quote(text)}}}]'
