"""The aiohttp application: Socket.IO endpoint, web client and health; metrics on a
listener of their own (HUDDLE_METRICS_HOST / HUDDLE_METRICS_PORT), never on the port the
clients reach (docs/security.md, "Operations")."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from dataclasses import replace
from pathlib import Path

import redis.asyncio as aioredis
import socketio
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatserver.backend import Backend
from chatserver.config import Settings, moderation_policy
from chatserver.fanout import Fanout
from chatserver.lexicon_cache import default_cache_dir, shipped_lexicon
from chatserver.memory_backend import MemoryBackend
from chatserver.metrics import Metrics
from chatserver.organise.access import Access
from chatserver.organise.api import Api
from chatserver.organise.console import Console
from chatserver.organise.organiser import Organiser
from chatserver.organise.policies import RoomPolicies
from chatserver.organise.ratelimit import Limiter
from chatserver.organise.redis_store import RedisOrganiserStore
from chatserver.organise.setup import first_run_setup
from chatserver.organise.sqlite_store import SqliteOrganiserStore
from chatserver.organise.store import OrganiserStore
from chatserver.ratelog import library_logger
from chatserver.redis_backend import RedisBackend
from chatserver.redis_backend.connection import RedisTarget, cluster_client
from chatserver.redis_cluster import ClusterSeeds
from chatserver.service import ChatService
from chatserver.space.redis_space import RedisSpace
from chatserver.space.sqlite_space import SqliteSpace
from chatserver.space.store import GroupSpace
from chatserver.sqlite_backend import ROOMS_FILE, SqliteBackend
from chatserver.transport.fast_path import FastPath
from chatserver.transport.gate import CheckedPacket, Gate, client_address
from chatserver.transport.session_rooms import SessionRooms
from chatserver.transport.socketio_events import register
from moderation import default_pipeline
from moderation.learned import default_model
from moderation.policy import available_policies
from rooms.entries import user_info
from rooms.signals import default_limits

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SOCKET_IO_CLIENT = WEB_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"

SPACE_FILE = "space.sqlite3"
ORGANISE_FILE = "organise.sqlite3"
SERVICE_KEY = web.AppKey("service", ChatService)
BACKEND_KEY = web.AppKey("backend", Backend)
SIO_KEY = web.AppKey("sio", socketio.AsyncServer)
EXPIRY_TASK_KEY = web.AppKey("expiry_task", asyncio.Task[None])
MEETING_TIMERS_KEY = web.AppKey("meeting_timers", asyncio.Task[None])
FAST_PATH_KEY = web.AppKey("fast_path", FastPath)
GATE_KEY = web.AppKey("gate", Gate)
METRICS_RUNNER_KEY = web.AppKey("metrics_runner", web.AppRunner)
REVOCATIONS_TASK_KEY = web.AppKey("revocations_task", asyncio.Task[None])
POLICIES_TASK_KEY = web.AppKey("policies_task", asyncio.Task[None])
SETUP_LINK_KEY = web.AppKey("setup_link", str)
"""The first-run setup path (/organise/setup/<code>) this run made, for the run command
to print; absent when an organiser key or passphrase is set already."""
ORGANISER_KEY = web.AppKey("organiser", Organiser)


def lexicon_cache_dir(settings: Settings) -> Path | None:
    """HUDDLE_CACHE_DIR: empty for the user's cache directory, ``off`` for none."""
    if settings.cache_dir == "off":
        return None
    return Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()


def redis_target(settings: Settings) -> RedisTarget | None:
    """The one Redis (a URL) or the Redis Cluster (its seeds) the settings name, if any."""
    if settings.redis_cluster:
        return ClusterSeeds.parse(settings.redis_cluster)
    return settings.redis_url or None


def make_backend(settings: Settings) -> Backend:
    target = redis_target(settings)
    if target is not None:
        return RedisBackend(
            target,
            history_size=settings.history_size,
            retention_s=settings.retention_s,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
        )
    if settings.embedded_store == "memory":
        return MemoryBackend(history_size=settings.history_size)
    return SqliteBackend(
        Path(settings.data_dir) / ROOMS_FILE,
        history_size=settings.history_size,
        retention_s=settings.retention_s,
        synchronous=settings.sqlite_synchronous.upper(),
    )


def make_space(settings: Settings) -> GroupSpace:
    """Where the group space is kept: Redis keys without a TTL beside the rooms (on a
    cluster, on the shard of the room's slot), or a SQLite file in HUDDLE_DATA_DIR for
    the embedded default."""
    target = redis_target(settings)
    if isinstance(target, ClusterSeeds):
        return RedisSpace(cluster_client(target))
    if target is not None:
        return RedisSpace(aioredis.Redis.from_url(target))
    return SqliteSpace(Path(settings.data_dir) / SPACE_FILE)


def make_organiser_store(settings: Settings) -> OrganiserStore:
    """Where groups, invitations and members are kept: beside the group space, on the same
    Redis (keys of one hash tag of their own: on a cluster, one shard) or in a SQLite
    file of their own in HUDDLE_DATA_DIR."""
    target = redis_target(settings)
    if isinstance(target, ClusterSeeds):
        return RedisOrganiserStore(cluster_client(target))
    if target is not None:
        return RedisOrganiserStore(aioredis.Redis.from_url(target))
    return SqliteOrganiserStore(Path(settings.data_dir) / ORGANISE_FILE)


def create_app(
    settings: Settings,
    *,
    backend: Backend | None = None,
    space: GroupSpace | None = None,
    organiser_store: OrganiserStore | None = None,
) -> web.Application:
    if settings.secret is None:
        raise ValueError("create_app needs a secret (the CLI makes one for a demo run)")
    backend = backend if backend is not None else make_backend(settings)
    space = space if space is not None else make_space(settings)
    organiser_store = (
        organiser_store if organiser_store is not None else make_organiser_store(settings)
    )
    metrics = Metrics()
    # The deployment's policy file, with the limits the environment sets explicitly.
    policy = moderation_policy(settings)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        max_http_buffer_size=settings.max_frame_bytes,
        ping_interval=20,
        ping_timeout=20,
        # Errors only, one rate-limited line each: what they log is about client input.
        logger=library_logger("chatserver.socketio"),
        engineio_logger=library_logger("chatserver.engineio"),
        serializer=CheckedPacket,  # events a handler can be called with, or bad input
        client_manager=SessionRooms(),  # a disconnect that does not look at every session
    )
    fast_path = FastPath(settings, sio, metrics)
    # After the probe: the gate wraps python-socketio's handlers.
    gate = Gate(settings, sio, on_open=fast_path.on_open)
    fast_path.take_event = gate.take_event

    def drop(eio_sid: str, discard_queued: bool) -> None:
        """Close a connection so that its client reconnects (to any worker) and recovers.

        A Socket.IO or Engine.IO level disconnect would tell clients not to reconnect;
        ending the transport instead looks like a network drop, which every client
        handles by reconnecting and rejoining with `since`.
        """
        sock = sio.eio.sockets.get(eio_sid)
        if sock is None or sock.closed:
            return
        if fast_path.close(sock, discard_pending=discard_queued):
            return
        queue = sock.queue
        if discard_queued:
            # A reader too slow for its queue gets nothing more from it; the log has it.
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
            fast_path.abort_engineio_websocket(eio_sid)
        queue.put_nowait(None)  # wakes Engine.IO's writer, which closes the transport

    fanout = Fanout(
        sio.eio,
        queue_limit=settings.send_queue_limit,
        drop=drop,
        on_overflow=lambda: metrics.slow_consumers.inc(),
    )
    pipeline = default_pipeline(shipped_lexicon(lexicon_cache_dir(settings)))
    # Which learned moderation model this worker judges with, and what it was trained on.
    log.info("%s", default_model().describe())
    # Each group's policy and crisis lines, as its organiser chose them (the deployment's
    # limits over each policy file, as over the deployment's own).
    room_policies = RoomPolicies(
        lambda name: moderation_policy(replace(settings, moderation_policy=name)), policy
    )
    service = ChatService(
        backend,
        fanout,
        pipeline=pipeline,
        policy=policy,
        room_policy=room_policies,
        group_agreement=lambda room: group_agreement(organiser_store, room),
        metrics=metrics,
        history_page=settings.history_page,
        max_message_chars=policy.max_chars,
        space=space,
        leave_grace_s=settings.leave_grace_s,
        signal_limits=default_limits(
            burst=settings.signal_burst,
            refill_s=settings.signal_refill_s,
            report_burst=settings.report_burst,
            report_refill_s=settings.report_refill_s,
        ),
    )
    if isinstance(backend, RedisBackend):
        redis_backend = backend
        metrics.gap_repairs.set_function(lambda: redis_backend.gap_repairs)
    access = Access(
        organiser_store,
        service.end_membership,
        lambda member, reason: service.removed_by_organiser(
            member["room"], user_info(member["user_id"], member["name"], member["role"]), reason
        ),
        lambda: service.clock(),
        poll_s=settings.revocation_poll_s,
    )
    organiser = Organiser(
        organiser_store,
        secret=settings.secret,
        session_ttl_s=settings.session_ttl_s,
        policies=available_policies(),
        end_access=access.ended,
        clock=lambda: service.clock(),
        group_changed=room_policies.group_changed,
    )
    access.organiser = organiser
    register(sio, service, settings.secret, gate, admit=access.admit)

    app = web.Application(middlewares=[gate.middleware()], handler_args=gate.handler_args())
    app[SERVICE_KEY] = service
    app[BACKEND_KEY] = backend
    app[SIO_KEY] = sio
    app[FAST_PATH_KEY] = fast_path
    app[GATE_KEY] = gate
    sio.attach(app)

    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB_DIR / "index.html", headers={**_NO_STORE, **_PAGE_HEADERS})

    async def web_file(request: web.Request) -> web.StreamResponse:
        # Only the client's own top-level assets; never node_modules, tests or dotfiles.
        name = request.match_info["name"]
        path = WEB_DIR / name
        if not _WEB_ASSET.fullmatch(name) or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def socket_io_client(request: web.Request) -> web.StreamResponse:
        if not SOCKET_IO_CLIENT.exists():
            raise web.HTTPNotFound(text="socket.io-client is not installed: run `npm ci` in web/")
        return web.FileResponse(SOCKET_IO_CLIENT)

    worker_id = settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "worker": worker_id})

    async def readyz(request: web.Request) -> web.Response:
        ready = await backend.ready()
        return web.json_response(
            {"ok": ready, "backend": backend.name, "ws_path": fast_path.path},
            status=200 if ready else 503,
        )

    app.router.add_get("/", index)
    app.router.add_get("/vendor/socket.io.esm.min.js", socket_io_client)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/web/{name}", web_file)

    def address(request: web.Request) -> str:
        forwarded = request.headers.get("X-Forwarded-For")
        return client_address(request.remote, forwarded, settings.trusted_proxies)

    app[ORGANISER_KEY] = organiser
    Api(
        organiser,
        secret=settings.secret,
        api_key=settings.api_key,
        limiter=Limiter(burst=60, refill_s=0.5),
        address=address,
    ).routes(app)
    Console(
        organiser,
        secret=settings.secret,
        organiser_key=settings.organiser_key,
        policies=available_policies(),
        fallback_lines=policy.crisis_lines,
        address=address,
    ).routes(app)

    async def on_startup(app: web.Application) -> None:
        if settings.metrics_port is not None:
            app[METRICS_RUNNER_KEY] = await start_metrics_listener(
                metrics, settings.metrics_host, settings.metrics_port
            )
        await backend.start()
        service.loop_lag.start()
        loop = asyncio.get_running_loop()
        app[EXPIRY_TASK_KEY] = loop.create_task(service.end_expired_forever())
        app[MEETING_TIMERS_KEY] = loop.create_task(service.run_meeting_timers_forever())
        try:
            await room_policies.refresh(organiser_store)
        except Exception:
            log.warning("groups' policies not loaded: organiser store unavailable", exc_info=True)
        if redis_target(settings) is not None:
            # Other workers end places and change groups too: read what they wrote.
            app[REVOCATIONS_TASK_KEY] = loop.create_task(access.watch_forever())
            app[POLICIES_TASK_KEY] = loop.create_task(
                room_policies.refresh_forever(organiser_store)
            )
        if settings.organiser_key is None:
            setup_path = await first_run_setup(organiser_store)
            if setup_path is not None:
                app[SETUP_LINK_KEY] = setup_path

    async def on_shutdown(app: web.Application) -> None:
        # SIGTERM: the listener is already closed. Finish in-flight appends, then tell
        # every client to go; they reconnect through the load balancer to another worker
        # and recover what they missed from the log.
        await service.drain(min(3.0, settings.drain_timeout_s / 2))
        conns = list(service.connections.values())
        for conn in conns:
            drop(conn.eio_sid, discard_queued=False)
        await service.wait_all_disconnected(settings.drain_timeout_s / 2)
        log.info("drained %d connections", len(conns))
        # Connections that never signed in, too (aiohttp would wait for their handlers).
        for eio_sid in list(sio.eio.sockets):
            drop(eio_sid, discard_queued=False)
        fast_path.close_all()

    async def on_cleanup(app: web.Application) -> None:
        app[EXPIRY_TASK_KEY].cancel()
        app[MEETING_TIMERS_KEY].cancel()
        access.close()
        for key in (REVOCATIONS_TASK_KEY, POLICIES_TASK_KEY):
            task = app.get(key)
            if task is not None:
                task.cancel()
        await service.loop_lag.stop()
        await service.close()
        await backend.close()
        await space.close()
        await organiser_store.close()
        runner = app.get(METRICS_RUNNER_KEY)
        if runner is not None:
            await runner.cleanup()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def metrics_app(metrics: Metrics) -> web.Application:
    """GET /metrics (Prometheus) and nothing else: what the metrics listener serves."""

    async def metrics_view(request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(metrics.registry))
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    return app


async def start_metrics_listener(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """The metrics listener: its own socket, so the port clients (and nginx) reach never
    serves /metrics. Port 0 takes a free port; the log names it."""
    runner = web.AppRunner(metrics_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("metrics on %s", metrics_url(runner))
    return runner


def metrics_url(app_or_runner: web.Application | web.AppRunner) -> str | None:
    """Where this worker's metrics are served (``http://host:port/metrics``), if anywhere."""
    runner = (
        app_or_runner.get(METRICS_RUNNER_KEY)
        if isinstance(app_or_runner, web.Application)
        else app_or_runner
    )
    if runner is None or not runner.addresses:
        return None
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


_NO_STORE = {"Cache-Control": "no-store"}
_WEB_ASSET = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:js|css|svg|png|ico)")
# The page has no inline script or style: a strict policy makes an injected tag inert.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def group_agreement(store: OrganiserStore, room: str) -> str:
    """The agreement the group's organiser wrote ("" for a room no organiser set up)."""
    group = await store.group_get(room)
    return str(group.get("agreement", "")) if group is not None else ""
