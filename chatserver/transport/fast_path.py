"""Whether this server's websockets take the fast path, and what that path holds.

One ``FastPath`` per app: it runs the probe (chatserver/transport/internals.py), says
which path is active (log line, ``/readyz``, the ``huddle_ws_fast_path`` metric), installs
the endpoint on this server's engineio only, and keeps what the path shares: the write
coalescer, the detached connections (aiohttp no longer knows about them), the limits.

Switched off (``HUDDLE_WS_FAST_PATH=off``) or failing its probe, nothing of engineio's is
replaced: websockets are served by engineio's and aiohttp's own code, slow readers are
bounded by the send queue limit as polling ones are, and dead peers by engineio's ping
timeout.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from engineio.async_socket import AsyncSocket

from chatserver.config import Settings
from chatserver.metrics import Metrics
from chatserver.transport import frames, internals
from chatserver.transport.connection import Coalescer, bind_first_ping, connection_of
from chatserver.transport.detached import DetachedConnection
from chatserver.transport.endpoint import WebSocketEndpoint

log = logging.getLogger(__name__)


class FastPathUnavailable(RuntimeError):
    """Names both paths rely on are missing: no websocket path would work."""


class FastPath:
    def __init__(self, settings: Settings, sio: Any, metrics: Metrics) -> None:
        self._sio = sio
        self.probe = internals.probe(sio)
        if self.probe.fatal_failures:
            raise FastPathUnavailable(
                "engineio/python-socketio are not what huddle needs: "
                + "; ".join(self.probe.fatal_failures)
            )
        if settings.ws_fast_path != "on":
            self.reason = "switched off (HUDDLE_WS_FAST_PATH=off)"
        elif not self.probe.fast_path_ok:
            self.reason = "probe failed: " + "; ".join(self.probe.fast_path_failures)
        else:
            self.reason = "probe passed"
        self.active = settings.ws_fast_path == "on" and self.probe.fast_path_ok
        self.send_buffer_bytes = settings.ws_send_buffer_bytes
        self.read_timeout_s = settings.ws_read_timeout_s
        self.coalescer = Coalescer()
        self.detached: set[DetachedConnection] = set()
        self.take_event: Callable[[str, str], bool] | None = None
        """The gate's ``take_event`` (set by the app once the gate exists): a detached
        connection hands it a client's requests without engineio's per-packet layer."""
        versions = self.probe.versions
        metrics.ws_fast_path.labels(
            aiohttp=versions["aiohttp"],
            engineio=versions["python-engineio"],
            socketio=versions["python-socketio"],
        ).set(1 if self.active else 0)
        described = ", ".join(f"{name} {version}" for name, version in versions.items())
        if self.active:
            internals.install_websocket_class(sio, functools.partial(WebSocketEndpoint, self))
            log.info("websocket path: fast (%s; %s)", self.reason, described)
        elif settings.ws_fast_path == "on":
            log.warning("websocket path: fallback (%s; %s)", self.reason, described)
        else:
            log.info("websocket path: fallback (%s; %s)", self.reason, described)

    @property
    def path(self) -> str:
        return "fast" if self.active else "fallback"

    @property
    def on_open(self) -> Callable[[AsyncSocket], None] | None:
        """What a new session's socket needs before engineio schedules its first ping."""
        return bind_first_ping if self.active else None

    def close(self, sock: Any, *, discard_pending: bool) -> bool:
        """End a connection served on the fast path (its client sees a network drop and
        reconnects); False when engineio serves it."""
        conn = connection_of(sock)
        if conn is None:
            return False
        conn.close(discard_pending=discard_pending)
        return True

    def abort_engineio_websocket(self, eio_sid: str) -> None:
        """End a slow reader served by engineio's own websocket code: its writer task may be
        blocked writing to this very reader, so waking it would not do. Only a session
        opened directly as a websocket can be reached this way; one that upgraded from
        polling ends when engineio's ping timeout does."""
        transport = internals.websocket_request_transport(self._sio, eio_sid)
        if transport is not None:
            transport.abort()

    def close_all(self) -> None:
        """End every detached connection (app shutdown), signed in or not: clients see a
        drop and reconnect."""
        for conn in list(self.detached):
            conn.close_with(frames.GOING_AWAY)
