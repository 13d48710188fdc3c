"""Engine.IO over websocket, served directly: one read loop, frames written straight out.

engineio serves a websocket connection with a writer task parked on a per-connection
asyncio.Queue, a fresh task (plus ``wait_for``) for every frame it reads, a task per
inbound message, and a sleeping task per connection for the next ping. Under load that is
most of a worker's CPU; idle, it is most of a connection's memory. Here, once a connection
is on a websocket:

- its session runs in the aiohttp handler task that already exists: read a frame, hand
  the Engine.IO packet to engineio (``AsyncSocket.receive``), repeat;
- every packet for it (fan-out, acks, pings, close) is framed and written to the
  transport synchronously, coalesced per loop turn: same bytes, same order, no task;
- its ping is a timer handle, not a task;
- its send queue is swapped for a shared inert one (nothing is ever queued again).

Polling connections, and the polling half of an upgrade, stay on engineio's own path.
This leans on engineio 4.15 / aiohttp 3.14 internals (``AsyncSocket`` attributes and the
websocket response's writer transport); pyproject pins those minors, `install()` switches
the direct path off if they are missing, and tests/test_wsdirect.py checks it is taken.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from chatserver import wsframes

log = logging.getLogger(__name__)

ATTR = "huddle_transport"
"""Attribute on an engineio AsyncSocket: the transport its frames are written to."""

_original_send = AsyncSocket.send
_original_schedule_ping = AsyncSocket.schedule_ping
ENABLED = False


def frame(payload: str | bytes) -> bytes:
    """An unmasked, final websocket frame (server to client): text for str, else binary."""
    if isinstance(payload, str):
        return wsframes.encode(wsframes.TEXT, payload.encode())
    return wsframes.encode(wsframes.BINARY, bytes(payload))


def is_direct(sock: Any) -> bool:
    """Whether the connection is served here (its frames never go through a queue)."""
    return getattr(sock, ATTR, None) is not None


def direct_transport(sock: Any) -> asyncio.Transport | None:
    """The transport to write to now; None when the connection is not served here or is
    ending (then there is nowhere to write: its client reconnects and recovers)."""
    transport: asyncio.Transport | None = getattr(sock, ATTR, None)
    if transport is None or sock.closed or transport.is_closing():
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


def close(sock: Any, *, discard_pending: bool) -> bool:
    """End a directly served connection's transport (its client sees a network drop and
    reconnects); False when the connection is not served here."""
    transport: asyncio.Transport | None = getattr(sock, ATTR, None)
    if transport is None:
        return False
    if discard_pending:
        transport.abort()
    else:
        # Frames of this loop turn first, then whatever the kernel has not taken yet.
        asyncio.get_running_loop().call_soon(transport.close)
    return True


class _InertQueue:
    """Stands in for the send queue of a directly served connection: nothing is queued
    any more, so one shared, empty instance replaces ~3 KB of deques per connection."""

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    def put_nowait(self, item: Any) -> None:
        """A packet for a connection that is ending: nowhere to send it."""

    async def put(self, item: Any) -> None:
        """As put_nowait."""

    def task_done(self) -> None:
        """Nothing was taken."""

    async def join(self) -> None:
        """Nothing is pending."""

    def get_nowait(self) -> Any:
        raise asyncio.QueueEmpty

    async def get(self) -> Any:
        # Only polling reads its queue, and an upgraded socket answers polls with NOOP.
        raise asyncio.QueueEmpty


_INERT_QUEUE = _InertQueue()


async def serve(sock: AsyncSocket, ws: web.WebSocketResponse) -> None:
    """Run an Engine.IO connection on a websocket until either side ends it."""
    server = sock.server
    max_bytes = server.max_http_buffer_size
    idle_s = server.ping_interval + server.ping_timeout
    if sock.connected and not await _upgrade(sock, ws, idle_s):
        return
    sock.connected = True
    sock.upgraded = True
    transport = ws._writer.transport if ws._writer is not None else None
    if transport is None or transport.is_closing():
        await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
        return
    hand_over(sock, transport)
    try:
        while not sock.closed:
            msg = await ws.receive(timeout=idle_s)
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break  # closed by the client, by us, or an error
            if len(msg.data) > max_bytes:
                break  # engineio ends the connection on an oversized packet too
            if not await receive(sock, msg.data):
                break
    except TimeoutError:
        pass  # nothing from the client for a ping cycle: it is gone
    finally:
        await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
        if not ws.closed:
            await ws.close()


async def receive(sock: AsyncSocket, data: str | bytes) -> bool:
    """Hand one Engine.IO packet from the client to engineio; False once the session is
    closed. A malformed packet ends nothing (engineio's own loop does the same); Socket.IO
    answers malformed events with an error ack itself."""
    try:
        await sock.receive(eio_packet.Packet(encoded_packet=data))
    except eio_exceptions.SocketIsClosedError:
        return False
    except Exception:
        log.debug("ignored a malformed packet from %s", sock.sid, exc_info=True)
    return True


def hand_over(sock: AsyncSocket, transport: asyncio.Transport) -> None:
    """What was queued so far (the OPEN packet, or what arrived during an upgrade) goes
    first and in order; from here on every send is a direct write. (A function of its
    own so that nothing keeps the old queue alive.)"""
    queue = sock.queue
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is not None:
            write(transport, frame(pkt.encode()))
    setattr(sock, ATTR, transport)
    sock.queue = _INERT_QUEUE


async def _upgrade(sock: AsyncSocket, ws: web.WebSocketResponse, idle_s: float) -> bool:
    """The Engine.IO upgrade handshake of a polling connection (probe, then UPGRADE)."""
    sock.upgrading = True
    try:
        async with asyncio.timeout(idle_s):
            probe = await ws.receive()
            if probe.type is not WSMsgType.TEXT or probe.data != "2probe":
                return False
            await ws.send_str(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            await sock.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
            upgrade = await ws.receive()
            return upgrade.type is WSMsgType.TEXT and upgrade.data == "5"
    except TimeoutError:
        return False
    finally:
        sock.upgrading = False


async def _send(self: AsyncSocket, pkt: Any) -> None:
    if not is_direct(self):
        await _original_send(self, pkt)
        return
    if self.closed:
        raise eio_exceptions.SocketIsClosedError()
    transport = direct_transport(self)
    if transport is not None:
        write(transport, frame(pkt.encode()))
        if pkt.packet_type == eio_packet.CLOSE:
            # engineio ends the session (ping timeout, server disconnect): the transport
            # closes once the CLOSE packet is out, instead of waiting on the client.
            asyncio.get_running_loop().call_soon(transport.close)


def _schedule_ping(self: AsyncSocket) -> None:
    # As engineio, but a timer handle instead of a task sleeping for the ping interval.
    if self.last_ping:
        self.last_ping = None
        asyncio.get_running_loop().call_later(self.server.ping_interval, _ping, self)


def _ping(sock: AsyncSocket) -> None:
    if sock.closing or sock.closed:
        return
    sock.last_ping = time.time()
    ping = eio_packet.Packet(eio_packet.PING)
    transport = direct_transport(sock)
    if transport is not None:
        write(transport, frame(ping.encode()))
    elif not is_direct(sock):
        sock.server.start_background_task(sock.send, ping)  # polling: through its queue


def install() -> bool:
    """Serve websocket connections here. If the internals this relies on are missing
    (another engineio or asyncio), engineio's own path stays in use."""
    global ENABLED
    ENABLED = all(
        hasattr(AsyncSocket, name) for name in ("send", "receive", "schedule_ping", "close")
    )
    if ENABLED:
        AsyncSocket.send = _send
        AsyncSocket.schedule_ping = _schedule_ping
    return ENABLED
