"""The websocket end of the fast path: what engineio builds for a websocket request.

A websocket opened directly is answered and detached from aiohttp
(chatserver/transport/detached.py). A polling connection that upgrades keeps aiohttp's
websocket, read here in the request's own handler task, one frame at a time: its upgrade
handshake overlaps the poll, and it is the rare case. Neither offers permessage-deflate.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket

from chatserver.transport import frames, internals
from chatserver.transport.connection import DirectConnection, hand_over
from chatserver.transport.detached import DetachedConnection, handshake_error

if TYPE_CHECKING:
    from chatserver.transport.fast_path import FastPath

BINARY_REFUSED = b"binary messages are not accepted"


class Detached(web.StreamResponse):
    """What aiohttp is handed back for a connection huddle has taken over: nothing to
    prepare or write (aiohttp no longer has the transport; a ``web.Response`` built its
    headers for nobody, a few per cent of a connect), and not kept alive, so aiohttp's
    request handler ends at once instead of waiting out its keep-alive timeout."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class WebSocketEndpoint(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """Engine.IO's aiohttp websocket, served by huddle's connection objects.

    Without permessage-deflate: aiohttp accepts deflate by default and engineio exposes no
    option. Measured with python-socketio here, deflate costs ~4x memory per idle
    connection and most of the CPU under load, for chat frames of a few hundred bytes.
    """

    def __init__(self, fast_path: FastPath, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self.fast_path = fast_path

    async def __call__(self, environ: dict[str, Any]) -> web.StreamResponse:
        request: web.BaseRequest = environ["aiohttp.request"]
        fast = self.fast_path
        sock = internals.socket_of(self.handler)
        transport = request.transport
        if sock is None or transport is None or transport.is_closing():
            # Not a session of this server, or its client left during the handshake.
            return await self._serve_by_engineio(request, environ)
        if not sock.connected:
            # A websocket opened directly: answered and served without aiohttp's
            # per-request structures.
            error = handshake_error(request)
            if error is not None:
                return web.Response(status=400, text=error)
            DetachedConnection.detach(
                request,
                sock,
                environ,
                fast.coalescer,
                send_buffer_limit=fast.send_buffer_bytes,
                read_timeout_s=fast.read_timeout_s,
                open_connections=fast.detached,
                take_event=fast.take_event,
            )
            return Detached()
        ws = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await ws.prepare(request)
        self._sock = ws
        self.environ = environ
        await self._serve_upgraded(sock, ws, transport)
        return ws

    async def _serve_by_engineio(
        self, request: web.BaseRequest, environ: dict[str, Any]
    ) -> web.StreamResponse:
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock

    async def _serve_upgraded(
        self, sock: AsyncSocket, ws: web.WebSocketResponse, transport: asyncio.Transport
    ) -> None:
        """Run an upgrading polling session on aiohttp's websocket until either side ends
        it: read here, written by a DirectConnection."""
        server = sock.server
        max_bytes = server.max_http_buffer_size
        idle_s = self.fast_path.read_timeout_s
        if not await _upgrade(sock, ws, idle_s):
            return
        sock.connected = True
        sock.upgraded = True
        conn = DirectConnection(
            sock, transport, self.fast_path.coalescer, self.fast_path.send_buffer_bytes
        )
        if transport.is_closing():
            await conn.end_session()
            return
        hand_over(sock, conn)
        try:
            while not sock.closed:
                msg = await ws.receive(timeout=idle_s)
                if msg.type is WSMsgType.BINARY:
                    # The protocol has no use for binary messages (chatserver/transport/gate.py).
                    await ws.close(code=frames.UNSUPPORTED_DATA, message=BINARY_REFUSED)
                    break
                if msg.type is not WSMsgType.TEXT:
                    break  # closed by the client, by us, or an error
                if len(msg.data) > max_bytes:
                    break  # engineio ends the connection on an oversized packet too
                if not await conn.receive(msg.data):
                    break
        except TimeoutError:
            pass  # nothing from the client for the read timeout: it is gone
        finally:
            await conn.end_session()
            if not ws.closed:
                await ws.close()


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
