"""Local fan-out: encode an event once and queue the same frame for every recipient.

python-socketio's room emit creates one asyncio task per recipient and queues without a
bound. Here the Socket.IO packet is encoded once per delivery and the one Engine.IO packet
object is put straight on each recipient's send queue, synchronously, which keeps a room's
offsets in order and costs well under a microsecond per recipient. A reader whose queue
passes the limit is disconnected (it will reconnect and recover from the log) instead of
being buffered forever.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import engineio.packet
import socketio.packet

from chatserver.message_json import message_event
from chatserver.transport.connection import ATTR as CONNECTION_ATTR
from chatserver.transport.connection import Coalescer, DirectConnection
from chatserver.transport.frames import message_frame

# One encoder for every delivery: json.dumps with any option builds a new one per call.
# No cycle check: payloads are built by the service from decoded JSON and msgpack.
_encode_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


@dataclass(frozen=True, slots=True)
class Frame:
    """One delivery, encoded once: the Socket.IO packet's text and the finished websocket
    frame (written as is to every websocket)."""

    text: str
    ws: bytes

    @property
    def packet(self) -> Any:
        """The Engine.IO packet, for a connection engineio serves itself (polling): made
        only when there is one."""
        return engineio.packet.Packet(engineio.packet.MESSAGE, data=self.text)


class Route:
    """A room's recipients resolved once for many deliveries (``Fanout.route``): the
    fast path's connections grouped by coalescer, and the sessions engineio serves
    itself (looked up again each time, since one may move to the fast path).

    A fast-path connection stays on it until its session ends, and a closed one is
    skipped, so a route stays right until the room's membership changes (its owner makes
    a new one then) or a session of ``polled`` reaches the fast path (``stale`` is set)."""

    __slots__ = ("direct", "polled", "stale")

    def __init__(
        self, direct: list[tuple[Coalescer, list[DirectConnection]]], polled: list[str]
    ) -> None:
        self.direct = direct
        self.polled = polled
        self.stale = False


class Fanout:
    def __init__(
        self,
        eio_server: Any,
        *,
        queue_limit: int,
        drop: Callable[[str, bool], None],
        on_overflow: Callable[[], None] = lambda: None,
    ) -> None:
        self._eio = eio_server
        self._queue_limit = queue_limit
        self.drop = drop
        """Close a connection by Engine.IO sid, optionally discarding what is queued for it;
        the client reconnects and recovers from the log."""
        self._on_overflow = on_overflow

    @staticmethod
    def encode(event: str, payload: Mapping[str, object]) -> Frame:
        # A Socket.IO EVENT on the default namespace is "2" + the JSON array (what
        # socketio.packet.Packet.encode produces), written here directly: the Packet
        # class first walks the whole payload looking for bytes (binary events), which
        # cost more than the encoding itself. Payloads here are JSON by construction
        # (entries and events built by the service; msgpack decodes to str, not bytes).
        # A chat message (most deliveries) from its template, the same text.
        body = message_event(payload) if event == "message" else None
        if body is None:
            body = _encode_json([event, payload])
        text = f"{socketio.packet.EVENT}{body}"
        # An Engine.IO MESSAGE packet is its type digit and the text (what
        # engineio.packet.Packet.encode makes of it).
        return Frame(text, message_frame(f"{engineio.packet.MESSAGE}{text}"))

    def route(self, eio_sids: Iterable[str]) -> Route:
        """The recipients ``eio_sids`` resolved for ``send_route`` (sessions not found now
        are left out: a session that ends is never found again)."""
        sockets = self._eio.sockets
        groups: dict[Coalescer, list[DirectConnection]] = {}
        polled: list[str] = []
        for eio_sid in eio_sids:
            sock = sockets.get(eio_sid)
            if sock is None:
                continue
            conn: DirectConnection | None = getattr(sock, CONNECTION_ATTR, None)
            if conn is None:
                polled.append(eio_sid)
            else:
                groups.setdefault(conn.coalescer, []).append(conn)
        return Route(list(groups.items()), polled)

    def send_route(self, route: Route, frame: Frame) -> int:
        """``send`` to a route's recipients; returns how many it went to. The same checks
        per recipient as ``send``, on connections already looked up."""
        sent = 0
        data = frame.ws
        for coalescer, conns in route.direct:
            # The usual case in one comprehension: every recipient open and keeping up.
            transports = [
                transport
                for conn in conns
                if not conn.sock.closed
                and not (transport := conn.transport).is_closing()
                and transport.get_write_buffer_size() <= conn.send_buffer_limit
            ]
            if len(transports) == len(conns):
                coalescer.write_all(transports, data)
                sent += len(transports)
                continue
            transports = []
            for conn in conns:
                # DirectConnection.writable and .backlog(), inlined: this loop runs once
                # per recipient of every delivery.
                transport = conn.transport
                if conn.sock.closed or transport.is_closing():
                    continue  # ending: the client recovers on reconnect
                if transport.get_write_buffer_size() > conn.send_buffer_limit:
                    self._on_overflow()
                    self.drop(conn.sock.sid, True)
                    continue
                transports.append(transport)
            if transports:
                coalescer.write_all(transports, data)
                sent += len(transports)
        if route.polled:
            polled, moved = self._send(route.polled, frame)
            sent += polled
            route.stale = moved > 0
        return sent

    def send(self, eio_sids: Iterable[str], frame: Frame) -> int:
        """Send ``frame`` to each connection; returns how many it went to."""
        return self._send(eio_sids, frame)[0]

    def _send(self, eio_sids: Iterable[str], frame: Frame) -> tuple[int, int]:
        """``send``, also saying how many of the connections were on the fast path."""
        sockets = self._eio.sockets
        sent = 0
        direct = 0
        packet = None  # made for the first connection engineio serves itself
        # The fast path's recipients, written in one call per coalescer (one per server).
        coalescer: Coalescer | None = None
        transports: list[asyncio.Transport] = []
        for eio_sid in eio_sids:
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            conn = getattr(sock, CONNECTION_ATTR, None)  # connection_of(), inlined
            if conn is not None:  # on the websocket fast path (chatserver/transport/)
                # DirectConnection.writable and .backlog(), inlined: this loop runs once
                # per recipient of every delivery.
                transport = conn.transport
                if transport.is_closing():
                    continue  # its transport is closing: the client recovers on reconnect
                if transport.get_write_buffer_size() > conn.send_buffer_limit:
                    self._on_overflow()
                    self.drop(eio_sid, True)
                    continue
                if conn.coalescer is not coalescer:
                    if coalescer is not None:
                        coalescer.write_all(transports, frame.ws)
                        transports = []
                    coalescer = conn.coalescer
                transports.append(transport)
                sent += 1
                direct += 1
                continue
            queue: asyncio.Queue[Any] = sock.queue
            if queue.qsize() >= self._queue_limit:
                self._on_overflow()
                self.drop(eio_sid, True)
                continue
            if packet is None:
                packet = frame.packet
            queue.put_nowait(packet)
            sent += 1
        if coalescer is not None:
            coalescer.write_all(transports, frame.ws)
        return sent, direct
