"""A websocket Engine.IO connection that owns its transport once the handshake is done.

aiohttp keeps a request, its parsed headers, a response, a reader queue, a handler task
and a stack of suspended coroutines alive for as long as a websocket handler runs: most
of an idle connection's memory (DESIGN §6 wants ≤ 15 KB per connection). A client that
opens a websocket directly (the web client and the official clients do) is instead
answered with the 101 handshake here, and its transport is handed to a small protocol
object, which is also the session's DirectConnection: frames are parsed in
``data_received`` (chatserver/transport/frames.py), Engine.IO packets go to engineio's
socket, and everything sent to it is a direct write. The aiohttp request then ends and is
freed.

Without aiohttp's reader, nothing else notices a peer that vanished without a FIN (a phone
out of coverage): the connection has a read timeout of its own, a timer re-armed lazily
from the time of the last bytes read.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

from aiohttp import web
from engineio.async_socket import AsyncSocket

from chatserver.ratelog import CLIENTS
from chatserver.transport import frames, internals
from chatserver.transport.connection import Coalescer, DirectConnection, hand_over

# What is left of the connect request once the connection is detached: python-socketio
# keeps the environ for the connection's lifetime; the request object and its body stream
# would keep every aiohttp structure of the request alive with it.
_ENVIRON_KEEP = frozenset(
    {"REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_USER_AGENT", "PATH_INFO", "QUERY_STRING"}
)


def handshake_error(request: web.BaseRequest) -> str | None:
    """Why the request is not a websocket handshake this server accepts, or None."""
    headers = request.headers
    if "websocket" not in headers.get("Upgrade", "").lower():
        return "not a websocket upgrade"
    if "upgrade" not in headers.get("Connection", "").lower():
        return "no Connection: upgrade"
    if headers.get("Sec-WebSocket-Version", "") != "13":
        return "unsupported websocket version"
    if not frames.valid_client_key(headers.get("Sec-WebSocket-Key", "")):
        return "invalid Sec-WebSocket-Key"
    return None


class DetachedConnection(DirectConnection, asyncio.Protocol):
    """One detached connection: frames in, Engine.IO packets to engineio, in order."""

    __slots__ = (
        "_ending",
        "_idle_timer",
        "_inbox",
        "_last_read",
        "_loop",
        "_open",
        "_parser",
        "_pump",
        "_take_event",
        "_timeout",
    )

    def __init__(
        self,
        sock: AsyncSocket,
        transport: asyncio.Transport,
        coalescer: Coalescer,
        *,
        send_buffer_limit: int,
        read_timeout_s: float,
        open_connections: set[DetachedConnection],
        take_event: Callable[[str, str], bool] | None = None,
    ) -> None:
        super().__init__(sock, transport, coalescer, send_buffer_limit)
        self._take_event = take_event
        """The gate's ``take_event``: a client's request answered in ``data_received``."""
        # No binary messages: the protocol has no use for them (chatserver/transport/gate.py).
        self._parser = frames.FrameParser(sock.server.max_http_buffer_size, accept_binary=False)
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._pump: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._open = open_connections
        self._timeout = read_timeout_s
        loop = self._loop = asyncio.get_running_loop()
        """The loop this connection runs on (asked once: on Python 3.11 every
        ``get_running_loop()`` is a system call, getpid)."""
        self._last_read = loop.time()
        self._idle_timer: asyncio.TimerHandle | None = loop.call_later(
            read_timeout_s, self._check_idle
        )

    @classmethod
    def detach(
        cls,
        request: web.BaseRequest,
        sock: AsyncSocket,
        environ: dict[str, Any],
        coalescer: Coalescer,
        *,
        send_buffer_limit: int,
        read_timeout_s: float,
        open_connections: set[DetachedConnection],
        take_event: Callable[[str, str], bool] | None = None,
    ) -> DetachedConnection:
        """Answer the handshake and take the connection over from aiohttp."""
        key = request.headers["Sec-WebSocket-Key"]
        transport, tail = internals.take_transport(request)
        conn = cls(
            sock,
            transport,
            coalescer,
            send_buffer_limit=send_buffer_limit,
            read_timeout_s=read_timeout_s,
            open_connections=open_connections,
            take_event=take_event,
        )
        transport.set_protocol(conn)
        open_connections.add(conn)
        # Through the coalescer, as every frame after it: the answer and the OPEN packet
        # that hand_over writes next leave in one system call instead of two.
        conn.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + frames.accept_key(key).encode() + b"\r\n\r\n"
        )
        sock.connected = True
        sock.upgraded = True
        hand_over(sock, conn)
        for name in [k for k in environ if k not in _ENVIRON_KEEP]:
            del environ[name]
        if not transport.is_reading():
            transport.resume_reading()
        if tail:
            conn.data_received(tail)
        return conn

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        try:
            received = self._parser.feed(data)
        except frames.FrameError as exc:
            CLIENTS.warning(
                "frame", "closed connection %s: %s (close code %d)", self.sock.sid, exc, exc.code
            )
            self.close_with(exc.code, str(exc))
            return
        inbox, take_event = self._inbox, self._take_event
        for frame in received:
            opcode, payload = frame.opcode, frame.data
            if opcode == frames.TEXT or opcode == frames.BINARY:
                # A request (Engine.IO message ``4`` + Socket.IO event ``2``) with nothing
                # ahead of it is answered now; anything else goes through engineio, in a
                # task, in order. (engineio reads ``42...`` as a MESSAGE whose data is
                # ``2...``: its JSON attempt stops at the digit.)
                if (
                    take_event is not None
                    and self._pump is None
                    and not inbox
                    and type(payload) is str
                    and payload.startswith("42")
                    and not self.sock.closed
                    and take_event(self.sock.sid, payload[1:])
                ):
                    continue
                inbox.append(payload)
            elif isinstance(payload, str):
                continue  # only TEXT carries str
            elif opcode == frames.PING:
                self.write(frames.encode(frames.PONG, payload))
            elif opcode == frames.CLOSE:
                self.close_with(frames.close_code(payload))
                return
        if self._inbox and self._pump is None:
            self._pump = self._loop.create_task(self._deliver())

    async def _deliver(self) -> None:
        """Hand packets to engineio one at a time, in arrival order (a connect finishes
        before the events after it are looked at)."""
        sock, inbox = self.sock, self._inbox
        try:
            while inbox and not sock.closed:
                if not await self.receive(inbox.popleft()):
                    break
        finally:
            self._pump = None

    def _check_idle(self) -> None:
        """Nothing read for the read timeout: the peer is gone (no FIN ever came)."""
        loop = asyncio.get_running_loop()
        remaining = self._last_read + self._timeout - loop.time()
        if remaining > 0:
            self._idle_timer = loop.call_later(remaining, self._check_idle)
            return
        self._idle_timer = None
        self.transport.abort()

    def close_with(self, code: int = frames.NORMAL, reason: str = "") -> None:
        """Close the connection with a close frame (after anything already written)."""
        self._inbox.clear()
        if self.transport.is_closing():
            return
        self.write(frames.close_frame(code, reason))
        asyncio.get_running_loop().call_soon(self.transport.close)

    def refuse(self, code: int, reason: str) -> None:
        """End the connection over something the client sent: a close frame that says
        what was wrong."""
        self.close_with(code, reason)

    def pause_writing(self) -> None:
        """Fan-out watches the write buffer itself and drops readers that fall behind."""

    def resume_writing(self) -> None:
        """See pause_writing."""

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.discard(self)
        self._inbox.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        # Kept until it is done: the session's socket is still in engineio's table.
        self._ending = asyncio.get_running_loop().create_task(_closed(self))


async def _closed(conn: DetachedConnection) -> None:
    sock = conn.sock
    try:
        await conn.end_session()
    finally:
        server = sock.server
        if server.sockets.get(sock.sid) is sock:
            del server.sockets[sock.sid]
