"""Reading one Redis pub/sub subscription connection as its bytes arrive.

`RedisBus` (bus.py) owns the rooms' feeds, what is subscribed where, and catching a room up
from the log; this module only turns the connection's replies into calls on it: in-order
entries delivered at once, confirmations recorded, and anything that needs the log handed
to one task that keeps arrival order.

The connection speaks RESP3 (``HELLO 3``) where Redis can (6 and later): published
messages and subscribe confirmations arrive as push frames, and any command may be sent on
the subscribed connection, its reply in turn among them. A room's first join on a worker
uses it: its script is written right behind the room's SUBSCRIBE, so it runs after the
subscription took effect and both are answered in one round trip (`SubscriptionLink`
keeps what each reply answers). A Redis that refuses ``HELLO 3`` gets RESP2, where a
subscribed connection takes only (un)subscribes and PING: the join then waits for the
confirmation and runs on the command connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import hiredis
from redis.exceptions import ResponseError

from chatserver.backend import BackendUnavailable
from chatserver.redis_backend.connection import COMMAND_TIMEOUT_S
from chatserver.resp import Arg, RedisAddress, RedisLinkError, RespConnection, connect

if TYPE_CHECKING:
    from chatserver.redis_backend.bus import RedisBus

log = logging.getLogger(__name__)

# Opening the subscription (TCP, TLS, AUTH, SELECT) and its first PONG, as one bound.
SUBSCRIBER_CONNECT_S = COMMAND_TIMEOUT_S * 2
# A subscription that has heard nothing for this long is sent a PING; one whose PING is
# still unanswered SUBSCRIBER_DEAD_AFTER - 1 periods later is given up and reopened. A quiet room
# sends nothing, and a peer that vanished without closing the connection (a dropped NAT
# entry, a partition) sends nothing either: only an unanswered PING tells them apart.
SUBSCRIBER_KEEPALIVE_S = 5.0
SUBSCRIBER_DEAD_AFTER = 3


@dataclass(slots=True)
class Heard:
    """When the subscription last received anything (loop time)."""

    at: float


class _Subscribing:
    """A SUBSCRIBE's place among the connection's answers: a push when it took effect, an
    error reply if it was refused."""


class _Pinged:
    """A PING's place among the connection's answers."""


SUBSCRIBING = _Subscribing()
PINGED = _Pinged()


@dataclass(slots=True, eq=False)
class SubscriptionLink:
    """One open subscription connection and, on RESP3, what its next replies answer, in
    the order they were sent: every reply that is not a push answers the oldest."""

    connection: RespConnection
    resp3: bool
    expected: collections.deque[object] = field(default_factory=collections.deque)
    """SUBSCRIBING, PINGED, or a command's future (RESP3 only)."""

    def subscribe(self, command: str, channels: list[bytes], *, one_each: bool) -> None:
        """SUBSCRIBE (or SSUBSCRIBE) ``channels``: one command, or one each (SSUBSCRIBE
        takes channels of one slot only). Each channel is confirmed by a push."""
        if not channels:
            return
        if one_each:
            self.connection.send([(command, c) for c in channels])
        else:
            self.connection.send([(command, *channels)])
        if self.resp3:
            self.expected.extend(SUBSCRIBING for _ in channels)

    def unsubscribe(self, command: str, channel: bytes) -> None:
        # Confirmed by a push (nothing in `expected`); never refused.
        self.connection.send([(command, channel)])

    def ping(self) -> None:
        self.connection.send([("PING",)])
        if self.resp3:
            self.expected.append(PINGED)

    async def call(self, *command: Arg) -> Any:
        """A command answered in turn on this connection (RESP3 only); an error reply
        raises ResponseError, as on the command connection."""
        assert self.resp3
        if self.connection.is_closing():
            # Lost, and the bus has not yet heard (it will, a loop turn later).
            raise self.connection.error or RedisLinkError("Redis connection lost")
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.expected.append(answer)
        self.connection.send([command])
        return await answer

    def answer(self, reply: Any) -> None:
        """A reply that is not a push: it answers the oldest command still waiting."""
        waiting = self.expected.popleft() if self.expected else None
        if isinstance(waiting, asyncio.Future):
            if waiting.done():  # its caller gave up (a timeout)
                return
            if isinstance(reply, hiredis.ReplyError):
                waiting.set_exception(ResponseError(str(reply)))
            else:
                waiting.set_result(reply)
        elif waiting is SUBSCRIBING:
            raise RedisLinkError(f"unexpected reply to a subscription: {reply!r:.80}")

    def refuses_subscription(self, reply: Any) -> bool:
        """Whether ``reply`` (not a push) is an error answering a SUBSCRIBE."""
        return (
            isinstance(reply, hiredis.ReplyError)
            and bool(self.expected)
            and self.expected[0] is SUBSCRIBING
        )

    def confirmed(self) -> None:
        """A subscribe confirmation (a push) arrived: it answers the oldest SUBSCRIBE."""
        if self.resp3 and self.expected and self.expected[0] is SUBSCRIBING:
            self.expected.popleft()

    def lost(self) -> None:
        """The connection ended: commands still waiting are told."""
        waiting, self.expected = self.expected, collections.deque()
        for item in waiting:
            if isinstance(item, asyncio.Future) and not item.done():
                item.set_exception(BackendUnavailable("Redis connection lost"))


class SubscriptionReader:
    """One subscription connection's replies, handled as they arrive (redis-py's
    get_message cost a coroutine, a timeout and a dict per message; a task reading a
    StreamReader, a loop turn per read): parsed by hiredis, in-order entries delivered
    synchronously. An entry that needs the log first (a gap, a new epoch: `_deliver_late`)
    is handed, with every message after it, to one task that handles them in arrival
    order, as the reading task did by awaiting it before its next read."""

    __slots__ = ("_backlog", "_bus", "_clock", "_connection", "_heard", "_link", "_loop", "_task")

    def __init__(
        self,
        bus: RedisBus,
        link: SubscriptionLink,
        heard: Heard,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._bus = bus
        self._link = link
        self._connection = link.connection
        self._heard = heard
        self._loop = loop
        self._clock = loop.time
        self._backlog: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        """Handling the backlog; while it runs, every message waits behind it."""

    def received(self) -> None:
        bus = self._bus
        self._heard.at = self._clock()
        replies = self._connection.parser
        feeds, backlog = bus._feeds, self._backlog
        message_kind, subscribed_kind = bus._message_kind, bus._subscribed_kind
        link = self._link
        resp3 = link.resp3
        while (reply := replies.gets()) is not False:
            if (
                resp3
                and not isinstance(reply, hiredis.PushNotification)
                and not link.refuses_subscription(reply)
            ):
                link.answer(reply)  # a command's reply, in turn
                continue
            if isinstance(reply, hiredis.ReplyError):
                # A subscribe refused (MOVED: the slot is served elsewhere now).
                if bus._cluster is not None:
                    bus._cluster.slots.refresh_soon()
                raise RedisLinkError(f"Redis refused a subscription: {reply}")
            if not isinstance(reply, list) or len(reply) < 3:
                continue  # PONG and the like
            kind, channel, body = reply[0], reply[1], reply[2]
            if kind == message_kind:
                if self._task is not None:
                    backlog.append((channel, body))
                    continue
                feed = feeds.get(channel)
                if feed is None:
                    continue
                if feed.last is None or feed.held:
                    feed.pending.append(body)
                elif not bus._deliver_in_order(feed, body):
                    backlog.append((channel, body))
                    self._task = self._loop.create_task(self._work_through_backlog())
            elif kind == subscribed_kind:
                link.confirmed()
                feed = feeds.get(channel)
                if feed is not None:
                    feed.confirmed = self._connection
                fut = bus._confirmations.get(channel)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            elif kind == b"sunsubscribe" and channel in feeds:
                # Not ours (its feed is still here): the slot moved to another node.
                raise RedisLinkError("a room's slot moved to another Redis Cluster node")

    async def _work_through_backlog(self) -> None:
        bus, backlog = self._bus, self._backlog
        try:
            while backlog:
                channel, body = backlog.popleft()
                feed = bus._feeds.get(channel)
                if feed is None:
                    continue
                if feed.last is None or feed.held:
                    feed.pending.append(body)
                elif not bus._deliver_in_order(feed, body):
                    await bus._deliver_late(feed, body)
        except Exception as exc:
            # As when the reading task failed: the subscription is reopened and every room
            # caught up from the log (what was still waiting here included).
            backlog.clear()
            self._connection.fail(RedisLinkError(str(exc) or type(exc).__name__))
        finally:
            self._task = None

    def stop(self) -> None:
        self._backlog.clear()
        if self._task is not None:
            self._task.cancel()


async def open_subscription(address: RedisAddress) -> SubscriptionLink:
    """A new subscription connection that Redis has answered (a PING's PONG), in
    RESP3 if Redis speaks it (``HELLO 3``: Redis 6 and later)."""
    async with asyncio.timeout(SUBSCRIBER_CONNECT_S):
        connection = await connect(address, timeout_s=SUBSCRIBER_CONNECT_S)
        try:
            connection.send([("HELLO", "3"), ("PING",)])
            await connection.drain()
            replies: list[Any] = []
            while len(replies) < 2:
                replies += await connection.read_replies()
        except BaseException:
            connection.abort()
            raise
    if replies[1] != b"PONG":
        connection.abort()
        raise RedisLinkError(f"Redis answered PING with {replies[1]!r}")
    return SubscriptionLink(connection, resp3=not isinstance(replies[0], hiredis.ReplyError))


async def keep_alive(link: SubscriptionLink, heard: Heard) -> None:
    """PING a subscription that has gone quiet; give it up only when a PING has gone
    unanswered, so a worker whose own loop stalled (nothing was read because nothing
    ran) is not mistaken for a dead connection."""
    loop = asyncio.get_running_loop()
    connection = link.connection
    pinged_at: float | None = None
    while True:
        await asyncio.sleep(SUBSCRIBER_KEEPALIVE_S)
        now = loop.time()
        if pinged_at is not None and heard.at >= pinged_at:
            pinged_at = None  # answered (or anything else arrived since)
        if pinged_at is not None:
            unanswered_s = now - pinged_at
            if unanswered_s >= SUBSCRIBER_KEEPALIVE_S * (SUBSCRIBER_DEAD_AFTER - 1):
                log.warning(
                    "Redis subscription did not answer a PING in %.0f s; reopening it",
                    unanswered_s,
                )
                connection.abort()  # the pump's read ends, and the listener reconnects
                return
        elif now - heard.at >= SUBSCRIBER_KEEPALIVE_S:
            pinged_at = now
            # A write that cannot finish is what a later check gives up on.
            with contextlib.suppress(Exception):
                link.ping()
                await asyncio.wait_for(connection.drain(), COMMAND_TIMEOUT_S)
