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
ENABLED = False


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
    if ws is None or not ENABLED or sock.closed:
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


class _Coalescer:
    """Frames written during one turn of the event loop leave in one write per connection.

    A busy room queues several frames for the same member within a turn; one system call
    for all of them instead of one each is most of the saving under load. Frames are
    flushed at the end of the turn (call_soon), in the order they were written.
    """

    def __init__(self) -> None:
        self._pending: dict[asyncio.Transport, list[bytes]] = {}

    def write(self, transport: asyncio.Transport, data: bytes) -> None:
        chunks = self._pending.get(transport)
        if chunks is not None:
            chunks.append(data)
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending[transport] = [data]

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for transport, chunks in pending.items():
            if not transport.is_closing():
                transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))


coalescer = _Coalescer()


def write(transport: asyncio.Transport, data: bytes) -> None:
    """Write a finished frame to a websocket transport (coalesced within the loop turn)."""
    coalescer.write(transport, data)


async def _send(self: AsyncSocket, pkt: Any) -> None:
    transport = direct_transport(self)
    if transport is None:
        await _original_send(self, pkt)
        return
    if self.closed:
        raise eio_exceptions.SocketIsClosedError()
    write(transport, frame(pkt.encode()))


def install() -> None:
    """Route engineio's own sends (acks, pings) through the direct path too, so every
    packet of a connection takes one path at a time and stays in order.

    If the internals this relies on are not there (a different asyncio or engineio), the
    direct path is switched off and everything goes through engineio's queue as usual.
    """
    global ENABLED
    ENABLED = hasattr(asyncio.Queue(), "_getters") and hasattr(AsyncSocket, "send")
    if ENABLED:
        AsyncSocket.send = _send
