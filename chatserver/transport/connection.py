"""A websocket Engine.IO session that huddle writes to itself: the fast path's one
connection object.

engineio serves a websocket connection with a writer task parked on a per-connection
asyncio.Queue, a fresh task (plus ``wait_for``) for every frame it reads, a task per
inbound message, and a sleeping task per connection for the next ping. Under load that is
most of a worker's CPU; idle, it is most of a connection's memory. Once a connection is on
a websocket, ``hand_over`` gives its engineio socket a ``DirectConnection``:

- the socket's ``send`` and ``schedule_ping`` are bound to the connection's, on that
  socket only (engineio's class is left as it is, for every other socket and library);
- every packet for it (fan-out, acks, pings, close) is framed and written to the transport
  synchronously, coalesced per loop turn: same bytes, same order, no task;
- its ping is a timer handle, not a task; the first one too (``bind_first_ping``, at
  connect: engineio schedules it during the handshake, before the hand-over);
- its send queue is swapped for a shared inert one (nothing is ever queued again).

The session's reading side is either a detached protocol (chatserver/transport/
detached.py, subclassing this) or aiohttp's websocket for an upgraded polling connection
(chatserver/transport/endpoint.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from chatserver.ratelog import CLIENTS, describe
from chatserver.transport import frames

ATTR = "huddle_connection"
"""Attribute on an engineio socket served by huddle: its DirectConnection."""


class Coalescer:
    """Frames written during one turn of the event loop leave in one write per connection.

    A busy room queues several frames for the same member within a turn; one system call
    for all of them instead of one each is most of the saving under load. Frames are
    flushed at the end of the turn (call_soon), in the order they were written.

    A quiet turn holds one room's delivery and nothing else (a message to a room of 20
    is 20 frames, the same bytes): it is kept as it came, the room's transports and the
    frame, and written to each at the flush, with no per-connection list built in
    between. Anything else written in the turn folds it into the per-connection lists
    first, so every connection's frames still leave in the order they were written.
    """

    __slots__ = ("_loop", "_pending", "_room")

    def __init__(self) -> None:
        self._pending: dict[asyncio.Transport, list[bytes]] = {}
        self._room: tuple[list[asyncio.Transport], bytes] | None = None
        """The turn's one room delivery, while it is all the turn wrote."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the flushes run on, asked once (on Python 3.11 every
        ``get_running_loop()`` is a system call, getpid: one per delivery turn)."""

    def _flush_soon(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(self._flush)

    def write(self, transport: asyncio.Transport, data: bytes) -> None:
        if self._room is not None:
            self._fold_room()
        chunks = self._pending.get(transport)
        if chunks is not None:
            chunks.append(data)
            return
        if not self._pending:
            self._flush_soon()
        self._pending[transport] = [data]

    def write_all(self, transports: list[asyncio.Transport], data: bytes) -> None:
        """``write(transport, data)`` for each of ``transports`` (a room's delivery; the
        list is the caller's to give away: it is kept until the flush)."""
        if not transports:
            return
        pending = self._pending
        if not pending:
            if self._room is None:
                self._room = (transports, data)
                self._flush_soon()
                return
            self._fold_room()
        _queue_each(pending, transports, data)

    def _fold_room(self) -> None:
        """The turn's room delivery as per-connection lists (something else was written
        after it; the flush is already scheduled)."""
        room, self._room = self._room, None
        if room is not None:
            _queue_each(self._pending, *room)

    def _flush(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            transports, data = room
            for transport in transports:
                if not transport.is_closing():
                    transport.write(data)
        pending, self._pending = self._pending, {}
        for transport, chunks in pending.items():
            if not transport.is_closing():
                transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))


def _queue_each(
    pending: dict[asyncio.Transport, list[bytes]],
    transports: list[asyncio.Transport],
    data: bytes,
) -> None:
    """``data`` queued behind what each of ``transports`` already has this turn."""
    for transport in transports:
        chunks = pending.get(transport)
        if chunks is None:
            pending[transport] = [data]
        else:
            chunks.append(data)


class DirectConnection:
    """One Engine.IO session on a websocket whose frames huddle writes."""

    __slots__ = ("_ping_timer", "coalescer", "send_buffer_limit", "sock", "transport")

    def __init__(
        self,
        sock: AsyncSocket,
        transport: asyncio.Transport,
        coalescer: Coalescer,
        send_buffer_limit: int,
    ) -> None:
        self.sock = sock
        self.transport = transport
        self.coalescer = coalescer
        """Shared by the server's connections: fan-out writes a room's frame to all of
        them in one call."""
        self._ping_timer: asyncio.TimerHandle | None = None
        self.send_buffer_limit = send_buffer_limit
        """Bytes the kernel has not taken yet past which fan-out drops this reader."""

    @property
    def writable(self) -> bool:
        """False once the session or its transport is ending (then there is nowhere to
        write: its client reconnects and recovers)."""
        return not self.sock.closed and not self.transport.is_closing()

    def backlog(self) -> int:
        """Bytes written but not yet taken by the kernel (a reader falling behind)."""
        return self.transport.get_write_buffer_size()

    def write(self, data: bytes) -> None:
        """Write a finished frame (coalesced within the loop turn)."""
        self.coalescer.write(self.transport, data)

    async def send(self, pkt: Any) -> None:
        """engineio's ``AsyncSocket.send``, for this socket."""
        if self.sock.closed:
            raise eio_exceptions.SocketIsClosedError()
        if self.transport.is_closing():
            return
        self.write(frames.message_frame(pkt.encode()))
        if pkt.packet_type == eio_packet.CLOSE:
            # engineio ends the session (ping timeout, server disconnect): the transport
            # closes once the CLOSE packet is out, instead of waiting on the client.
            asyncio.get_running_loop().call_soon(self.transport.close)

    def schedule_ping(self) -> None:
        """engineio's ``AsyncSocket.schedule_ping``, for this socket: as engineio, but a
        timer handle instead of a task sleeping for the ping interval."""
        sock = self.sock
        if sock.last_ping:
            sock.last_ping = None
            self._ping_timer = asyncio.get_running_loop().call_later(
                sock.server.ping_interval, self.ping
            )

    def ping(self) -> None:
        sock = self.sock
        if sock.closing or sock.closed:
            return
        sock.last_ping = time.time()
        if self.writable:
            self.write(frames.message_frame(eio_packet.Packet(eio_packet.PING).encode()))

    def close(self, *, discard_pending: bool) -> None:
        """End the transport: the client sees a network drop and reconnects."""
        if discard_pending:
            self.transport.abort()
        else:
            # Frames of this loop turn first, then whatever the kernel has not taken yet.
            asyncio.get_running_loop().call_soon(self.transport.close)

    def refuse(self, code: int, reason: str) -> None:
        """End the connection over something the client sent (aiohttp's websocket of an
        upgraded session: no close frame of ours, its reader sees the transport end)."""
        self.close(discard_pending=False)

    async def receive(self, data: str | bytes) -> bool:
        """Hand one Engine.IO packet from the client to engineio; False once the session
        is closed. A packet engineio cannot read ends the connection, as engineio's own
        reader does (one rate-limited log line, no traceback: chatserver/ratelog.py); one
        of a type a client has no reason to send is ignored, as engineio ignores it.
        Socket.IO packets are looked at by the gate (chatserver/transport/gate.py)."""
        sock = self.sock
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
            await sock.receive(pkt)
        except eio_exceptions.SocketIsClosedError:
            return False
        except eio_exceptions.UnknownPacketError:
            return True
        except Exception as exc:
            CLIENTS.warning(
                "engineio_packet",
                "closed connection %s: unreadable packet (%s)",
                sock.sid,
                describe(exc),
            )
            self.refuse(frames.INVALID_DATA, "unreadable packet")
            return False
        return True

    async def end_session(self) -> None:
        """The transport is gone: end the engineio session as a transport close."""
        sock = self.sock
        try:
            await sock.close(wait=False, abort=True, reason=sock.server.reason.TRANSPORT_CLOSE)
        finally:
            self.release()

    def release(self) -> None:
        """The session is over: its ping timer goes (the first one too, taken over from
        ``FirstPing``), and the engineio socket no longer reaches this connection (nor its
        transport, parser and buffers)."""
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        unbind(self.sock, self)


def connection_of(sock: Any) -> DirectConnection | None:
    """The connection serving an engineio socket, or None on engineio's own path."""
    conn: DirectConnection | None = getattr(sock, ATTR, None)
    return conn


def hand_over(sock: AsyncSocket, conn: DirectConnection) -> None:
    """From here on ``conn`` serves ``sock``. What was queued so far (the OPEN packet, or
    what arrived during an upgrade) goes first and in order; then every send is a direct
    write. (A function of its own so that nothing keeps the old queue alive.)"""
    queue = sock.queue
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is not None:
            conn.write(frames.message_frame(pkt.encode()))
    first = vars(sock).get("schedule_ping")
    if isinstance(first, FirstPingSchedule):
        conn._ping_timer = first.owner.take_timer()
    setattr(sock, ATTR, conn)
    # Per socket, not per class: engineio's own calls (receive() on a PONG, close() on a
    # ping timeout) reach the connection through these instance attributes.
    sock.send = conn.send
    sock.schedule_ping = conn.schedule_ping
    sock.queue = INERT_QUEUE


def unbind(sock: AsyncSocket, conn: DirectConnection) -> None:
    """Undo ``hand_over``'s bindings on a closed socket (its class's own methods again)."""
    bound = vars(sock)
    if bound.get(ATTR) is conn:
        for name in (ATTR, "send", "schedule_ping"):
            bound.pop(name, None)


class FirstPing:
    """A session's first ping as a timer handle instead of engineio's task.

    engineio schedules the first ping during its handshake, before huddle takes the socket
    over: a task sleeping for the whole ping interval, which kept the socket (and ~800 B of
    coroutine frame) alive that long even when the session ended at once, as thousands do
    in a reconnect storm. Bound on the socket at connect (``bind_first_ping``), it is a
    timer; a ``DirectConnection`` takes the timer over at hand-over and cancels it when the
    session ends. A session engineio keeps serving (polling) gets each ping sent through
    engineio's ``send`` when its timer fires.
    """

    __slots__ = ("_sending", "_timer", "sock")

    def __init__(self, sock: AsyncSocket) -> None:
        self.sock = sock
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None

    def schedule(self) -> None:
        """engineio's ``schedule_ping``, for this socket's first ping."""
        sock = self.sock
        if sock.last_ping:
            sock.last_ping = None
            self._timer = asyncio.get_running_loop().call_later(
                sock.server.ping_interval, self._fire
            )

    def take_timer(self) -> asyncio.TimerHandle | None:
        timer, self._timer = self._timer, None
        return timer

    def _fire(self) -> None:
        self._timer = None
        sock = self.sock
        conn = connection_of(sock)
        if conn is not None:
            conn.ping()
            return
        if sock.closing or sock.closed:
            return
        sock.last_ping = time.time()
        self._sending = asyncio.ensure_future(sock.send(eio_packet.Packet(eio_packet.PING)))


class FirstPingSchedule:
    """``FirstPing.schedule`` as a callable that says whose it is (a bound method's
    ``__self__`` would do, but this keeps the check explicit for mypy and readers)."""

    __slots__ = ("owner",)

    def __init__(self, owner: FirstPing) -> None:
        self.owner = owner

    def __call__(self) -> None:
        self.owner.schedule()


def bind_first_ping(sock: AsyncSocket) -> None:
    """At connect, before engineio schedules the first ping: make it a timer."""
    sock.schedule_ping = FirstPingSchedule(FirstPing(sock))


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


INERT_QUEUE = _InertQueue()
