"""Direct websocket writes: the frames are right, and live connections really use them."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from chatserver import fanout, wsconn, wsdirect
from chatserver.app import SERVICE_KEY, SIO_KEY
from chatserver.config import Settings
from tests.conftest import Connect, Server, make_token, open_client, start_server


def test_frames_are_unmasked_final_frames_of_the_right_length() -> None:
    assert wsdirect.frame("4hi") == b"\x81\x034hi"
    medium = "x" * 300
    assert wsdirect.frame(medium)[:4] == b"\x81\x7e" + struct.pack("!H", 300)
    large = "y" * 70_000
    assert wsdirect.frame(large)[:10] == b"\x81\x7f" + struct.pack("!Q", 70_000)
    assert wsdirect.frame(b"\x00\x01")[:2] == b"\x82\x02"
    assert wsdirect.frame("é") == b"\x81\x02" + "é".encode()


async def test_websocket_connections_take_the_direct_path(server: Server, connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    await alex.send("r1", "hello")
    await alex.wait_for("message")
    assert wsdirect.ENABLED
    sockets = list(server.app[SIO_KEY].eio.sockets.values())
    assert len(sockets) == 1
    assert wsdirect.direct_transport(sockets[0]) is not None


async def test_a_polling_client_upgrades_and_chats_with_a_websocket_client(
    server: Server, connect: Connect
) -> None:
    """The browser's path: long-polling first, then the websocket upgrade handshake."""
    sam = await connect("sam", name="Sam")
    upgraded = await open_client(
        server.url, make_token("alex", {"r1": "member"}), transports=("polling", "websocket")
    )
    try:
        await wait_until(lambda: upgraded.sio.transport() == "websocket")
        assert (await upgraded.call("join", {"room": "r1"}))["ok"] is True
        assert (await sam.call("join", {"room": "r1"}))["ok"] is True
        for i in range(4):  # within the rate limit's burst
            assert (await upgraded.send("r1", f"from the upgraded one {i}"))["ok"] is True
            assert (await sam.send("r1", f"from the websocket one {i}"))["ok"] is True
        for client in (upgraded, sam):
            got = await client.wait_count("message", 8)
            assert [m["offset"] for m in got] == list(range(1, 9))
        sockets = server.app[SIO_KEY].eio.sockets.values()
        assert all(wsdirect.direct_transport(s) is not None for s in sockets)
    finally:
        await upgraded.sio.disconnect()


async def test_a_polling_only_client_still_chats(server: Server, connect: Connect) -> None:
    sam = await connect("sam", name="Sam")
    polling = await open_client(
        server.url, make_token("alex", {"r1": "member"}), transports=("polling",)
    )
    try:
        await polling.call("join", {"room": "r1"})
        await sam.call("join", {"room": "r1"})
        await sam.send("r1", "can you see this")
        assert (await polling.send("r1", "yes"))["ok"] is True
        got = await polling.wait_count("message", 2)
        assert [m["text"] for m in got] == ["can you see this", "yes"]
        (poller,) = [s for s in server.app[SIO_KEY].eio.sockets.values() if not s.upgraded]
        assert not wsdirect.is_direct(poller)
    finally:
        # End it from the server, as a drain does (python-socketio's client would otherwise
        # wait out its pending long-poll on disconnect).
        for sock in server.app[SIO_KEY].eio.sockets.values():
            if not sock.upgraded:
                sock.queue.put_nowait(None)
        await polling.sio.disconnect()


async def _raw_engineio(server: Server) -> tuple[aiohttp.ClientSession, Any]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(
        f"{server.url}/socket.io/?EIO=4&transport=websocket", autoping=False
    )
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{")
    token = make_token("alex", {"r1": "member"})
    await ws.send_str('40{"token":"' + token + '"}')
    assert (await ws.receive_str(timeout=5)).startswith("40{")
    return session, ws


async def test_pings_are_timers_and_pongs_keep_the_connection(server: Server) -> None:
    session, ws = await _raw_engineio(server)
    try:
        (sock,) = server.app[SIO_KEY].eio.sockets.values()
        wsdirect._ping(sock)  # the timer firing
        assert await ws.receive_str(timeout=5) == "2"
        assert sock.last_ping
        await ws.send_str("3")
        await wait_until(lambda: sock.last_ping is None)  # pong seen, next ping scheduled
        await ws.send_str('42["join",{"room":"r1"}]')  # no ack id: nothing comes back
        await ws.send_str('421["join",{"room":"r1"}]')
        ack = await ws.receive_str(timeout=5)
        assert ack.startswith('431[{"ok":true')
    finally:
        await session.close()


async def test_junk_frames_are_ignored_and_oversized_ones_end_only_that_connection(
    server: Server, connect: Connect
) -> None:
    sam = await connect("sam", name="Sam")
    await sam.call("join", {"room": "r1"})
    session, ws = await _raw_engineio(server)
    try:
        for junk in ("", "9", "4", "42[", "42[1,2]", "\u0000"):
            await ws.send_str(junk)
        await ws.send_str('421["join",{"room":"r1"}]')
        assert (await ws.receive_str(timeout=5)).startswith('431[{"ok":true')
        await ws.send_str("4" + "x" * (server_max_frame(server) + 10))
        closed = await ws.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await session.close()
    # The rest of the room carries on.
    assert (await sam.send("r1", "still here"))["ok"] is True


def server_max_frame(server: Server) -> int:
    limit: int = server.app[SIO_KEY].eio.max_http_buffer_size
    return limit


async def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_direct_websocket_is_detached_from_aiohttp(server: Server) -> None:
    """The connect request ends once the handshake is answered: the connection is served
    by a small protocol object, not a running aiohttp handler (what keeps it ~8 KB)."""
    session, ws = await _raw_engineio(server)
    try:
        assert len(wsconn.open_connections) == 1
        # No aiohttp request handler is left running for it.
        handlers = [t for t in asyncio.all_tasks() if "_handle_request" in repr(t.get_coro())]
        assert handlers == []
        await ws.ping(b"still there?")
        pong = await ws.receive(timeout=5)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"still there?")
    finally:
        await session.close()
    await wait_until(lambda: not wsconn.open_connections)
    await wait_until(lambda: not server.app[SIO_KEY].eio.sockets)


async def test_a_client_close_is_answered_and_the_session_ends(server: Server) -> None:
    session, ws = await _raw_engineio(server)
    try:
        await ws.close()
        assert ws.close_code == 1000
    finally:
        await session.close()
    await wait_until(lambda: not server.app[SIO_KEY].eio.sockets)


async def test_text_that_is_not_utf8_closes_with_1007(server: Server) -> None:
    session, ws = await _raw_engineio(server)
    try:
        await ws._writer.send_frame(b"\xff\xfe", aiohttp.WSMsgType.TEXT)  # type: ignore[union-attr]
        closed = await ws.receive(timeout=5)
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 1007
    finally:
        await session.close()


async def test_a_bad_handshake_gets_400_and_no_session(server: Server) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{server.url}/socket.io/?EIO=4&transport=websocket",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "too short",
            },
        ) as resp,
    ):
        assert resp.status == 400
    assert not wsconn.open_connections


async def test_shutdown_closes_detached_connections(settings: Settings) -> None:
    srv, runner = await start_server(settings)
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"{srv.url}/socket.io/?EIO=4&transport=websocket")
        assert (await ws.receive_str(timeout=5)).startswith("0{")
        await asyncio.wait_for(runner.cleanup(), 10)
        closed = await ws.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert not wsconn.open_connections
    finally:
        await session.close()


async def test_without_detaching_websockets_are_served_through_aiohttp(
    server: Server, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback when aiohttp's internals are not what wsconn expects."""
    monkeypatch.setattr(wsconn, "can_detach", lambda request: False)
    sam = await connect("sam", name="Sam")
    alex = await connect("alex", name="Alex")
    assert not wsconn.open_connections
    for client in (sam, alex):
        assert (await client.call("join", {"room": "r1"}))["ok"] is True
    assert (await alex.send("r1", "served the other way"))["ok"] is True
    got = await sam.wait_for("message")
    assert got["text"] == "served the other way"
    sockets = server.app[SIO_KEY].eio.sockets.values()
    assert all(wsdirect.direct_transport(s) is not None for s in sockets)


async def _stalled_member(server: Server, user: str) -> socket.socket:
    """A member whose device stops reading: a raw websocket with a tiny receive buffer
    that joins room r1 and then never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    port = int(server.url.rsplit(":", 1)[1])
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    token = make_token(user, {"r1": "member"})
    for text in ('40{"token":"' + token + '"}', '421["join",{"room":"r1"}]'):
        sock.sendall(masked_text_frame(text))
    await asyncio.sleep(0.3)  # handshake, OPEN, connect and join answered; then never read
    return sock


def masked_text_frame(text: str) -> bytes:
    data = text.encode()
    mask = os.urandom(4)
    header = bytes((0x81, 0x80 | 126)) + struct.pack("!H", len(data))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def test_a_member_who_stops_reading_is_dropped_and_the_room_carries_on(
    server: Server, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "SLOW_READER_BYTES", 16 * 1024)
    sam = await connect("sam", {"r1": "facilitator"}, name="Sam")  # no rate limit
    bea = await connect("bea", name="Bea")
    for client in (sam, bea):
        assert (await client.call("join", {"room": "r1"}))["ok"] is True
    stalled = await _stalled_member(server, "stalled")
    service = server.app[SERVICE_KEY]
    (eio_sid,) = [c.eio_sid for c in service.connections.values() if c.claims.user_id == "stalled"]
    (conn,) = [c for c in wsconn.open_connections if c._sock.sid == eio_sid]
    # A slow link: the kernel takes little at a time (loopback would buffer megabytes).
    conn._transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    metrics = service.metrics
    try:
        text = "a long update about the pacing plan and the heat pad " * 30
        for i in range(150):
            assert (await sam.send("r1", f"{i} {text}"[:1500]))["ok"] is True
        got = await bea.wait_count("message", 150, timeout=20)
        assert [m["offset"] for m in got] == list(range(1, 151))  # nobody else held up
        assert metrics.slow_consumers._value.get() >= 1
        await wait_until(lambda: eio_sid not in server.app[SIO_KEY].eio.sockets)
        assert not any(c.claims.user_id == "stalled" for c in service.connections.values())
    finally:
        stalled.close()
