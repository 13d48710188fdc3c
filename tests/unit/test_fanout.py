"""The fan-out's own encoding: byte for byte what python-socketio would send."""

from __future__ import annotations

from typing import Any

import engineio.packet
import pytest
import socketio.packet

from chatserver.fanout import Fanout
from chatserver.transport.frames import message_frame

PAYLOADS: list[tuple[str, dict[str, Any]]] = [
    (
        "message",
        {
            "room": "r1",
            "id": "0f3a9c1e2b4d5a6c",
            "offset": 41,
            "user": {"id": "u1", "name": "Zoë ☕", "role": "member"},
            "text": 'a "quoted" word,\nanother line\tand a tab — and 日本語 😣',
            "ts": 1_800_000_000_000,
            "client_id": "b7c1b3de-1111-4c4c-9999-0a0b0c0d0e0f",
        },
    ),
    ("room_event", {"kind": "muted", "until": None, "flags": [True, False, 1.5]}),
    ("presence", {"members": [], "left": {"id": "x", "name": "<b>X</b>", "role": "member"}}),
]


@pytest.mark.parametrize(("event", "payload"), PAYLOADS)
def test_frames_match_python_socketio_encoding(event: str, payload: dict[str, Any]) -> None:
    reference = socketio.packet.Packet(socketio.packet.EVENT, data=[event, payload], namespace="/")
    expected = engineio.packet.Packet(engineio.packet.MESSAGE, data=reference.encode()).encode()
    frame = Fanout.encode(event, payload)
    assert frame.packet.encode() == expected
    assert frame.ws == message_frame(expected)
