"""Reading one Redis pub/sub subscription connection as its bytes arrive.

`RedisBus` (bus.py) owns the rooms' feeds, what is subscribed where, and catching a room up
from the log; this module only turns the connection's replies into calls on it: in-order
entries delivered at once, confirmations recorded, and anything that needs the log handed
to one task that keeps arrival order.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING

import hiredis

from chatserver.resp import RedisLinkError, RespConnection

if TYPE_CHECKING:
    from chatserver.redis_backend.bus import RedisBus


@dataclass(slots=True)
class Heard:
    """When the subscription last received anything (loop time)."""

    at: float


class SubscriptionReader:
    """One subscription connection's replies, handled as they arrive (redis-py's
    get_message cost a coroutine, a timeout and a dict per message; a task reading a
    StreamReader, a loop turn per read): parsed by hiredis, in-order entries delivered
    synchronously. An entry that needs the log first (a gap, a new epoch: `_deliver_late`)
    is handed, with every message after it, to one task that handles them in arrival
    order, as the reading task did by awaiting it before its next read."""

    __slots__ = ("_backlog", "_bus", "_clock", "_connection", "_heard", "_loop", "_task")

    def __init__(
        self,
        bus: RedisBus,
        connection: RespConnection,
        heard: Heard,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._bus = bus
        self._connection = connection
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
        while (reply := replies.gets()) is not False:
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
