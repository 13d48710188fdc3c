"""Writing Engine.IO packets straight to a websocket's transport.

engineio sends every packet through a per-connection asyncio.Queue drained by a writer
task, which costs a task, a timer and two loop iterations per packet per recipient — most
of the CPU of a busy room. Once a connection is on a websocket and engineio's writer is
idle (waiting on an empty queue), a packet can be framed and written to the transport
synchronously instead: same bytes, same order, no task. While the writer still has
packets in flight, packets keep going through the queue, so order is never changed.

This leans on engineio 4.x and aiohttp 3.x internals (`AsyncSocket.queue`, the websocket
response's writer transport); tests/test_transport.py and the cluster tests pin the
behaviour that depends on it (order, exactly once, ack before live entries).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio.async_socket import AsyncSocket

ATTR = "huddle_ws"
"""Attribute on an engineio AsyncSocket holding its aiohttp WebSocketResponse."""

_original_send = AsyncSocket.send


def frame(payload: str | bytes) -> bytes:
    """An unmasked, final websocket frame (server to client): text for str, else binary."""
    if isinstance(payload, str):
        data, first = payload.encode(), 0x81
    else:
        data, first = bytes(payload), 0x82
    length = len(data)
    if length < 126:
        return bytes((first, length)) + data
    if length < 65536:
        return bytes((first, 126)) + struct.pack("!H", length) + data
    return bytes((first, 127)) + struct.pack("!Q", length) + data


def direct_transport(sock: Any) -> asyncio.Transport | None:
    """The transport to write to now, or None when the packet must go through the queue."""
    ws = getattr(sock, ATTR, None)
    if ws is None or sock.closed:
        return None
    writer = ws._writer
    if writer is None:
        return None
    transport: asyncio.Transport | None = writer.transport
    if transport is None or transport.is_closing():
        return None
    queue = sock.queue
    # engineio's writer is parked on an empty queue: everything it took is written.
    if queue.qsize() or not queue._getters:
        return None
    return transport


async def _send(self: AsyncSocket, pkt: Any) -> None:
    transport = direct_transport(self)
    if transport is None:
        await _original_send(self, pkt)
        return
    if self.closed:
        raise eio_exceptions.SocketIsClosedError()
    transport.write(frame(pkt.encode()))


def install() -> None:
    """Route engineio's own sends (acks, pings) through the direct path too, so every
    packet of a connection takes one path at a time and stays in order."""
    AsyncSocket.send = _send
