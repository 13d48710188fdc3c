"""A client's requests (Socket.IO events with a handler of huddle's), answered without
python-socketio's per-event path.

For every event python-socketio decodes the packet, looks the session up twice, starts
a task through engineio's wrapper, finds the handler (asking ``inspect`` whether it is a
coroutine function), builds an ACK packet, walks it, encodes it, and hands it to
engineio, which wraps it in another packet and calls the socket's ``send`` coroutine:
under load about a tenth of a worker's CPU, the same for every chat message. Here the
gate hands an event packet on the default namespace whose name has a handler straight
to that handler in a task of its own (in arrival order, as python-socketio does), and
the handler's answer is written as the ACK frame: directly on huddle's websocket path,
through engineio's ``send`` on its own. Anything else — another namespace, an event
with no handler of ours (python-socketio's catch-all answers it), a session not
connected — goes to python-socketio as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from socketio import packet as socketio_packet

from chatserver import message_json
from chatserver.transport import frames, internals
from chatserver.transport.connection import connection_of
from chatserver.transport.gate import CheckedPacket, CompactJSON

# An event on the default namespace, no attachments: "2", an ack id of a few digits (or
# none), the JSON array.
_PLAIN_EVENT = re.compile(r"2([0-9]{0,15})\[")

# Finished request tasks are let go once this many more have been started.
_SWEEP_BATCH = 256

RequestHandler = Callable[..., Awaitable[Any]]
"""Called as python-socketio calls an event handler: ``handler(sid, *arguments)``."""


class Requests:
    def __init__(self, sio: Any, handlers: dict[str, RequestHandler]) -> None:
        self._sio = sio
        self._eio = sio.eio
        self._handlers = handlers
        self._running: set[asyncio.Task[None]] = set()
        """The requests' tasks, kept from the garbage collector while they run (the loop
        holds only weak references); finished ones are let go in batches (``_keep``)."""
        self._sweep_at = _SWEEP_BATCH
        self._loop: asyncio.AbstractEventLoop | None = None
        """Asked once, not per request (on Python 3.11 ``get_running_loop()`` is a getpid
        system call)."""

    def dispatch(self, eio_sid: str, data: str) -> bool:
        """Start answering an event packet (``2...``) if it is one of ours: True if it
        was taken, False for python-socketio to read. A packet python-socketio could not
        read either raises ValueError, as python-socketio's decoder does."""
        plain = _plain_event(data)
        if plain is not None:
            ack_id, event = plain
        else:
            pkt = CheckedPacket(encoded_packet=data)
            if pkt.packet_type != socketio_packet.EVENT or pkt.namespace not in (None, "/"):
                return False
            ack_id, event = pkt.id, pkt.data
        handler = self._handlers.get(event[0])
        if handler is None:
            return False
        sid = internals.sid_of(self._sio, eio_sid)
        if sid is None:
            return False  # python-socketio ignores it (and says so in its log)
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        task = loop.create_task(self._answer(handler, sid, eio_sid, ack_id, event[1:]))
        self._keep(task)
        return True

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold ``task`` until it is done. Finished tasks are dropped when the set has
        grown by a batch, instead of by a done callback each (another loop callback per
        request)."""
        running = self._running
        running.add(task)
        if len(running) >= self._sweep_at:
            self._running = running = {t for t in running if not t.done()}
            self._sweep_at = len(running) + _SWEEP_BATCH

    async def _answer(
        self, handler: RequestHandler, sid: str, eio_sid: str, ack_id: int | None, args: list[Any]
    ) -> None:
        result = await handler(sid, *args)
        if ack_id is None:
            return  # the client asked for no answer
        # As python-socketio: a tuple is several arguments, None none.
        if result is None:
            arguments = []
        elif isinstance(result, tuple):
            arguments = list(result)
        else:
            arguments = [result]
        # A message's ack (most acks) from its template, the same text.
        body = message_json.message_ack(arguments)
        if body is None:
            body = CompactJSON.dumps(arguments)
        text = f"{socketio_packet.ACK}{ack_id}{body}"
        sock = self._eio.sockets.get(eio_sid)
        if sock is None or sock.closed:
            return  # gone while the request ran: its client asks again after reconnecting
        conn = connection_of(sock)
        if conn is not None:
            if not conn.transport.is_closing():
                conn.write(frames.message_frame(f"{eio_packet.MESSAGE}{text}"))
            return
        with contextlib.suppress(eio_exceptions.SocketIsClosedError):
            await self._eio.send(eio_sid, text)  # closed meanwhile: as above


def _plain_event(data: str) -> tuple[int | None, list[Any]] | None:
    """A client's usual request, ``2<ack id>[<name>, ...]``, read as python-socketio's
    decoder (``CheckedPacket``) reads it — the same ack id, the same JSON, the same
    ValueError for what no handler can be called with — without its general parse.
    None for anything else (a namespace, attachments, a long id): the decoder reads it."""
    head = _PLAIN_EVENT.match(data)
    if head is None:
        return None
    digits = head.group(1)
    event = CompactJSON.loads(data[head.end() - 1 :])
    if not (isinstance(event, list) and event and isinstance(event[0], str)):
        raise ValueError("an event is a list that starts with its name")
    return (int(digits) if digits else None), event
