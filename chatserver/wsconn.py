"""A websocket Engine.IO connection that owns its transport once the handshake is done.

aiohttp keeps a request, its parsed headers, a response, a reader queue, a handler task
and a stack of suspended coroutines alive for as long as a websocket handler runs: most
of an idle connection's memory (DESIGN §6 wants ≤ 15 KB per connection). A client that
opens a websocket directly (the web client and the official clients do) is instead
answered with the 101 handshake here, and its transport is handed to a small protocol
object: frames are parsed in ``data_received`` (chatserver/wsframes.py), Engine.IO
packets go to engineio's socket, and everything sent to it is a direct write
(chatserver/wsdirect.py). The aiohttp request then ends and is freed.

A polling connection that upgrades keeps aiohttp's websocket (wsdirect.serve): its
upgrade handshake overlaps the poll, and it is the rare case.

This relies on aiohttp 3.14 internals (the request handler's ``_message_tail``,
``_manager`` and ``transport`` attributes); pyproject pins the minor version and
``can_detach`` checks they are there, falling back to aiohttp's websocket if not.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from aiohttp import web
from engineio.async_socket import AsyncSocket

from chatserver import wsdirect, wsframes

# What is left of the connect request once the connection is detached: python-socketio
# keeps the environ for the connection's lifetime; the request object and its body stream
# would keep every aiohttp structure of the request alive with it.
_ENVIRON_KEEP = frozenset(
    {"REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_USER_AGENT", "PATH_INFO", "QUERY_STRING"}
)

open_connections: set[EngineIOWebSocket] = set()
"""Every detached connection, so a shutting-down app can close them (aiohttp no longer
knows about them)."""


def can_detach(request: web.BaseRequest) -> bool:
    handler = request.protocol
    transport = request.transport
    return (
        wsdirect.ENABLED
        and transport is not None
        and not transport.is_closing()  # the client left during the handshake
        and all(hasattr(handler, name) for name in ("_message_tail", "_manager", "transport"))
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
    if not wsframes.valid_client_key(headers.get("Sec-WebSocket-Key", "")):
        return "invalid Sec-WebSocket-Key"
    return None


def detach(request: web.BaseRequest, sock: AsyncSocket, environ: dict[str, Any]) -> None:
    """Answer the handshake and take the connection over from aiohttp."""
    handler: Any = request.protocol
    transport = request.transport
    assert transport is not None
    key = request.headers["Sec-WebSocket-Key"]
    # Bytes that came after the handshake request (aiohttp holds them for an upgrade).
    tail: bytes = handler._message_tail
    handler._message_tail = b""
    if handler._manager is not None:
        handler._manager.connection_lost(handler, None)  # aiohttp stops tracking it
    # aiohttp closes its transport when the request ends; it no longer has one.
    handler.transport = None
    conn = EngineIOWebSocket(sock, transport, sock.server.max_http_buffer_size)
    transport.set_protocol(conn)
    open_connections.add(conn)
    transport.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + wsframes.accept_key(key).encode() + b"\r\n\r\n"
    )
    sock.connected = True
    sock.upgraded = True
    wsdirect.hand_over(sock, transport)
    for name in [k for k in environ if k not in _ENVIRON_KEEP]:
        del environ[name]
    if not transport.is_reading():
        transport.resume_reading()
    if tail:
        conn.data_received(tail)


class EngineIOWebSocket(asyncio.Protocol):
    """One detached connection: frames in, Engine.IO packets to engineio, in order."""

    __slots__ = ("_inbox", "_parser", "_pump", "_sock", "_transport")

    def __init__(self, sock: AsyncSocket, transport: asyncio.Transport, max_size: int) -> None:
        self._sock = sock
        self._transport = transport
        self._parser = wsframes.FrameParser(max_size)
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._pump: asyncio.Task[None] | None = None

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._parser.feed(data)
        except wsframes.FrameError as exc:
            self.close(exc.code)
            return
        for frame in frames:
            opcode = frame.opcode
            if opcode == wsframes.TEXT:
                try:
                    self._inbox.append(frame.payload.decode("utf-8"))
                except UnicodeDecodeError:
                    self.close(wsframes.INVALID_DATA)
                    return
            elif opcode == wsframes.BINARY:
                self._inbox.append(frame.payload)
            elif opcode == wsframes.PING:
                wsdirect.write(self._transport, wsframes.encode(wsframes.PONG, frame.payload))
            elif opcode == wsframes.CLOSE:
                self.close(wsframes.NORMAL)
                return
        if self._inbox and self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._deliver())

    async def _deliver(self) -> None:
        """Hand packets to engineio one at a time, in arrival order (a connect finishes
        before the events after it are looked at)."""
        sock, inbox = self._sock, self._inbox
        try:
            while inbox and not sock.closed:
                if not await wsdirect.receive(sock, inbox.popleft()):
                    break
        finally:
            self._pump = None

    def close(self, code: int = wsframes.NORMAL) -> None:
        """Close the connection with a close frame (after anything already written)."""
        self._inbox.clear()
        wsdirect.write(self._transport, wsframes.close_frame(code))
        asyncio.get_running_loop().call_soon(self._transport.close)

    def pause_writing(self) -> None:
        """Fan-out watches the write buffer itself and drops readers that fall behind."""

    def resume_writing(self) -> None:
        """See pause_writing."""

    def connection_lost(self, exc: Exception | None) -> None:
        open_connections.discard(self)
        self._inbox.clear()
        sock = self._sock
        asyncio.get_running_loop().create_task(_closed(sock))


async def _closed(sock: AsyncSocket) -> None:
    server = sock.server
    try:
        await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
    finally:
        if server.sockets.get(sock.sid) is sock:
            del server.sockets[sock.sid]


def close_all() -> None:
    """End every detached connection (app shutdown): clients see a drop and reconnect."""
    for conn in list(open_connections):
        conn.close()
