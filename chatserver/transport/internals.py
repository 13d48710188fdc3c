"""Every name of engineio, python-socketio and aiohttp that huddle uses beyond their
documented API, in one place, and the start-up probe that checks each one. (None of
redis-py: the Redis hot path and the bus's subscription use huddle's own connection,
chatserver/resp.py; the pool's commands use redis-py's public API.)

``NAMES`` is the list: underscored names, and undocumented attributes of engineio's socket
object that have no public equivalent. The functions below are the only code that touches
the underscored ones. ``probe()`` looks at each name as it is used (that it exists, is a
coroutine where it is awaited, takes the arguments passed, lets a socket's own send and
ping replace the class's) and at the installed versions. The fast path is used only when
all of it holds and the versions are ones it was tested with; otherwise the websocket is
served by engineio's own code (the fallback). Names marked ``both`` are used by the
fallback too (fan-out and drop queue to engineio's socket): if one of those is missing no
path works, and the server refuses to start with the probe's findings.

Upgrading aiohttp or engineio to a minor version not in ``TESTED``: run the suite with
``HUDDLE_WS_FAST_PATH=on`` against it, then add it.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web, web_protocol, web_server
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket


@dataclass(frozen=True, slots=True)
class Internal:
    owner: str
    name: str
    used_by: str
    """"fast" (the fast path only) or "both" (the fallback too)."""
    why: str


NAMES: Final = (
    Internal(
        "engineio",
        "AsyncServer._async['websocket']",
        "fast",
        "the websocket class engineio instantiates; huddle's endpoint replaces it per server",
    ),
    Internal(
        "engineio",
        "async_drivers.aiohttp.WebSocket(handler, server)",
        "fast",
        "the endpoint subclasses it, for the fallback inside the fast path (upgrades)",
    ),
    Internal(
        "engineio",
        "AsyncSocket._websocket_handler",
        "fast",
        "the handler engineio passes to the websocket class; its __self__ is the socket",
    ),
    Internal("engineio", "AsyncSocket.send", "fast", "bound per socket at hand-over"),
    Internal(
        "engineio",
        "AsyncSocket.schedule_ping",
        "fast",
        "bound per socket at hand-over; receive() calls it on a PONG",
    ),
    Internal(
        "engineio",
        "AsyncSocket.receive / close(wait, abort, reason)",
        "fast",
        "packets read by huddle are handed to engineio; the session is ended through it",
    ),
    Internal(
        "engineio",
        "AsyncSocket.connected / upgrading / upgraded / closing / last_ping",
        "fast",
        "the session state huddle's reader and ping timer keep as engineio would",
    ),
    Internal(
        "engineio",
        "AsyncSocket.queue / closed / sid / server",
        "both",
        "fan-out queues to polling sockets; drop wakes the writer; hand-over drains it",
    ),
    Internal(
        "engineio",
        "AsyncServer.sockets / reason.TRANSPORT_CLOSE",
        "both",
        "fan-out finds sockets by Engine.IO sid; a detached session is closed as a drop",
    ),
    Internal(
        "engineio",
        "AsyncServer.handlers['connect' / 'message' / 'disconnect'], async_handlers",
        "both",
        "python-socketio's handlers of engineio's events, each wrapped by the gate (limits, "
        "binary refused, unreadable packets closed) and called from it, awaited in order",
    ),
    Internal(
        "engineio",
        "AsyncSocket.close(wait, abort, reason) / upgraded",
        "both",
        "the gate ends a session engineio serves: polling with a CLOSE packet, a websocket "
        "opened directly by aborting its transport",
    ),
    Internal(
        "socketio",
        "AsyncServer.manager.eio_sid_from_sid",
        "both",
        "the Engine.IO sid a Socket.IO session is delivered to",
    ),
    Internal(
        "socketio",
        "AsyncServer.manager.sid_from_eio_sid / is_connected",
        "both",
        "the Socket.IO session a request arrives on, and whether it is connected, for the "
        "requests huddle answers without python-socketio's per-event path",
    ),
    Internal(
        "socketio",
        "BaseManager.basic_disconnect(sid, namespace) / rooms / callbacks / "
        "pending_connect / pending_disconnect",
        "both",
        "SessionRooms (session_rooms.py) does the base's disconnect over the session's own "
        "rooms instead of every room of the namespace, and clears what the base clears",
    ),
    Internal(
        "socketio",
        "AsyncServer.environ[eio_sid]['aiohttp.request']",
        "both",
        "the request a websocket was opened with, to abort a slow reader's TCP connection "
        "when engineio's writer is blocked on it (the fallback only)",
    ),
    Internal(
        "aiohttp",
        "web.BaseRequest.protocol",
        "fast",
        "the request handler whose transport a detached websocket takes over",
    ),
    Internal(
        "aiohttp",
        "web_protocol.RequestHandler._message_tail / _manager / transport",
        "fast",
        "bytes after the handshake; untracking the handler; taking its transport",
    ),
    Internal(
        "aiohttp",
        "web_protocol.RequestHandler._keepalive_handle",
        "fast",
        "cancelled at detach: the keep-alive timer would keep the request handler, its "
        "parser and the request alive for the keep-alive timeout (75 s) after the handshake",
    ),
    Internal(
        "aiohttp",
        "web_server.Server.connection_lost(handler, exc)",
        "fast",
        "aiohttp stops counting a detached connection as one of its own",
    ),
)

TESTED: Final = {"aiohttp": ("3.14",), "python-engineio": ("4.15",)}
"""Minor versions the fast path has been run against (the full suite, both paths)."""

DISTRIBUTIONS: Final = ("aiohttp", "python-engineio", "python-socketio")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    versions: dict[str, str]
    fast_path_failures: list[str] = field(default_factory=list)
    fatal_failures: list[str] = field(default_factory=list)

    @property
    def fast_path_ok(self) -> bool:
        return not self.fast_path_failures and not self.fatal_failures


def probe(sio: Any) -> ProbeResult:
    """Check every name in ``NAMES`` against the installed libraries and ``sio`` (a
    python-socketio AsyncServer in aiohttp mode, not yet serving)."""
    versions = {name: _version(name) for name in DISTRIBUTIONS}
    fast: list[str] = []
    fatal: list[str] = []
    for dist, minors in TESTED.items():
        if not versions[dist].startswith(tuple(m + "." for m in minors)):
            fast.append(f"{dist} {versions[dist]} is not a tested version ({', '.join(minors)})")
    _check(fatal, "socketio AsyncServer.manager.eio_sid_from_sid", _check_manager, sio)
    _check(fatal, "engineio AsyncServer.sockets", _check_server, sio)
    _check(fatal, "socketio AsyncServer.environ", _check_environ, sio)
    _check(fatal, "socketio manager state SessionRooms clears", _check_manager_state, sio)
    _check(fatal, "engineio AsyncSocket queue/closed/sid/server", _check_socket_both, sio)
    _check(fatal, "engineio AsyncServer.handlers", _check_handlers, sio)
    _check(fast, "engineio AsyncServer._async['websocket']", _check_async_table, sio)
    _check(fast, "engineio AsyncSocket methods", _check_socket_methods, sio)
    _check(fast, "engineio AsyncSocket state and per-socket binding", _check_socket_fast, sio)
    _check(fast, "aiohttp request handler internals", _check_aiohttp, sio)
    return ProbeResult(versions, fast, fatal)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _check(failures: list[str], what: str, check: Callable[[Any], None], sio: Any) -> None:
    try:
        check(sio)
    except Exception as exc:
        failures.append(f"{what}: {type(exc).__name__}: {exc}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _check_manager(sio: Any) -> None:
    _require(callable(sio.manager.eio_sid_from_sid), "not callable")
    params = inspect.signature(sio.manager.eio_sid_from_sid).parameters
    _require(list(params)[:2] == ["sid", "namespace"], f"parameters {list(params)}")
    params = inspect.signature(sio.manager.sid_from_eio_sid).parameters
    _require(list(params)[:2] == ["eio_sid", "namespace"], f"parameters {list(params)}")
    params = inspect.signature(sio.manager.is_connected).parameters
    _require(list(params)[:2] == ["sid", "namespace"], f"parameters {list(params)}")
    _require(sid_of(sio, "huddle-probe") is None, "a session that does not exist is found")


def _check_manager_state(sio: Any) -> None:
    manager = sio.manager
    for name in ("rooms", "callbacks", "pending_connect", "pending_disconnect"):
        _require(isinstance(getattr(manager, name, None), dict), f"{name} is not a dict")
    params = inspect.signature(manager.basic_disconnect).parameters
    _require(list(params)[:2] == ["sid", "namespace"], f"parameters {list(params)}")


def _check_environ(sio: Any) -> None:
    _require(isinstance(sio.environ, dict), "environ is not a dict")


def _check_server(sio: Any) -> None:
    eio = sio.eio
    _require(isinstance(eio.sockets, dict), "sockets is not a dict")
    _require(hasattr(eio.reason, "TRANSPORT_CLOSE"), "no reason.TRANSPORT_CLOSE")
    for name in ("ping_interval", "ping_timeout", "max_http_buffer_size"):
        _require(isinstance(getattr(eio, name), int | float), f"{name} is not a number")


def _probe_socket(sio: Any) -> Any:
    """A socket object that never joins the server's table: constructing one has no effect
    beyond creating its queue."""
    return AsyncSocket(sio.eio, "huddle-probe")


def _check_socket_both(sio: Any) -> None:
    sock = _probe_socket(sio)
    for name in ("qsize", "empty", "put_nowait", "get_nowait", "task_done"):
        _require(callable(getattr(sock.queue, name, None)), f"queue has no {name}()")
    _require(sock.closed is False, "closed is not False on a new socket")
    _require(sock.upgraded is False, "upgraded is not False on a new socket")
    _require(sock.sid == "huddle-probe" and sock.server is sio.eio, "sid/server not kept")
    _require(inspect.iscoroutinefunction(AsyncSocket.close), "close is not a coroutine function")
    close = inspect.signature(AsyncSocket.close).parameters
    _require({"wait", "abort", "reason"} <= set(close), f"close parameters {list(close)}")


GATED_EVENTS: Final = ("connect", "message", "disconnect")


def _check_handlers(sio: Any) -> None:
    handlers = sio.eio.handlers
    _require(isinstance(handlers, dict), "handlers is not a dict")
    for event in GATED_EVENTS:
        handler = handlers.get(event)
        _require(inspect.iscoroutinefunction(handler), f"no coroutine handler for {event!r}")
        _require(getattr(handler, "__self__", None) is sio, f"{event!r} is not python-socketio's")
    # Awaited where the packet is read, so one connection's packets are handled in order
    # and the gate's refusal comes before anything after it is looked at.
    _require(sio.eio.async_handlers is False, "engineio runs its handlers as tasks")


def _check_async_table(sio: Any) -> None:
    table = sio.eio._async
    _require(isinstance(table, dict), "_async is not a dict")
    _require(table.get("websocket") is eio_aiohttp.WebSocket, "websocket is not aiohttp's")
    params = list(inspect.signature(eio_aiohttp.WebSocket.__init__).parameters)
    _require(params == ["self", "handler", "server"], f"WebSocket parameters {params}")


def _check_socket_methods(sio: Any) -> None:
    for name in ("_websocket_handler", "receive", "close", "send"):
        _require(
            inspect.iscoroutinefunction(getattr(AsyncSocket, name, None)),
            f"AsyncSocket.{name} is not a coroutine function",
        )
    _require(callable(getattr(AsyncSocket, "schedule_ping", None)), "no schedule_ping")
    close = inspect.signature(AsyncSocket.close).parameters
    _require({"wait", "abort", "reason"} <= set(close), f"close parameters {list(close)}")


def _check_socket_fast(sio: Any) -> None:
    sock = _probe_socket(sio)
    for name in ("connected", "upgrading", "upgraded", "closing"):
        _require(getattr(sock, name) is False, f"{name} is not False on a new socket")
    _require(isinstance(sock.last_ping, float), "last_ping is not a time")
    _require(
        getattr(sock._websocket_handler, "__self__", None) is sock,
        "_websocket_handler is not a bound method of the socket",
    )
    # What hand-over relies on: a socket's own send and schedule_ping replace the class's,
    # for engineio's own calls too (a PONG from the client schedules the next ping).
    pinged: list[bool] = []

    async def send(pkt: Any) -> None:
        """Stands in for a connection's send."""

    sock.send = send
    sock.schedule_ping = lambda: pinged.append(True)
    _require(sock.send is send, "an instance attribute does not replace send")
    _run_without_suspending(sock.receive(eio_packet.Packet(eio_packet.PONG)))
    _require(pinged == [True], "receive(PONG) did not call the socket's own schedule_ping")


def _run_without_suspending(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that completes without awaiting anything (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise AssertionError("it waited on something")


def _check_aiohttp(sio: Any) -> None:
    handler_cls = web_protocol.RequestHandler
    for name in ("_message_tail", "_manager", "_keepalive_handle", "transport"):
        _require(hasattr(handler_cls, name), f"RequestHandler has no {name}")
    _require(isinstance(web.BaseRequest.protocol, property), "BaseRequest.protocol")
    params = list(inspect.signature(web_server.Server.connection_lost).parameters)
    _require(params[:3] == ["self", "handler", "exc"], f"connection_lost parameters {params}")


# The accessors: the only code that reads or writes an underscored third-party name.


def install_websocket_class(sio: Any, factory: Callable[..., Any]) -> None:
    """Have this server (only) build its websockets with ``factory(handler, server)``."""
    sio.eio._async = {**sio.eio._async, "websocket": factory}


def socket_of(handler: Any) -> AsyncSocket | None:
    """The engineio socket a websocket handler serves (the handler is its bound
    ``_websocket_handler``)."""
    sock = getattr(handler, "__self__", None)
    return sock if isinstance(sock, AsyncSocket) else None


def eio_sid(sio: Any, sid: str) -> str:
    """The Engine.IO session a Socket.IO session on the default namespace rides on."""
    eio_sid: str = sio.manager.eio_sid_from_sid(sid, "/")
    return eio_sid


def sid_of(sio: Any, eio_sid: str) -> str | None:
    """The connected Socket.IO session on the default namespace that an Engine.IO
    session carries (None before its connect has finished, or after it ended)."""
    manager = sio.manager
    sid: str | None = manager.sid_from_eio_sid(eio_sid, "/")
    if sid is None or not manager.is_connected(sid, "/"):
        return None
    return sid


def websocket_request_transport(sio: Any, eio_sid: str) -> asyncio.Transport | None:
    """The TCP transport of a session opened directly as a websocket (None for one that
    began by polling: its connect request was another HTTP request)."""
    environ = sio.environ.get(eio_sid) or {}
    request = environ.get("aiohttp.request")
    if request is None or environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        return None
    transport: asyncio.Transport | None = request.transport
    return transport


def take_transport(request: web.BaseRequest) -> tuple[asyncio.Transport, bytes]:
    """Take a request's connection from aiohttp: its transport, and the bytes that came
    after the request (aiohttp holds them for an upgrade). aiohttp stops tracking the
    connection and will not close the transport when the request ends."""
    handler: Any = request.protocol
    transport = request.transport
    assert transport is not None
    tail: bytes = handler._message_tail
    handler._message_tail = b""
    if handler._manager is not None:
        handler._manager.connection_lost(handler, None)
    # Armed when the connection was made: left, it would keep the handler (its parser,
    # buffers, the request) alive for the keep-alive timeout after the request ends.
    keepalive = handler._keepalive_handle
    if keepalive is not None:
        keepalive.cancel()
        handler._keepalive_handle = None
    handler.transport = None
    return transport, tail


def engineio_handlers(sio: Any) -> dict[str, Callable[..., Awaitable[Any]]]:
    """python-socketio's handlers of engineio's connect, message and disconnect events."""
    handlers = sio.eio.handlers
    return {event: handlers[event] for event in GATED_EVENTS}


def set_engineio_handler(sio: Any, event: str, handler: Callable[..., Awaitable[Any]]) -> None:
    """Handle one of engineio's events on this server (engineio's public ``on``)."""
    sio.eio.on(event, handler)


def engineio_socket(sio: Any, eio_sid: str) -> AsyncSocket | None:
    sock: AsyncSocket | None = sio.eio.sockets.get(eio_sid)
    return sock


def connect_request(environ: dict[str, Any]) -> web.BaseRequest | None:
    """The aiohttp request an Engine.IO session was opened with (its peer's address)."""
    request = environ.get("aiohttp.request")
    return request if isinstance(request, web.BaseRequest) else None


async def close_socket(sio: Any, sock: AsyncSocket, *, abort: bool) -> None:
    """End a session engineio serves, as ``AsyncServer.disconnect`` does but without
    waiting for a poll that may never come: its disconnect event now; unless ``abort``, a
    CLOSE packet for a pending or next poll, else a wake-up for its writer; out of the
    server's table."""
    await sock.close(wait=False, abort=abort)
    if abort:
        sock.queue.put_nowait(None)
    if sio.eio.sockets.get(sock.sid) is sock:
        del sio.eio.sockets[sock.sid]


def release_close_wait(sock: AsyncSocket) -> None:
    """engineio's ``close(wait=True)`` (its ``disconnect``, and its answer to a polling body
    that breaks the protocol) waits until a poll has taken everything queued for the
    client; a client that only posts never polls, and the request never ends. Once the
    session is closed and a pending poll has had its moment, what is left goes."""
    if not sock.closed:
        return
    queue = sock.queue
    while not queue.empty():
        queue.get_nowait()
        queue.task_done()


def drop_closed_socket(sio: Any, eio_sid: str) -> bool:
    """Whether a session is over; if engineio has closed it but keeps it in its table (its
    own ``disconnect`` removes it only once a poll has taken the CLOSE packet), out."""
    sock = sio.eio.sockets.get(eio_sid)
    if sock is None:
        return True
    if not sock.closed:
        return False
    del sio.eio.sockets[eio_sid]
    return True


def session_of_request(sio: Any, request: web.BaseRequest) -> str | None:
    """The Engine.IO session a request opened (a scan: for the rare error path only)."""
    for eio_sid, environ in list(sio.environ.items()):
        if environ.get("aiohttp.request") is request:
            return str(eio_sid)
    return None
