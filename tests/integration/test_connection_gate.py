"""The connection before and after signing in (chatserver/transport/gate.py), against the
real app with raw websockets (the `websockets` package), raw HTTP and python-socketio
clients, on whichever websocket path the settings choose (CI runs both).

docs/security.md, "The connection: before and after signing in", quotes these tests.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import socketio
import websockets
from aiohttp import web_protocol
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from chatserver.app import FAST_PATH_KEY, GATE_KEY, SIO_KEY
from chatserver.config import Settings
from chatserver.ratelog import BURST, CLIENTS
from chatserver.transport.connection import DirectConnection
from tests.conftest import Client, Server, make_settings, make_token, open_client, start_server


@pytest.fixture
async def gated(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """A server with the limits a test names (``@pytest.mark.parametrize`` not needed:
    the test passes its overrides through ``request.param``)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    srv, runner = await start_server(make_settings(**overrides))
    try:
        yield srv
    finally:
        await runner.cleanup()


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


async def open_raw(
    server: Server, *, forwarded_for: str | None = None, token_user: str | None = None
) -> ClientConnection:
    """An Engine.IO websocket session by the `websockets` client, signed in as
    ``token_user`` if given."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    ws = await ws_connect(ws_url(server), compression=None, additional_headers=headers)
    assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
    if token_user is not None:
        token = make_token(token_user, {"r1": "member"})
        await ws.send('40{"token":"' + token + '"}')
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40{")
    return ws


async def closed_with(ws: ClientConnection, timeout: float = 3) -> tuple[int | None, str]:
    """Read until the server ends the connection: its close code and reason (None when it
    dropped the TCP connection without a close frame, as engineio's path does)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the server kept the connection open"
            await asyncio.wait_for(ws.recv(), left)
    except websockets.ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else (None, "")
    except TimeoutError:
        raise AssertionError("the server kept the connection open") from None


def fast(server: Server) -> bool:
    active: bool = server.app[FAST_PATH_KEY].active
    return active


async def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    traced = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not traced, [f"{r.name}: {r.getMessage()}" for r in traced]
    assert "RecursionError" not in caplog.text


# -- item 2: binary attachments ------------------------------------------------------------

ATTACHMENT_HEADER = '459999999999-["message",{"_placeholder":true,"num":0}]'


async def test_a_binary_attachment_packet_is_refused_before_anything_is_kept(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """The header announces 9,999,999,999 attachments; python-socketio used to keep every
    binary frame after it (299 MB in 2.7 s). Now the header itself ends the connection,
    signed in or not, and the frames after it are never read into anything."""
    caplog.set_level(logging.INFO)
    CLIENTS.reset()
    for user, frames_after in (("mallory", 0), (None, 0), ("mallory", 20)):
        ws = await open_raw(server, token_user=user)
        await ws.send(ATTACHMENT_HEADER)
        for _ in range(frames_after):  # 1.3 MB the server must not keep (it may be gone)
            try:
                await ws.send(b"\0" * 65_000)
            except websockets.ConnectionClosed:
                break
        code, reason = await closed_with(ws)
        if fast(server):
            assert code == 1003
            if not frames_after:
                assert reason == "binary attachments are not accepted"
    await wait_until(lambda: not server.app[SIO_KEY].eio.sockets)
    assert "binary attachments are not accepted" in caplog.text
    no_tracebacks(caplog)


async def test_binary_messages_are_refused_on_every_transport(server: Server) -> None:
    # A binary websocket frame: refused on its header on the fast path (close 1003).
    ws = await open_raw(server, token_user="mallory")
    await ws.send(b"\x04 not a chat message")
    code, reason = await closed_with(ws)
    if fast(server):
        assert (code, reason) == (1003, "binary messages are not accepted")
    # The same as base64 text ("b..."), which engineio decodes to bytes: the session ends.
    ws = await open_raw(server, token_user="mallory")
    await ws.send("bBAQEBAQ=")
    await closed_with(ws)
    # And in a long-poll's body.
    async with aiohttp.ClientSession() as session:
        sid = await polling_session(session, server)
        async with session.post(polling_url(server, sid), data="bBAQEBAQ=") as resp:
            assert resp.status == 200
        await wait_until(lambda: sid not in server.app[SIO_KEY].eio.sockets)


def polling_url(server: Server, sid: str | None = None) -> str:
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    return url + (f"&sid={sid}" if sid else "")


async def polling_session(session: aiohttp.ClientSession, server: Server) -> str:
    async with session.get(polling_url(server)) as resp:
        assert resp.status == 200
        sid: str = json.loads((await resp.text())[1:])["sid"]
    return sid


# -- item 3: bad input makes one log line, never a traceback --------------------------------


async def test_unreadable_packets_close_the_connection_with_rate_limited_lines(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """`4x` used to log two tracebacks per packet on a connection that never signed in (19 MB
    of log for 10,000). Now the first one ends that connection, and however many
    connections do it, the log gets a few lines a kind, none with a traceback."""
    caplog.set_level(logging.INFO)
    CLIENTS.reset()
    for _ in range(20):
        ws = await open_raw(server)
        for _ in range(50):
            try:
                await ws.send("4x")
            except websockets.ConnectionClosed:
                break
        code, _ = await closed_with(ws)
        if fast(server):
            assert code == 1007
    lines = [r for r in caplog.records if "unreadable packet" in r.getMessage()]
    assert 1 <= len(lines) <= BURST, [r.getMessage() for r in lines]
    no_tracebacks(caplog)


async def test_json_nested_past_the_recursion_limit_is_bad_input(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alex = await open_client(server.url, make_token("alex", {"r1": "member"}))
    try:
        assert (await alex.call("join", {"room": "r1"}))["ok"] is True
        deep = "[" * 20_000 + "]" * 20_000
        for packet in (f'421["message",{deep}]', f"4{deep}"):
            ws = await open_raw(server, token_user="mallory")
            await ws.send(packet)
            code, _ = await closed_with(ws)
            if fast(server):
                assert code == 1007
        # Everyone else carries on.
        assert (await alex.send("r1", "still here"))["ok"] is True
    finally:
        await alex.sio.disconnect()
    no_tracebacks(caplog)


# -- item 5: connections that never sign in, and how many one address or user may hold ---


@pytest.mark.parametrize("gated", [{"connect_timeout_s": 1.0}], indirect=True)
async def test_a_session_that_never_signs_in_is_closed(gated: Server) -> None:
    server = gated
    member = await open_client(server.url, make_token("alex", {"r1": "member"}))
    try:
        silent = await open_raw(server)  # answers pings, never sends the connect packet
        async with aiohttp.ClientSession() as session:
            polling = await polling_session(session, server)
            started = time.monotonic()
            code, reason = await closed_with(silent, timeout=6)
            assert 0.8 <= time.monotonic() - started <= 5
            if fast(server):
                assert (code, reason) == (1008, "not signed in in time")
            await wait_until(lambda: polling not in server.app[SIO_KEY].eio.sockets, 4)
        # The signed-in one stays.
        await asyncio.sleep(0.5)
        assert member.sio.connected
        assert (await member.call("join", {"room": "r1"}))["ok"] is True
    finally:
        await member.sio.disconnect()


@pytest.mark.parametrize("gated", [{"max_connections_per_address": 3}], indirect=True)
async def test_connections_per_address(gated: Server) -> None:
    """Behind a trusted proxy (loopback here) the address is X-Forwarded-For's."""
    server = gated
    mine = [await open_raw(server, forwarded_for="198.51.100.4, 203.0.113.7") for _ in range(3)]
    try:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await open_raw(server, forwarded_for="203.0.113.7")
        assert refused.value.response.status_code == 401
        assert b"too many connections from this address" in refused.value.response.body
        # Polling is counted the same way.
        async with aiohttp.ClientSession() as session:
            headers = {"X-Forwarded-For": "203.0.113.7"}
            async with session.get(polling_url(server), headers=headers) as resp:
                assert resp.status == 401
        # Another address is not held up; a place freed is a place again.
        other = await open_raw(server, forwarded_for="203.0.113.8")
        await other.close()
        await mine.pop().close()
        await wait_until(lambda: server.app[GATE_KEY].open_from("203.0.113.7") == 2)
        mine.append(await open_raw(server, forwarded_for="203.0.113.7"))
    finally:
        for ws in mine:
            await ws.close()
    await wait_until(lambda: server.app[GATE_KEY].sessions == 0)


@pytest.mark.parametrize(
    "gated", [{"max_connections_per_address": 2, "trusted_proxies": ()}], indirect=True
)
async def test_x_forwarded_for_from_an_untrusted_peer_is_not_believed(gated: Server) -> None:
    server = gated
    first = await open_raw(server, forwarded_for="203.0.113.1")
    second = await open_raw(server, forwarded_for="203.0.113.2")
    try:
        with pytest.raises(websockets.InvalidStatus):
            await open_raw(server, forwarded_for="203.0.113.3")
        assert server.app[GATE_KEY].open_from("127.0.0.1") == 2
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("gated", [{"max_connections_per_user": 2}], indirect=True)
async def test_connections_per_user(gated: Server) -> None:
    """2,000 connections on one token used to be accepted."""
    server = gated
    token = make_token("alex", {"r1": "member"})
    tabs = [await open_client(server.url, token) for _ in range(2)]
    try:
        refused = Client(socketio.AsyncClient())
        with pytest.raises(socketio.exceptions.ConnectionError):
            await open_client(server.url, token, client=refused)
        (reason,) = refused.got("connect_error")
        assert "too many connections" in str(reason)
        # Someone else is not held up, and a tab closed frees a place.
        bea = await open_client(server.url, make_token("bea", {"r1": "member"}))
        await bea.sio.disconnect()
        await tabs.pop().sio.disconnect()
        await wait_until(lambda: server.app[GATE_KEY].open_for("alex") == 1)
        tabs.append(await open_client(server.url, token))
        assert (await tabs[-1].call("join", {"room": "r1"}))["ok"] is True
    finally:
        for tab in tabs:
            await tab.sio.disconnect()


# -- item 11: a polling body over the limit ---------------------------------------------


async def test_a_polling_post_over_the_limit_gets_413_at_once(server: Server) -> None:
    """It used to get no answer at all (engineio waited for a poll that never came)."""
    limit = server.app[SIO_KEY].eio.max_http_buffer_size
    async with aiohttp.ClientSession() as session:
        sid = await polling_session(session, server)
        started = time.monotonic()
        async with session.post(
            polling_url(server, sid), data="4" + "x" * limit, timeout=aiohttp.ClientTimeout(5)
        ) as resp:
            assert resp.status == 413
            assert resp.headers.get("Connection", "").lower() == "close"
        assert time.monotonic() - started < 2
        await wait_until(lambda: sid not in server.app[SIO_KEY].eio.sockets)


async def test_a_polling_body_engineio_refuses_is_answered_without_a_poll(
    server: Server,
) -> None:
    """A packet type a client may not send (NOOP) ends the session in engineio, which then
    waited, unanswered, for a poll to take the CLOSE packet."""
    async with aiohttp.ClientSession() as session:
        sid = await polling_session(session, server)
        started = time.monotonic()
        async with session.post(
            polling_url(server, sid), data="6", timeout=aiohttp.ClientTimeout(5)
        ) as resp:
            assert resp.status == 400
        assert time.monotonic() - started < 2
        assert sid not in server.app[SIO_KEY].eio.sockets


@pytest.mark.parametrize("gated", [{"http_request_timeout_s": 1.0}], indirect=True)
async def test_a_polling_body_that_never_arrives_gets_408(gated: Server) -> None:
    """Headers that promise a body, then nothing: engineio would wait for it for ever."""
    server = gated
    async with aiohttp.ClientSession() as session:
        sid = await polling_session(session, server)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(
            (
                f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
            ).encode()
        )
        started = time.monotonic()
        answer = await asyncio.get_running_loop().run_in_executor(None, raw.recv, 4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert 0.8 <= time.monotonic() - started < 3


# -- item 6: nothing of aiohttp's request is kept for a detached websocket ---------------


def request_handlers() -> int:
    """aiohttp request handlers and huddle connections alive (after a full collection)."""
    gc.collect()
    kinds = (web_protocol.RequestHandler, DirectConnection)
    return sum(1 for o in gc.get_objects() if isinstance(o, kinds))


async def test_reconnect_cycles_leave_no_request_handler_behind(server: Server) -> None:
    """Each detached websocket's aiohttp request handler (its parser, buffers and the
    request) used to live on for the keep-alive timeout (75 s in a worker, an hour in
    aiohttp's default) after the handshake, and each closed connection (transport,
    parser, buffers) for engineio's first ping interval (20 s) after it closed."""
    before = request_handlers()
    for i in range(40):
        ws = await open_raw(server, token_user=f"storm{i % 5}")
        await ws.close()
    await wait_until(lambda: not server.app[SIO_KEY].eio.sockets)
    await wait_until(lambda: not server.app[FAST_PATH_KEY].detached)

    def released() -> bool:
        return request_handlers() <= before + 2

    await wait_until(released, timeout=5)


def test_the_limits_are_settings_with_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.connect_timeout_s == 20
    assert settings.max_connections_per_address == 100
    assert settings.max_connections_per_user == 10
    assert settings.http_request_timeout_s == 10
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    env = {
        "HUDDLE_CONNECT_TIMEOUT_S": "5",
        "HUDDLE_MAX_CONNECTIONS_PER_ADDRESS": "20",
        "HUDDLE_MAX_CONNECTIONS_PER_USER": "3",
        "HUDDLE_HTTP_REQUEST_TIMEOUT_S": "4",
        "HUDDLE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
    }
    custom = Settings.from_env(env)
    assert (custom.connect_timeout_s, custom.max_connections_per_address) == (5, 20)
    assert (custom.max_connections_per_user, custom.http_request_timeout_s) == (3, 4)
    assert [str(n) for n in custom.trusted_proxies] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert Settings.from_env({"HUDDLE_TRUSTED_PROXIES": "none"}).trusted_proxies == ()
