"""Websockets on either path: huddle's own connections (the fast path) or engineio's.

Every test runs on whichever path the settings choose (CI runs the suite with
HUDDLE_WS_FAST_PATH on and off). Where a test looks inside the fast path, the fallback
asserts what a client sees instead.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import socket
import struct
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiohttp
import engineio.packet
import pytest
import socketio
import websockets
from engineio.async_socket import AsyncSocket
from websockets.asyncio.client import connect as ws_connect

from chatserver.app import FAST_PATH_KEY, SERVICE_KEY, SIO_KEY, metrics_url
from chatserver.config import ConfigError, Settings
from chatserver.metrics import Metrics
from chatserver.transport import internals
from chatserver.transport.connection import DirectConnection, connection_of
from chatserver.transport.fast_path import FastPath
from chatserver.transport.gate import POLL_GRACE_S
from tests.conftest import (
    Connect,
    Server,
    make_settings,
    make_token,
    open_client,
    start_server,
)


def fast_path(server: Server) -> FastPath:
    return server.app[FAST_PATH_KEY]


def direct(sock: Any) -> DirectConnection:
    conn = connection_of(sock)
    assert conn is not None, "not served by a DirectConnection"
    return conn


async def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_the_path_follows_the_setting_and_is_reported(server: Server) -> None:
    fast = fast_path(server)
    wanted = make_settings().ws_fast_path == "on"
    assert fast.active is wanted
    assert fast.probe.fast_path_ok, fast.probe.fast_path_failures  # the pinned versions
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/readyz") as resp:
            assert (await resp.json())["ws_path"] == ("fast" if wanted else "fallback")
        async with session.get(metrics_url(server.app) or "") as resp:
            lines = [
                line for line in (await resp.text()).splitlines() if line.startswith("huddle_ws")
            ]
    versions = fast.probe.versions
    assert lines == [
        f'huddle_ws_fast_path{{aiohttp="{versions["aiohttp"]}",'
        f'engineio="{versions["python-engineio"]}",'
        f'socketio="{versions["python-socketio"]}"}} {1.0 if wanted else 0.0}'
    ]


async def test_websocket_connections_take_the_chosen_path(server: Server, connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    await alex.send("r1", "hello")
    await alex.wait_for("message")
    (sock,) = server.app[SIO_KEY].eio.sockets.values()
    if fast_path(server).active:
        assert direct(sock).writable
        # Bound on this socket only: engineio's class keeps its own methods.
        assert sock.send == direct(sock).send
        assert type(sock).send is not type(direct(sock)).send
    else:
        assert connection_of(sock) is None


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
        served = [connection_of(s) is not None for s in sockets]
        assert served == [fast_path(server).active] * 2
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
        assert connection_of(poller) is None
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


async def test_a_server_ping_is_answered_and_schedules_the_next(server: Server) -> None:
    session, ws = await _raw_engineio(server)
    try:
        (sock,) = server.app[SIO_KEY].eio.sockets.values()
        if fast_path(server).active:
            direct(sock).ping()  # the ping timer firing
        else:
            # engineio's own ping task sleeps the 20 s interval; send what it would.
            sock.last_ping = time.time()
            await sock.send(engineio.packet.Packet(engineio.packet.PING))
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


async def test_a_closed_session_leaves_no_ping_waiting_behind(server: Server) -> None:
    """engineio schedules a session's first ping during the handshake, as a task that
    sleeps the whole ping interval (20 s) holding the socket. On the fast path that first
    ping is a timer the connection owns: a reconnect storm's closed sessions are gone at
    once, not 20 s later. (engineio's own path keeps its task: asserted as it is.)"""
    eio = server.app[SIO_KEY].eio
    refs = []
    for _ in range(5):
        session, _ws = await _raw_engineio(server)
        (sid,) = [sid for sid in eio.sockets if all(ref().sid != sid for ref in refs)]
        refs.append(weakref.ref(eio.sockets[sid]))
        await session.close()
        await wait_until(lambda sid=sid: sid not in eio.sockets)
    ping_tasks = [t for t in asyncio.all_tasks() if "_send_ping" in repr(t.get_coro())]
    if fast_path(server).active:
        assert ping_tasks == []

        def released() -> bool:
            gc.collect()
            # engineio's sweep of its sessions may hold one for a moment.
            return sum(ref() is not None for ref in refs) <= 1

        # The gate lets a closed session's last poll have its moment (POLL_GRACE_S).
        await wait_until(released, timeout=POLL_GRACE_S + 5)
    else:
        assert len(ping_tasks) == 5


async def test_the_first_ping_reaches_a_direct_websocket(server: Server) -> None:
    """The first ping, now a timer taken over at hand-over, still goes out on time."""
    server.app[SIO_KEY].eio.ping_interval = 0.2
    session, ws = await _raw_engineio(server)
    try:
        assert await ws.receive_str(timeout=5) == "2"
        await ws.send_str("3")
        assert await ws.receive_str(timeout=5) == "2"  # and the next one after the pong
    finally:
        await session.close()


async def test_junk_frames_end_at_most_their_own_connection(
    server: Server, connect: Connect
) -> None:
    """A packet engineio or python-socketio cannot read ends that connection, on either
    path, with one rate-limited log line (chatserver/transport/gate.py); the rest of the
    room carries on."""
    sam = await connect("sam", name="Sam")
    await sam.call("join", {"room": "r1"})
    for junk in ("", "4", "42[", "\u0000", "4x", "42{}"):
        session, ws = await _raw_engineio(server)
        try:
            await ws.send_str(junk)
            answer = await ws.receive(timeout=5)
            assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), junk
        finally:
            await session.close()
    assert (await sam.send("r1", "still here"))["ok"] is True


async def test_an_oversized_packet_ends_only_that_connection(
    server: Server, connect: Connect
) -> None:
    sam = await connect("sam", name="Sam")
    await sam.call("join", {"room": "r1"})
    session, ws = await _raw_engineio(server)
    try:
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


async def test_a_direct_websocket_answers_pings_and_ends_with_its_client(server: Server) -> None:
    """On the fast path the connect request ends once the handshake is answered: the
    connection is served by a small protocol object, not a running aiohttp handler (what
    keeps it ~8 KB). Either way, websocket pings are answered."""
    fast = fast_path(server)
    session, ws = await _raw_engineio(server)
    (ws_sid,) = server.app[SIO_KEY].eio.sockets
    try:
        if fast.active:
            assert len(fast.detached) == 1
            handlers = [t for t in asyncio.all_tasks() if "_handle_request" in repr(t.get_coro())]
            assert handlers == []
            # The same search does find a running request (a pending long-poll).
            async with aiohttp.ClientSession() as other:
                url = f"{server.url}/socket.io/?EIO=4&transport=polling"
                async with other.get(url) as resp:
                    sid = json.loads((await resp.text())[1:])["sid"]
                poll = asyncio.ensure_future(other.get(f"{url}&sid={sid}"))
                await wait_until(
                    lambda: any(
                        "_handle_request" in repr(t.get_coro()) for t in asyncio.all_tasks()
                    )
                )
                server.app[SIO_KEY].eio.sockets[sid].queue.put_nowait(None)  # as a drain does
                (await poll).release()
                async with other.post(f"{url}&sid={sid}", data="1"):  # the poller leaves
                    pass
        await ws.ping(b"still there?")
        pong = await ws.receive(timeout=5)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"still there?")
    finally:
        await session.close()
    await wait_until(lambda: not fast.detached)
    await wait_until(lambda: ws_sid not in server.app[SIO_KEY].eio.sockets)


async def test_a_client_close_is_answered_with_its_code_and_the_session_ends(
    server: Server,
) -> None:
    session, ws = await _raw_engineio(server)
    try:
        await ws.close(code=4000, message=b"bye")
        assert ws.close_code == (4000 if fast_path(server).active else 1000)
    finally:
        await session.close()
    await wait_until(lambda: not server.app[SIO_KEY].eio.sockets)


async def _engineio_over_websockets(server: Server) -> Any:
    """An Engine.IO session opened by the `websockets` client (an independent library)."""
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await ws_connect(url, compression=None)
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
    token = make_token("alex", {"r1": "member"})
    await ws.send('40{"token":"' + token + '"}')
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40{")
    return ws


async def test_text_that_is_not_utf8_closes_with_1007(server: Server) -> None:
    ws = await _engineio_over_websockets(server)
    try:
        await ws.send(b'42["join",{"room":"\xff\xfe"}]', text=True)
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("the connection stayed open")
        except websockets.ConnectionClosedError as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1007
    finally:
        await ws.close()


async def test_a_close_code_no_peer_may_send_is_a_protocol_error(server: Server) -> None:
    ws = await _engineio_over_websockets(server)
    try:
        # 1005 means "no code" and is never sent (RFC 6455 §7.4.1). The client library
        # refuses to send it, so the frame is written by hand, masked as a client must.
        ws.protocol.send_frame(
            websockets.frames.Frame(websockets.frames.Opcode.CLOSE, struct.pack("!H", 1005))
        )
        ws.send_data()
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("the connection stayed open")
        except websockets.ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1002
    finally:
        ws.transport.abort()


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
    assert not fast_path(server).detached
    assert not server.app[SERVICE_KEY].connections


async def test_shutdown_closes_websockets_that_never_signed_in(settings: Settings) -> None:
    srv, runner = await start_server(settings)
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"{srv.url}/socket.io/?EIO=4&transport=websocket")
        assert (await ws.receive_str(timeout=5)).startswith("0{")
        await asyncio.wait_for(runner.cleanup(), 10)
        closed = await ws.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert not srv.app[FAST_PATH_KEY].detached
    finally:
        await session.close()


def _raw_handshake(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
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
    return sock


def masked_text_frame(text: str) -> bytes:
    data = text.encode()
    mask = os.urandom(4)
    header = bytes((0x81, 0x80 | 126)) + struct.pack("!H", len(data))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def _signed_in(server: Server, user: str) -> str:
    """The Engine.IO sid of ``user``'s connection, once it has signed in."""
    service = server.app[SERVICE_KEY]

    def sids() -> list[str]:
        return [c.eio_sid for c in service.connections.values() if c.claims.user_id == user]

    await wait_until(lambda: len(sids()) == 1)
    return sids()[0]


async def test_a_member_who_stops_reading_is_dropped_and_recovers(
    connect: Connect,
) -> None:
    """A member whose device stops reading: everyone else keeps getting messages at
    once; the member is dropped, and on reconnecting gets what they missed."""
    # The log keeps every message this test may send, so the member recovers them all.
    settings = make_settings(
        ws_send_buffer_bytes=16 * 1024, send_queue_limit=10, history_size=10_000
    )
    server, runner = await start_server(settings)
    try:
        await _stops_reading(server, settings)
    finally:
        await runner.cleanup()


async def _stops_reading(server: Server, settings: Settings) -> None:
    fast = fast_path(server)
    sam = await open_client(server.url, make_token("sam", {"r1": "facilitator"}, name="Sam"))
    bea = await open_client(server.url, make_token("bea", {"r1": "member"}, name="Bea"))
    stalled = _raw_handshake(_port(server), rcvbuf=4096)
    try:
        joined = await bea.call("join", {"room": "r1"})
        assert (await sam.call("join", {"room": "r1"}))["ok"] is True
        token = make_token("stalled", {"r1": "member"})
        for text in ('40{"token":"' + token + '"}', '421["join",{"room":"r1"}]'):
            stalled.sendall(masked_text_frame(text))
        eio_sid = await _signed_in(server, "stalled")
        service = server.app[SERVICE_KEY]
        await wait_until(
            lambda: any(
                "r1" in c.rooms
                for c in service.connections.values()
                if c.claims.user_id == "stalled"
            )
        )
        sock = server.app[SIO_KEY].eio.sockets[eio_sid]
        if fast.active:
            # A slow link: the kernel takes little at a time (loopback buffers megabytes).
            transport = direct(sock).transport
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        text = "a long update about the pacing plan and the heat pad " * 40
        sent = 0
        # Until the reader is dropped: on the fast path once 16 KiB wait in the kernel's
        # buffer, on engineio's once 10 packets wait in its queue behind a blocked writer.
        while not service.metrics.registry.get_sample_value("huddle_slow_consumers_total"):
            assert sent < 5000, "the member who stopped reading was never dropped"
            sent += 1
            assert (await sam.send("r1", f"{sent} {text}"[:2000]))["ok"] is True
        got = await bea.wait_count("message", sent, timeout=30)
        assert [m["offset"] for m in got] == list(range(1, sent + 1))  # nobody held up
        await wait_until(
            lambda: not any(c.claims.user_id == "stalled" for c in service.connections.values()),
            timeout=20,  # engineio's path first waits for the client's close frame
        )
        # Back on a working connection, from where they were: nothing lost, nothing twice.
        back = await open_client(server.url, make_token("stalled", {"r1": "member"}))
        since = {"offset": 0, "epoch": joined["room"]["epoch"]}
        rejoined = await back.call("join", {"room": "r1", "since": since})
        assert rejoined["ok"] is True and rejoined["recovered"] is True, sent
        offsets = [e["offset"] for e in rejoined["entries"]]
        assert offsets == list(range(1, sent + 1))
        assert (await sam.send("r1", "welcome back"))["ok"] is True
        live = await back.wait_for("message")
        assert live["text"] == "welcome back"
        await back.sio.disconnect()
    finally:
        stalled.close()
        for client in (sam, bea):
            await client.sio.disconnect()


async def test_a_peer_that_vanishes_is_ended_by_the_read_timeout(connect: Connect) -> None:
    """A phone out of coverage sends no FIN: nothing read for the read timeout ends its
    session, while a client that keeps talking stays."""
    settings = make_settings(ws_read_timeout_s=1.0)
    server, runner = await start_server(settings)
    fast = fast_path(server)
    try:
        if not fast.active:
            # engineio's own bound: ping interval plus ping timeout, told to the client
            # in the OPEN packet (20 s each; waiting for it here would take 40 s).
            session, _ = await _raw_engineio(server)
            try:
                (sock,) = server.app[SIO_KEY].eio.sockets.values()
                assert sock.server.ping_interval + sock.server.ping_timeout == 40
            finally:
                await session.close()
            return
        silent = _raw_handshake(_port(server))
        token = make_token("gone", {"r1": "member"})
        silent.sendall(masked_text_frame('40{"token":"' + token + '"}'))
        gone = await _signed_in(server, "gone")
        talker = await _engineio_over_websockets(server)
        try:
            started = asyncio.get_running_loop().time()
            while gone in server.app[SIO_KEY].eio.sockets:
                assert asyncio.get_running_loop().time() - started < 5, "never timed out"
                await talker.ping()
                await asyncio.sleep(0.2)
            assert asyncio.get_running_loop().time() - started >= 0.8
            # The talker, quiet for no longer than the timeout, is still served.
            await talker.send('421["join",{"room":"r1"}]')
            assert json.loads(str(await asyncio.wait_for(talker.recv(), 5))[3:])[0]["ok"]
            silent.settimeout(5)
            try:
                rest = silent.recv(65536)
                while rest:
                    rest = silent.recv(65536)
            except ConnectionResetError:
                pass  # the server aborted: the peer is gone, nothing to say goodbye to
        finally:
            await talker.close()
            silent.close()
    finally:
        await runner.cleanup()


def test_the_send_buffer_and_read_timeout_are_settings() -> None:
    env = {"HUDDLE_WS_SEND_BUFFER_BYTES": "65536", "HUDDLE_WS_READ_TIMEOUT_S": "90"}
    settings = Settings.from_env(env)
    assert (settings.ws_send_buffer_bytes, settings.ws_read_timeout_s) == (65536, 90.0)
    assert replace(settings, ws_fast_path="off").ws_fast_path == "off"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HUDDLE_WS_FAST_PATH", "maybe"),
        ("HUDDLE_WS_SEND_BUFFER_BYTES", "1000"),
        ("HUDDLE_WS_SEND_BUFFER_BYTES", "lots"),
        ("HUDDLE_WS_READ_TIMEOUT_S", "10"),  # below the ping interval: live clients cut
    ],
)
def test_bad_websocket_settings_stop_the_server(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: raw})


def test_the_probe_passes_on_the_locked_versions() -> None:
    result = internals.probe(socketio.AsyncServer(async_mode="aiohttp"))
    assert result.fast_path_ok, result.fast_path_failures
    assert set(result.versions) == {"aiohttp", "python-engineio", "python-socketio"}
    assert all(v != "unknown" for v in result.versions.values())


def test_a_failing_probe_means_the_fallback_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server whose engineio is not in aiohttp mode has no websocket class to replace:
    the probe fails, and the server says so instead of patching anything."""
    metrics = Metrics()
    with caplog.at_level(logging.WARNING, logger="chatserver.transport.fast_path"):
        fast = FastPath(
            make_settings(ws_fast_path="on"), socketio.AsyncServer(async_mode="asgi"), metrics
        )
    assert (fast.active, fast.path) == (False, "fallback")
    assert "probe failed" in fast.reason and "websocket" in fast.reason
    assert any("websocket path: fallback (probe failed" in r.message for r in caplog.records)
    samples = [s for m in metrics.registry.collect() for s in m.samples]
    assert [s.value for s in samples if s.name == "huddle_ws_fast_path"] == [0.0]


def test_engineio_s_class_is_never_patched(server: Server) -> None:
    for name in ("send", "schedule_ping", "receive", "close"):
        assert getattr(AsyncSocket, name).__module__ == "engineio.async_socket", name


async def test_requests_and_other_events_are_each_answered_in_order(server: Server) -> None:
    """Requests with a handler of huddle's are answered without python-socketio's
    per-event path (chatserver/transport/requests.py); an unknown event still reaches
    python-socketio's catch-all. Each gets its own ack, with its own id."""
    session, ws = await _raw_engineio(server)
    try:
        await ws.send_str('421["join",{"room":"r1"}]')
        await ws.send_str('422["no_such_event",{}]')
        await ws.send_str('423["join",{"room":"r1"},"one too many"]')
        await ws.send_str('424["message",{"room":"r1","text":"hi","client_id":"not-a-uuid"}]')
        acks = {}
        while len(acks) < 4:
            text = await ws.receive_str(timeout=5)
            if text.startswith("43"):
                acks[text[2]] = json.loads(text[3:])[0]
        assert acks["1"]["ok"] is True and acks["1"]["room"]["id"] == "r1"
        assert acks["2"]["error"]["code"] == "invalid_payload"
        assert "no_such_event" in acks["2"]["error"]["message"]
        assert acks["3"]["error"]["code"] == "invalid_payload"
        assert acks["4"]["error"]["code"] == "invalid_payload"
        assert "client_id" in acks["4"]["error"]["message"]
    finally:
        await session.close()


async def _server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    return head[0] & 0x0F, await reader.readexactly(length)


async def _raw_stream(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket opened by hand (no client library): what it sends is written as is."""
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer


async def _answers(
    reader: asyncio.StreamReader, answers: int, messages: int = 0
) -> tuple[list[str], list[str]]:
    """The next ``answers`` connect answers and acks, and the texts of the next
    ``messages`` room messages, as they arrive."""
    got: list[str] = []
    delivered: list[str] = []
    while len(got) < answers or len(delivered) < messages:
        opcode, payload = await asyncio.wait_for(_server_frame(reader), 5)
        text = payload.decode()
        if opcode != 1 or text.startswith(("0{", "2")):  # the OPEN packet, pings
            continue
        if text.startswith(("40", "43")):
            got.append(text)
        elif text.startswith('42["message"'):
            delivered.append(json.loads(text[2:])[1]["text"])
    return got, delivered


def _post(ack_id: int, text: str) -> str:
    body = {"room": "r1", "text": text, "client_id": str(uuid.uuid4())}
    return f"42{ack_id}" + json.dumps(["message", body])


async def test_a_sign_in_and_requests_read_at_once_are_answered_in_order(server: Server) -> None:
    """On huddle's websocket path a request with nothing ahead of it is answered as soon
    as it is read, without engineio's per-packet path; one read behind a sign-in waits
    for it. A client whose sign-in, join and two messages arrive in one read gets every
    one answered, in the order sent, and both messages delivered in that order."""
    reader, writer = await _raw_stream(server)
    try:
        token = make_token("alex", {"r1": "member"})
        texts = [
            '40{"token":"' + token + '"}',
            '421["join",{"room":"r1"}]',
            _post(2, "first"),
            _post(3, "second"),
        ]
        writer.write(b"".join(masked_text_frame(text) for text in texts))
        answers, delivered = await _answers(reader, 4, 2)
        assert answers[0].startswith("40{")
        assert [a[:3] for a in answers[1:]] == ["431", "432", "433"]
        assert all(json.loads(a[3:])[0]["ok"] is True for a in answers[1:])
        assert delivered == ["first", "second"]
    finally:
        writer.close()


async def test_a_message_read_after_a_sign_out_is_not_posted(server: Server) -> None:
    """A request read behind a packet engineio handles (here the Socket.IO disconnect,
    ``41``) waits for it, even in the same read: a message sent after signing out is not
    posted. Signing in again and joining (the barrier) shows the room's history."""
    reader, writer = await _raw_stream(server)
    try:
        token = make_token("alex", {"r1": "member"})
        sign_in = '40{"token":"' + token + '"}'
        writer.write(masked_text_frame(sign_in) + masked_text_frame('421["join",{"room":"r1"}]'))
        await _answers(reader, 2)
        texts = ["41", _post(2, "after signing out"), sign_in, '423["join",{"room":"r1"}]']
        writer.write(b"".join(masked_text_frame(text) for text in texts))
        answers, _ = await _answers(reader, 2)
        assert answers[0].startswith("40{")
        assert answers[1].startswith("433")
        joined = json.loads(answers[1][3:])[0]
        assert joined["ok"] is True
        assert [e.get("text") for e in joined["entries"]] == []
    finally:
        writer.close()
