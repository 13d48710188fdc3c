"""Shared fixtures: a real huddle app on an ephemeral port and real Socket.IO clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pytest
import socketio
from aiohttp import web

from chatserver.app import create_app
from chatserver.auth import issue_token
from chatserver.config import Settings
from tests.redis_cluster import RedisClusterProcesses
from tests.redis_server import RedisServer

if TYPE_CHECKING:
    from tests.two_workers import Room

SECRET = "test-secret-" + "x" * 40


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (HUDDLE_NO_SKIPS=1) a skipped test is a failed run: every Redis, nginx and
    browser test must really run."""
    if os.environ.get("HUDDLE_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        names = ", ".join(sorted({r.nodeid for r in skipped})[:10])
        print(f"\nHUDDLE_NO_SKIPS=1: {len(skipped)} test(s) skipped: {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def make_token(
    user: str, rooms: dict[str, str], *, name: str | None = None, ttl_s: int = 600
) -> str:
    return issue_token(
        SECRET,
        user_id=user,
        name=name or user.title(),
        rooms=rooms,
        now=int(time.time()),
        ttl_s=ttl_s,
    )


@dataclass
class Server:
    url: str
    app: web.Application


@dataclass(frozen=True)
class Mark:
    """How many of each event a client had received at one moment (``Client.mark``)."""

    counts: dict[str, int]


@dataclass
class Client:
    """A real python-socketio client that records what it receives.

    ``wait_for`` never returns an event an earlier ``wait_for`` on this client returned:
    waiting twice for a kind of event (a second ``session_started``) waits for a second
    one. To wait for what an action causes, when an event of that kind may have come
    before it without being waited for, take ``mark()`` before the action and pass it as
    ``after``: then only events received after the mark count."""

    sio: socketio.AsyncClient
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Per event, the indices in `events` that wait_for has returned.
    returned: dict[str, set[int]] = field(default_factory=dict)
    # Set by the recorder on every event: a waiting helper wakes at once, not on a poll.
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, event: str, data: Any, timeout: float = 5) -> dict[str, Any]:
        result: dict[str, Any] = await self.sio.call(event, data, timeout=timeout)
        return result

    async def send(self, room: str, text: str, client_id: str | None = None) -> dict[str, Any]:
        return await self.call(
            "message", {"room": room, "text": text, "client_id": client_id or str(uuid.uuid4())}
        )

    def got(self, event: str, after: Mark | None = None) -> list[dict[str, Any]]:
        """Everything of `event` received (the live list), or a copy of what came after `after`."""
        items = self.events.setdefault(event, [])
        return items if after is None else items[after.counts.get(event, 0) :]

    def mark(self) -> Mark:
        return Mark({event: len(items) for event, items in self.events.items()})

    async def wait_for(
        self,
        event: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 5,
        *,
        after: Mark | None = None,
    ) -> dict[str, Any]:
        """The first `event` matching `predicate` not returned before (and, given `after`,
        received after that mark)."""
        start = after.counts.get(event, 0) if after is not None else 0
        returned = self.returned.setdefault(event, set())
        deadline = time.monotonic() + timeout
        while True:
            self.arrived.clear()  # before looking: what comes after sets it again
            items = self.got(event)
            for index in range(start, len(items)):
                if index not in returned and predicate(items[index]):
                    returned.add(index)
                    return items[index]
            if not await self._arrival(deadline):
                break
        raise AssertionError(
            f"no new {event!r} matching within {timeout}s (after {start}, already returned"
            f" {sorted(returned)}); got {self.got(event)!r}"
        )

    async def wait_count(
        self, event: str, count: int, timeout: float = 5, *, after: Mark | None = None
    ) -> list[dict[str, Any]]:
        """At least `count` of `event` (received after `after`, given one)."""
        deadline = time.monotonic() + timeout
        while True:
            self.arrived.clear()
            if len(self.got(event, after)) >= count or not await self._arrival(deadline):
                break
        items = self.got(event, after)
        assert len(items) >= count, f"expected {count} {event!r}, got {len(items)}"
        return items

    async def _arrival(self, deadline: float) -> bool:
        """Until the next event arrives (or 50 ms, for lists a test fills itself); False
        once the deadline has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.arrived.wait(), min(left, 0.05))
        return True


Connect = Callable[..., Awaitable[Client]]


async def open_client(
    url: str,
    token: str | None,
    *,
    auth: Any = None,
    client: Client | None = None,
    transports: tuple[str, ...] = ("websocket",),
) -> Client:
    """Connect a client; pass ``client`` to record into an existing one (to see refusals).
    ``transports`` as a browser may use them: ("polling", "websocket") polls, then upgrades."""
    sio = socketio.AsyncClient(reconnection=False)
    if client is None:
        client = Client(sio)
    else:
        client.sio = sio
    for event in (
        "message",
        "room_event",
        "presence",
        "typing",
        "hand",
        "notice",
        "alert",
        "space",
        "connect_error",
    ):
        sio.on(event, _recorder(client, event))
    await sio.connect(
        url,
        auth=auth if auth is not None else {"token": token},
        transports=list(transports),
        wait_timeout=5,
    )
    return client


def _recorder(client: Client, event: str) -> Callable[[dict[str, Any]], None]:
    def record(data: Any = None) -> None:
        client.got(event).append(data)
        client.arrived.set()

    return record


def make_settings(**overrides: Any) -> Settings:
    # CI runs tests/integration and tests/system a second time with HUDDLE_WS_FAST_PATH=off
    # (the fallback proven).
    fast_path = os.environ.get("HUDDLE_WS_FAST_PATH", "")
    base = Settings.from_env({"HUDDLE_WS_FAST_PATH": fast_path} if fast_path else {})
    # Metrics on a listener of their own, on a free port (chatserver.app.metrics_url).
    # Each app keeps its group space in a directory of its own (HUDDLE_DATA_DIR).
    data_dir = tempfile.mkdtemp(prefix="huddle-test-")
    defaults = {"secret": SECRET, "port": 0, "metrics_port": 0, "data_dir": data_dir}
    return replace(base, **{**defaults, **overrides})


async def start_server(settings: Settings) -> tuple[Server, web.AppRunner]:
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return Server(f"http://127.0.0.1:{port}", app), runner


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server per test module (never the shared 6379)."""
    server = RedisServer(appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcesses]:
    """A private Redis Cluster (3 masters, 3 replicas) for the whole run: starting one
    takes seconds. Tests that kill a master bring it back (as a replica) before they end."""
    cluster = RedisClusterProcesses()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    srv, runner = await start_server(settings)
    try:
        yield srv
    finally:
        await runner.cleanup()


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[Connect]:
    clients: list[Client] = []

    async def factory(user: str = "u1", rooms: dict[str, str] | None = None, **kw: Any) -> Client:
        token = make_token(user, rooms if rooms is not None else {"r1": "member"}, **kw)
        client = await open_client(server.url, token)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


@pytest.fixture(params=["memory", "redis-two-workers"])
async def room(request: pytest.FixtureRequest) -> AsyncIterator[Room]:
    """Facilitator Sam on worker A, members Alex and Bea on worker B (tests/two_workers.py),
    over the embedded default (param "memory": one process, its SQLite room store) and
    over Redis with two workers."""
    from tests.two_workers import open_room  # it builds on this module's helpers

    async with open_room(request) as r:
        yield r
