"""Socket.IO event handlers: thin glue from events to ChatService methods.

Every client event gets an ack; anything a client sends, of any shape, ends in an error
ack rather than an exception in the server log. Chat events from one connection run one
at a time, so offsets follow the order the member sent them in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from chatserver import errors
from chatserver.auth import AuthError, Claims, decode_token
from chatserver.backend import BackendUnavailable
from chatserver.deadlines import Deadlines
from chatserver.errors import ServiceError
from chatserver.service import ChatService
from chatserver.service.acks import Ack, ErrorAck, Handler
from chatserver.transport import internals
from chatserver.transport.gate import Gate
from chatserver.transport.requests import RequestHandler, Requests

log = logging.getLogger(__name__)

# Each backend call has its own bound; this is the last resort for a request as a whole,
# so a client never waits on an ack forever.
REQUEST_TIMEOUT_S = 5.0
# A join may wait its turn (service/admission.py: in a reconnect storm, recovery waits
# rather than being refused) up to just under the web client's 10 s ack timeout.
JOIN_TIMEOUT_S = 8.0
_last_backend_log = [0.0]
# Long enough for the error ack to be written before the transport closes.
EXPIRED_CLOSE_DELAY_S = 0.2


def register(
    sio: socketio.AsyncServer,
    service: ChatService,
    secret: str,
    gate: Gate,
    admit: Callable[[Claims], Awaitable[str | None]] | None = None,
) -> None:
    """``admit`` is asked about each signed-in connection (a server-issued credential whose
    place has ended is refused: chatserver/organise/access.py); None admits every valid
    token."""

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = decode_token(token, secret, int(time.time()))
        except AuthError as exc:
            raise socketio.exceptions.ConnectionRefusedError(f"unauthorized: {exc}") from None
        if admit is not None:
            ended = await admit(claims)
            if ended is not None:
                raise socketio.exceptions.ConnectionRefusedError(ended)
        try:
            eio_sid = internals.eio_sid(sio, sid)
            refusal = gate.sign_in(eio_sid, claims.user_id)
            if refusal is None:
                service.connect(sid, eio_sid, claims)
        except Exception:
            # Ours, not the client's: the gate takes whatever escapes here for bad input.
            log.exception("unexpected error signing in %s", sid)
            refusal = "unavailable: something went wrong; please try again"
        if refusal is not None:
            raise socketio.exceptions.ConnectionRefusedError(refusal)

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, reason: Any = None) -> None:
        conn = service.connections.get(sid)
        if conn is not None:
            gate.sign_out(conn.eio_sid)  # a ``41`` on a session that goes on
        try:
            await asyncio.wait_for(service.disconnect(sid), REQUEST_TIMEOUT_S)
        except Exception:
            log.warning("cleanup after disconnect of %s did not finish", sid, exc_info=True)

    serialised: dict[str, Handler] = {
        "join": service.join,
        "leave": service.leave,
        "message": service.message,
    }
    concurrent: dict[str, Handler] = {"typing": service.typing, "hand": service.hand}
    serialised.update(service.controls.handlers())
    serialised.update(service.space.handlers())
    serialised.update(service.meeting.handlers())
    # Every request's bound on one timer (chatserver/deadlines.py), not a timer each.
    deadlines = Deadlines()
    requests: dict[str, RequestHandler] = {}
    for name, method in serialised.items():
        bound = JOIN_TIMEOUT_S if name == "join" else REQUEST_TIMEOUT_S
        requests[name] = _handler(service, method, deadlines, serialise=True, timeout_s=bound)
    for name, method in concurrent.items():
        requests[name] = _handler(service, method, deadlines, serialise=False)
    for name, handler in requests.items():
        sio.on(name, handler)  # python-socketio's path: another namespace, a packet it reads
    # Answered without python-socketio's per-event path (chatserver/transport/requests.py).
    gate.take_requests(Requests(sio, requests).dispatch)

    async def unknown_event(event: str, sid: str, *args: Any) -> ErrorAck:
        return ServiceError(errors.INVALID_PAYLOAD, f"Unknown event {str(event)[:40]!r}.").ack()

    sio.on("*", unknown_event)


def _handler(
    service: ChatService,
    method: Handler,
    deadlines: Deadlines,
    *,
    serialise: bool,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> Callable[..., Awaitable[Ack]]:
    async def handle(sid: str, *args: Any) -> Ack:
        if len(args) != 1:
            return ServiceError(errors.INVALID_PAYLOAD, "Send exactly one payload object.").ack()
        conn = service.connections.get(sid)
        if conn is None:
            return ServiceError(errors.UNAUTHORIZED, "This connection is not signed in.").ack()
        if conn.claims.expired(service.clock()):
            # Access ends: the sweep closes this connection once the ack below is out.
            asyncio.get_running_loop().call_later(EXPIRED_CLOSE_DELAY_S, service.end_expired)
            return ServiceError(
                errors.UNAUTHORIZED,
                "Your sign-in link has expired; please ask your facilitator for a new one.",
            ).ack()
        if service.draining:
            return ServiceError(
                errors.UNAVAILABLE, "This server is restarting; reconnecting you elsewhere."
            ).ack()
        service.request_started()
        try:
            if serialise:
                async with conn.lock, deadlines.within(timeout_s):
                    return await method(sid, args[0])
            async with deadlines.within(timeout_s):
                return await method(sid, args[0])
        except ServiceError as exc:
            service.metrics.refusals.labels(code=exc.code).inc()
            return exc.ack()
        except (BackendUnavailable, TimeoutError, ConnectionError, OSError) as exc:
            service.metrics.backend_errors.inc()
            # One line, no traceback, at most once a second: under overload, formatting
            # tracebacks for every failed request was most of the worker's CPU.
            now = time.monotonic()
            if now - _last_backend_log[0] >= 1.0:
                _last_backend_log[0] = now
                log.warning("requests failing: backend unavailable (%s)", type(exc).__name__)
            return ServiceError(
                errors.UNAVAILABLE, "The chat is briefly unavailable; please try again."
            ).ack()
        except Exception:
            log.exception("unexpected error handling a request from %s", sid)
            return ServiceError(errors.UNAVAILABLE, "Something went wrong; please try again.").ack()
        finally:
            service.request_finished()

    return handle
