"""What a client may open and send, before and after signing in (docs/security.md, "The
connection: before and after signing in"). The same on both websocket paths and on
long-polling.

- **Sign in in time.** An Engine.IO session that has not signed in (the Socket.IO connect
  packet with a valid token) ``HUDDLE_CONNECT_TIMEOUT_S`` after it opened is closed.
- **Connections per address and per user.** Engine.IO sessions open from one client
  address (``HUDDLE_MAX_CONNECTIONS_PER_ADDRESS``) and signed-in connections of one user
  (``HUDDLE_MAX_CONNECTIONS_PER_USER``) are bounded, per worker; one more is refused (an
  HTTP 401 with the reason at the Engine.IO handshake; a ``connect_error`` at sign-in). The
  client's address is the TCP peer's, or, when the peer is a trusted proxy
  (``HUDDLE_TRUSTED_PROXIES``), the nearest address in X-Forwarded-For that is not one.
- **Every Engine.IO message is looked at before python-socketio reads it** (and what it
  reads is checked: ``CheckedPacket``). Binary
  messages and Socket.IO binary packets (``5``/``6``, which announce attachments to be
  buffered) are refused, since the protocol has no use for them: the connection is closed
  before anything is kept. Whatever python-socketio cannot read (``4x``, JSON nested past
  the interpreter's recursion limit, a packet of no known type) closes the connection with
  one rate-limited log line, never a traceback.
- **Polling bodies.** A POST declaring more than ``HUDDLE_MAX_FRAME_BYTES`` is answered 413
  at once (engineio's own answer waited for a poll that might never come); one whose body
  does not arrive within ``HUDDLE_HTTP_REQUEST_TIMEOUT_S`` gets 408. Both close the HTTP
  connection and end the session.

The handlers python-socketio registered on engineio are wrapped, not replaced: each of
ours calls the one it wraps (chatserver/transport/internals.py lists and probes them).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from engineio.async_socket import AsyncSocket
from socketio import packet as socketio_packet

from chatserver.config import IPNetwork, Settings
from chatserver.ratelog import CLIENTS, describe, library_logger
from chatserver.transport import frames, internals
from chatserver.transport.connection import connection_of
from chatserver.transport.detached import DetachedConnection

BINARY_REFUSED: Final = "binary messages are not accepted"
ATTACHMENTS_REFUSED: Final = "binary attachments are not accepted"
UNREADABLE: Final = "unreadable packet"
NOT_SIGNED_IN: Final = "not signed in in time"
TOO_MANY_FROM_ADDRESS: Final = "too many connections from this address"
TOO_MANY_FOR_USER: Final = "too many connections: close another tab or device first"
SWEEP_INTERVAL_S: Final = 30.0
POLL_GRACE_S: Final = 0.5
"""How long a closed polling session's CLOSE packet waits for a poll to take it."""
ENGINEIO_PATH: Final = "/socket.io/"


class CompactJSON:
    """The JSON python-socketio's packets are written with: one encoder for every packet
    (``json.dumps`` with options builds a new encoder per call), the same text."""

    _encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(data: Any, separators: tuple[str, str] = (",", ":")) -> str:
        # python-socketio always asks for the compact separators, which the encoder has.
        return CompactJSON._encode(data)


class CheckedPacket(socketio_packet.Packet):  # type: ignore[misc]
    """python-socketio's packet (``AsyncServer(serializer=CheckedPacket)``), refusing with a
    ValueError, as it refuses other unreadable packets, what no handler can be called with:
    an event whose first item is not its name (a dict there failed in python-socketio's own
    task, a traceback the gate never saw), an ack whose arguments are not a list.

    No binary events: the gate refuses them from clients, and the server sends none (acks
    and events are built from JSON), so an outgoing packet is not walked for bytes first
    (a join ack's whole history was, once per join)."""

    uses_binary_events = False
    json = CompactJSON

    def decode(self, encoded_packet: str) -> int:
        attachments: int = super().decode(encoded_packet)
        data = self.data
        if self.packet_type == socketio_packet.EVENT and not (
            isinstance(data, list) and data and isinstance(data[0], str)
        ):
            raise ValueError("an event is a list that starts with its name")
        if self.packet_type == socketio_packet.ACK and not isinstance(data, list):
            raise ValueError("an ack's arguments are a list")
        return attachments


class _Session:
    __slots__ = ("address", "ending", "timer", "user")

    def __init__(self, address: str, timer: asyncio.TimerHandle | None) -> None:
        self.address = address
        self.timer = timer
        self.user: str | None = None
        self.ending = False
        """Being closed: what it still sends (the rest of a polling body) is not read."""


Address = IPv4Address | IPv6Address


def _address(raw: str) -> Address | None:
    try:
        addr = ip_address(raw.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


# The TCP peer's address, parsed once per peer: the same few connect again and again
# (behind a proxy, always its address), and parsing one was about a per cent of a
# connect. Only peers (the kernel's word, short) are kept, never X-Forwarded-For text.
_peer_address = functools.lru_cache(maxsize=1024)(_address)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]
) -> str:
    """The client's address: the TCP peer's, unless the peer is a trusted proxy; then the
    nearest X-Forwarded-For entry (read from the right, as each proxy appends its own
    peer) that is not a trusted proxy itself. Entries to the left of an untrusted one were
    written by the client and are never believed."""
    addr = _peer_address(peer) if peer else None
    if addr is None:
        return peer or "unknown"

    def is_trusted(a: Address) -> bool:
        return any(a in net for net in trusted)

    if not forwarded_for or not is_trusted(addr):
        return str(addr)
    for hop in reversed(forwarded_for.split(",")):
        hop_addr = _address(hop)
        if hop_addr is None:
            break  # not an address: the proxy to its right is as far as we can see
        addr = hop_addr
        if not is_trusted(addr):
            break
    return str(addr)


class Gate:
    """One per app: the limits above, kept per Engine.IO session."""

    def __init__(
        self,
        settings: Settings,
        sio: Any,
        on_open: Callable[[AsyncSocket], None] | None = None,
    ) -> None:
        self._sio = sio
        self._on_open_socket = on_open
        self.connect_timeout_s = settings.connect_timeout_s
        self.per_address = settings.max_connections_per_address
        self.per_user = settings.max_connections_per_user
        self.trusted = settings.trusted_proxies
        self.max_body = settings.max_frame_bytes
        self.request_timeout_s = settings.http_request_timeout_s
        self._sessions: dict[str, _Session] = {}
        self._by_address: dict[str, int] = {}
        self._by_user: dict[str, int] = {}
        self._ending: set[asyncio.Task[None]] = set()
        self._next_sweep = 0.0
        self._requests: Callable[[str, str], bool] | None = None
        wrapped = internals.engineio_handlers(sio)
        self._open_next: Callable[[str, dict[str, Any]], Awaitable[Any]] = wrapped["connect"]
        self._message_next: Callable[[str, Any], Awaitable[Any]] = wrapped["message"]
        self._close_next: Callable[[str, Any], Awaitable[Any]] = wrapped["disconnect"]
        internals.set_engineio_handler(sio, "connect", self._on_open)
        internals.set_engineio_handler(sio, "message", self._on_message)
        internals.set_engineio_handler(sio, "disconnect", self._on_close)

    def take_requests(self, dispatch: Callable[[str, str], bool]) -> None:
        """Event packets go to ``dispatch`` first (chatserver/transport/requests.py); what
        it does not take, python-socketio reads."""
        self._requests = dispatch

    # Counts, for tests and /readyz-like views.

    def open_from(self, address: str) -> int:
        return self._by_address.get(address, 0)

    def open_for(self, user: str) -> int:
        return self._by_user.get(user, 0)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    # engineio's events, each then passed on to python-socketio's handler.

    async def _on_open(self, eio_sid: str, environ: dict[str, Any]) -> str | None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + SWEEP_INTERVAL_S
            self._sweep()
        request = internals.connect_request(environ)
        address = client_address(
            request.remote if request is not None else None,
            environ.get("HTTP_X_FORWARDED_FOR"),
            self.trusted,
        )
        count = self._by_address.get(address, 0)
        if count >= self.per_address:
            CLIENTS.warning(
                "per_address",
                "refused a connection from %s: %d already open from that address "
                "(HUDDLE_MAX_CONNECTIONS_PER_ADDRESS)",
                address,
                count,
            )
            return TOO_MANY_FROM_ADDRESS  # engineio answers 401 with this message
        self._by_address[address] = count + 1
        timer = loop.call_later(self.connect_timeout_s, self._connect_timed_out, eio_sid)
        self._sessions[eio_sid] = _Session(address, timer)
        if self._on_open_socket is not None:
            sock = internals.engineio_socket(self._sio, eio_sid)
            if sock is not None:
                self._on_open_socket(sock)
        await self._open_next(eio_sid, environ)
        return None

    async def _on_message(self, eio_sid: str, data: Any) -> None:
        session = self._sessions.get(eio_sid)
        if session is None or session.ending:
            # Closed, or being closed: nothing after that is read (a ``40`` later in the
            # same polling body would sign in a session that has already ended).
            return
        if not isinstance(data, str):
            self._refuse(eio_sid, "binary", frames.UNSUPPORTED_DATA, BINARY_REFUSED)
            return
        if data[:1] in ("5", "6"):
            # A Socket.IO binary packet: python-socketio would keep it, and every binary
            # message after it, until the number of attachments it announces had come.
            self._refuse(eio_sid, "attachments", frames.UNSUPPORTED_DATA, ATTACHMENTS_REFUSED)
            return
        try:
            requests = self._requests
            # "2": a Socket.IO event (a request), most of what a client sends.
            if requests is None or data[:1] != "2" or not requests(eio_sid, data):
                await self._message_next(eio_sid, data)
        except Exception as exc:
            # python-socketio could not read what the client sent (``4x``, ``42{}``, JSON
            # nested past the recursion limit ...): not a bug to trace. The event handlers,
            # connect's too, catch their own (chatserver/transport/socketio_events.py).
            self._refuse(eio_sid, "unreadable", frames.INVALID_DATA, UNREADABLE, describe(exc))

    def take_event(self, eio_sid: str, data: str) -> bool:
        """``_on_message`` for a Socket.IO event (``2...``) read on huddle's websocket
        path, without engineio's per-packet layer (a Packet, a log call, a coroutine per
        packet and a task to run it in): True if it was answered here (handed to the
        request dispatch, or refused as unreadable), False for the caller to hand it to
        engineio as any other packet. The caller keeps arrival order: it asks only when
        nothing it read earlier is still waiting for engineio."""
        requests = self._requests
        if requests is None or data[:1] != "2":
            return False
        session = self._sessions.get(eio_sid)
        if session is None or session.ending:
            return False  # engineio's path drops it (``_on_message``)
        try:
            return requests(eio_sid, data)
        except Exception as exc:
            self._refuse(eio_sid, "unreadable", frames.INVALID_DATA, UNREADABLE, describe(exc))
            return True

    async def _on_close(self, eio_sid: str, reason: Any) -> None:
        self._forget(eio_sid)
        sock = internals.engineio_socket(self._sio, eio_sid)
        if sock is not None:
            asyncio.get_running_loop().call_later(POLL_GRACE_S, internals.release_close_wait, sock)
        await self._close_next(eio_sid, reason)

    # Signing in (called by the Socket.IO connect handler once the token is valid).

    def sign_in(self, eio_sid: str, user: str) -> str | None:
        """Count a signed-in connection of ``user``; the reason it is refused, or None."""
        session = self._sessions.get(eio_sid)
        if session is None:
            return None
        if session.user is not None:  # signed out (a ``41``) and signing in again
            _decrement(self._by_user, session.user)
            session.user = None
        count = self._by_user.get(user, 0)
        if count >= self.per_user:
            CLIENTS.warning(
                "per_user",
                "refused a sign-in from %s: user %r has %d connections open "
                "(HUDDLE_MAX_CONNECTIONS_PER_USER)",
                session.address,
                user[:40],
                count,
            )
            return TOO_MANY_FOR_USER
        self._by_user[user] = count + 1
        session.user = user
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        return None

    def sign_out(self, eio_sid: str) -> None:
        """The Socket.IO session ended but the Engine.IO one goes on: it no longer counts
        for its user, and has the connect timeout again to sign in."""
        session = self._sessions.get(eio_sid)
        if session is None or session.user is None:
            return
        _decrement(self._by_user, session.user)
        session.user = None
        if session.timer is None:
            session.timer = asyncio.get_running_loop().call_later(
                self.connect_timeout_s, self._connect_timed_out, eio_sid
            )

    # Ending a session, whichever path serves it.

    def end(self, eio_sid: str, code: int, reason: str) -> None:
        """Close a session: a fast-path websocket with a close frame (``code``, ``reason``),
        engineio's own websocket by aborting its TCP connection, a polling one with
        Engine.IO's CLOSE packet for its next poll. Its client sees the connection end."""
        session = self._sessions.get(eio_sid)
        if session is not None:
            session.ending = True
        sock = internals.engineio_socket(self._sio, eio_sid)
        if sock is None or sock.closed:
            return
        conn = connection_of(sock)
        if isinstance(conn, DetachedConnection):
            conn.close_with(code, reason)
            return
        if conn is not None:
            conn.close(discard_pending=False)
            return
        transport = internals.websocket_request_transport(self._sio, eio_sid)
        if transport is not None and sock.upgraded:
            transport.abort()  # engineio's reader ends the session
            return
        self._close_later(internals.close_socket(self._sio, sock, abort=False))

    def _refuse(self, eio_sid: str, kind: str, code: int, reason: str, detail: str = "") -> None:
        session = self._sessions.get(eio_sid)
        CLIENTS.warning(
            kind,
            "closed a connection from %s: %s%s",
            session.address if session is not None else "an unknown address",
            reason,
            f" ({detail})" if detail else "",
        )
        self.end(eio_sid, code, reason)

    def _connect_timed_out(self, eio_sid: str) -> None:
        session = self._sessions.get(eio_sid)
        if session is None or session.user is not None:
            return
        session.timer = None
        CLIENTS.info(
            "connect_timeout",
            "closed a connection from %s: not signed in within %g s (HUDDLE_CONNECT_TIMEOUT_S)",
            session.address,
            self.connect_timeout_s,
        )
        self.end(eio_sid, frames.POLICY_VIOLATION, NOT_SIGNED_IN)

    def _forget(self, eio_sid: str) -> None:
        session = self._sessions.pop(eio_sid, None)
        if session is None:
            return
        if session.timer is not None:
            session.timer.cancel()
        _decrement(self._by_address, session.address)
        if session.user is not None:
            _decrement(self._by_user, session.user)

    def _sweep(self) -> None:
        """Forget sessions engineio no longer has (one whose disconnect event never came
        would otherwise count against its address for ever)."""
        for eio_sid in [
            s for s in self._sessions if internals.engineio_socket(self._sio, s) is None
        ]:
            self._forget(eio_sid)

    # aiohttp: slow requests, polling bodies, engineio's websocket reader giving up.

    def handler_args(self) -> dict[str, Any]:
        """What the app gives aiohttp's request handler (``web.Application(handler_args=)``),
        in a worker and in the tests' servers alike."""
        return {
            # aiohttp arms this when a connection is made and after each response, and
            # closes a connection that has not sent a whole request's headers by then: the
            # bound on slow-header (slowloris) clients. A request in progress is not cut.
            "keepalive_timeout": self.request_timeout_s,
            # Its tracebacks on this port are about what a client sent (ratelog.py).
            "logger": library_logger("chatserver.http"),
        }

    def middleware(self) -> Middleware:
        """The aiohttp middleware for Engine.IO's requests: polling POSTs bounded in size
        and time, and a session whose websocket engineio's own reader gave up on (a packet
        it could not read) ended at once."""

        @web.middleware
        async def guard_engineio(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith(ENGINEIO_PATH):
                return await handler(request)
            if request.method == "POST":
                return await self._polling_post(request, handler)
            try:
                return await handler(request)
            except Exception:
                # engineio's websocket reader raised on a client's packet, outside its own
                # try: its session would otherwise wait for the ping timeout to end.
                self._end_abandoned(request)
                raise  # aiohttp logs one line (handler_args' logger) and closes it

        return guard_engineio

    def _end_abandoned(self, request: web.Request) -> None:
        eio_sid = internals.session_of_request(self._sio, request)
        sock = internals.engineio_socket(self._sio, eio_sid) if eio_sid else None
        if sock is not None and not sock.closed:
            self._close_later(internals.close_socket(self._sio, sock, abort=True))

    def _close_later(self, closing: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(closing)
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _polling_post(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > self.max_body:
            self._refuse_body(
                request, f"a {length}-byte body (HUDDLE_MAX_FRAME_BYTES: {self.max_body})"
            )
            too_big = web.HTTPRequestEntityTooLarge(max_size=self.max_body, actual_size=length)
            too_big.force_close()
            raise too_big
        # engineio reads whatever part of the body has come, but waits for ever for a body
        # that never starts; and when a body ends its session (a packet type a client may
        # not send), it waits for the client's next poll to take the CLOSE packet, which a
        # client that only posts never sends. Bounded here. (Its bare ``except`` may
        # swallow the cancellation and answer 200; whether the bound expired decides.)
        bound = asyncio.timeout(self.request_timeout_s)
        try:
            async with bound:
                resp = await handler(request)
        except TimeoutError:
            pass
        if not bound.expired():
            return resp
        eio_sid = request.query.get("sid", "")
        if internals.drop_closed_socket(self._sio, eio_sid):
            ended = web.Response(status=400, text="session closed")
            ended.force_close()
            return ended
        self._refuse_body(
            request,
            f"its body did not come within {self.request_timeout_s:g} s "
            "(HUDDLE_HTTP_REQUEST_TIMEOUT_S)",
        )
        slow = web.Response(status=408, text="request body too slow")
        slow.force_close()
        return slow

    def _refuse_body(self, request: web.Request, what: str) -> None:
        eio_sid = request.query.get("sid", "")
        session = self._sessions.get(eio_sid)
        if session is not None:
            address = session.address
        else:
            forwarded = request.headers.get("X-Forwarded-For")
            address = client_address(request.remote, forwarded, self.trusted)
        CLIENTS.warning("polling_body", "refused a polling POST from %s: %s", address, what)
        if session is not None:
            self.end(eio_sid, frames.TOO_BIG, "request too large or too slow")


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
