"""Live delivery from Redis pub/sub: one channel per room (``huddle:{room}``).

This worker subscribes only to rooms it has members in, decodes each published entry
once and hands it to the room's listeners in offset order. A gap (pub/sub is
at-most-once) is repaired from the log before delivery; after a reconnect every channel
is resubscribed and repaired.

The subscription is huddle's own connection (`chatserver/resp.py`: asyncio streams,
AUTH, SELECT, TLS, replies parsed by hiredis), opened from the backend's URL: SUBSCRIBE
and UNSUBSCRIBE are written on it, and every reply of one socket read is handled in one
go. No redis-py internals.

On a Redis Cluster a room's channel is a sharded channel (SSUBSCRIBE), served by the
master of the room's slot: one subscription connection per master, together one
subscription — if any of them is lost (a master died, a slot moved: Redis sends
``sunsubscribe``), the slot map is read again, every connection reopened to the masters
serving now, and every room caught up from the log.

After every reconnect a room's live delivery is held until it is caught up: the entry
this worker delivered last is looked up in the log, and if it is gone or different — a
master died before its replica had it, and the replica took over — the room has been
rolled back: it is given a new epoch (`rollback.lua`, once for all workers) and its
members start over from the log (``recovered: false``), so nobody is shown two
different messages under one offset."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import hiredis

from chatserver.backend import (
    BackendUnavailable,
    Delivery,
    RoomListener,
)
from chatserver.ids import ids
from chatserver.redis_backend.codec import (
    _entry,
    _pack,
    _stream_entry,
    _unpack,
)
from chatserver.redis_backend.connection import COMMAND_TIMEOUT_S, RedisTarget
from chatserver.redis_backend.keys import (
    room_keys,
)
from chatserver.redis_backend.log import RedisLog
from chatserver.redis_cluster import group_by_master, key_slot
from chatserver.resp import RedisAddress, RedisLinkError, RespConnection, connect
from rooms.entries import event_name

log = logging.getLogger(__name__)


RECONNECT_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)
PUBSUB_READ_BYTES = 1 << 18
# Opening the subscription (TCP, TLS, AUTH, SELECT) and its first PONG, as one bound.
SUBSCRIBER_CONNECT_S = COMMAND_TIMEOUT_S * 2
# A subscription that has heard nothing for this long is sent a PING; one whose PING is
# still unanswered SUBSCRIBER_DEAD_AFTER - 1 periods later is given up and reopened. A quiet room
# sends nothing, and a peer that vanished without closing the connection (a dropped NAT
# entry, a partition) sends nothing either: only an unanswered PING tells them apart.
SUBSCRIBER_KEEPALIVE_S = 5.0
SUBSCRIBER_DEAD_AFTER = 3


@dataclass(slots=True)
class _Heard:
    """When the subscription last received anything (loop time)."""

    at: float


@dataclass(slots=True, eq=False)
class _Feed:
    """Live delivery of one room on this worker."""

    room: str
    channel: bytes
    listeners: list[RoomListener] = field(default_factory=list)
    epoch: str = ""
    last: int | None = None
    """Last offset delivered; None while the subscription is being set up."""
    last_body: bytes | None = None
    """The stored body of the entry at `last` (None: not known), to tell a rollback."""
    held: bool = False
    """True after a reconnect until the room is caught up: published frames wait."""
    pending: list[bytes] = field(default_factory=list)
    retired: set[str] = field(default_factory=set)
    """Epochs this room was rolled back from: their late frames are stale, not news."""


class RedisBus(RedisLog):
    def __init__(self, target: RedisTarget, **options: Any) -> None:
        super().__init__(target, **options)
        self._feeds: dict[bytes, _Feed] = {}
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self._subscribers: dict[RedisAddress, RespConnection] = {}
        """The subscription's connections while open (huddle's own, not redis-py's): the
        one Redis, or each cluster master."""
        sharded = self._cluster is not None
        self._subscribe_cmd = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self._unsubscribe_cmd = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._message_kind = b"smessage" if sharded else b"message"
        self._subscribed_kind = b"ssubscribe" if sharded else b"subscribe"
        self._listen_task: asyncio.Task[None] | None = None
        self.gap_repairs = 0

    async def publish(self, room: str, delivery: Delivery) -> None:
        await self._publish(room_keys(room)["channel"], ephemeral_frame(delivery))

    async def subscribe(self, room: str, listener: RoomListener) -> int:
        channel = room_keys(room)["channel"].encode()
        feed = self._feeds.get(channel)
        if feed is not None and feed.last is not None:
            feed.listeners.append(listener)
            return feed.last
        if feed is None:
            feed = _Feed(room, channel)
            self._feeds[channel] = feed
        feed.listeners.append(listener)
        try:
            await self._subscribe_channel(feed)
            return feed.last if feed.last is not None else 0
        except BaseException:
            feed.listeners.remove(listener)
            if not feed.listeners:
                self._feeds.pop(channel, None)
            raise

    async def unsubscribe(self, room: str, listener: RoomListener) -> None:
        channel = room_keys(room)["channel"].encode()
        feed = self._feeds.get(channel)
        if feed is None:
            return
        if listener in feed.listeners:
            feed.listeners.remove(listener)
        if feed.listeners:
            return
        del self._feeds[channel]
        connection = self._subscriber_for(channel)
        if connection is not None and self._connected.is_set():
            # Its reply is not waited for: messages still on their way are dropped (no
            # feed), and a later subscribe to the room waits for its own confirmation.
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(
                    _write(connection, self._unsubscribe_cmd, channel), COMMAND_TIMEOUT_S
                )

    def _subscriber_for(self, channel: bytes) -> RespConnection | None:
        """The open subscription connection serving ``channel`` (None: none is)."""
        if self._cluster is None:
            return self._subscribers.get(self._address) if self._address else None
        master = self._cluster.slots.master(key_slot(channel))
        return None if master is None else self._subscribers.get(master)

    async def _subscribe_channel(self, feed: _Feed) -> None:
        if not self._connected.is_set():
            raise BackendUnavailable("not connected to Redis")
        connection = self._subscriber_for(feed.channel)
        if connection is None:
            # A master this subscription has no connection to (the cluster changed):
            # open the subscription again, to the masters serving now.
            self._reopen_subscription()
            raise BackendUnavailable("the Redis Cluster's masters changed; subscribing again")
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[feed.channel] = confirmed
        try:
            await asyncio.wait_for(
                _write(connection, self._subscribe_cmd, feed.channel), COMMAND_TIMEOUT_S
            )
            await asyncio.wait_for(confirmed, COMMAND_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise BackendUnavailable(str(exc)) from exc
        finally:
            self._confirmations.pop(feed.channel, None)
        # Subscribed: everything published from now on reaches us. Where the log stands
        # now is where live delivery continues; anything buffered meanwhile is replayed.
        read = await self.read(feed.room, None, 0)
        feed.epoch = read.epoch
        feed.last = read.offset
        feed.last_body = None
        await self._replay_pending(feed)

    async def _replay_pending(self, feed: _Feed) -> None:
        """Deliver what was published while the room was being set up or caught up."""
        while feed.pending:
            pending, feed.pending = feed.pending, []
            for data in pending:
                if not self._deliver_in_order(feed, data):
                    await self._deliver_late(feed, data)

    async def _listen_forever(self) -> None:
        attempt = 0
        try:
            while not self._closed:
                try:
                    connections = await self._open_subscribers()
                    channels = list(self._feeds)
                    for feed in self._feeds.values():
                        if feed.last is not None:
                            feed.held = True  # until caught up (_resync)
                    await self._subscribe_all(connections, channels)
                    self._connected.set()
                    self._failing_until = 0.0  # Redis answered: stop failing fast
                    attempt = 0
                    loop = asyncio.get_running_loop()
                    resync = loop.create_task(self._resync_all(channels))
                    watchers: list[asyncio.Task[None]] = [resync]
                    pumps: list[asyncio.Task[None]] = []
                    for connection in connections.values():
                        heard = _Heard(loop.time())
                        watchers.append(loop.create_task(self._keep_alive(connection, heard)))
                        pumps.append(loop.create_task(self._pump(connection, heard)))
                    try:
                        # Pumps end only by failing: one lost connection, all reopened.
                        done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            task.result()
                    finally:
                        for task in (*watchers, *pumps):
                            task.cancel()
                        for task in pumps:
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await task
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not self._closed:
                        log.warning("Redis subscription lost (%s); reconnecting", exc)
                self._connected.clear()
                for fut in self._confirmations.values():
                    if not fut.done():
                        fut.set_exception(BackendUnavailable("Redis connection lost"))
                self._drop_subscribers()
                backoff = RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
                await asyncio.sleep(backoff)
                attempt += 1
        finally:
            self._drop_subscribers()  # closed (the task cancelled) while open

    async def _open_subscribers(self) -> dict[RedisAddress, RespConnection]:
        """New subscription connections that Redis has answered (a PING's PONG): to the
        one Redis, or to every master the cluster names now."""
        if self._cluster is None:
            assert self._address is not None
            addresses = [self._address]
        else:
            await self._cluster.slots.refresh()
            addresses = self._cluster.slots.masters()
        async with asyncio.timeout(SUBSCRIBER_CONNECT_S):
            opened = await asyncio.gather(
                *(self._open_subscriber(address) for address in addresses)
            )
        return dict(zip(addresses, opened, strict=True))

    async def _open_subscriber(self, address: RedisAddress) -> RespConnection:
        connection = await connect(address, timeout_s=SUBSCRIBER_CONNECT_S)
        self._subscribers[address] = connection  # from here on, a failure drops it
        await _write(connection, "PING")
        replies = await connection.read_replies()
        if replies[0] != b"PONG":
            raise RedisLinkError(f"Redis answered PING with {replies[0]!r}")
        return connection

    async def _subscribe_all(
        self, connections: dict[RedisAddress, RespConnection], channels: list[bytes]
    ) -> None:
        """Every room's channel on the connection serving it (one command per channel on
        a cluster: SSUBSCRIBE takes channels of one slot only)."""
        if not channels:
            return
        if self._cluster is None:
            (connection,) = connections.values()
            await asyncio.wait_for(
                _write(connection, self._subscribe_cmd, *channels), COMMAND_TIMEOUT_S
            )
            return
        for master, group in group_by_master(self._cluster.slots, channels).items():
            shard = connections.get(master)
            if shard is None:
                raise RedisLinkError("the Redis Cluster's masters changed while subscribing")
            shard.send([(self._subscribe_cmd, channel) for channel in group])
            await asyncio.wait_for(shard.writer.drain(), COMMAND_TIMEOUT_S)

    def _reopen_subscription(self) -> None:
        """Make the listener open the whole subscription again (it reads the slot map)."""
        for connection in self._subscribers.values():
            connection.abort()

    def _drop_subscribers(self) -> None:
        connections, self._subscribers = list(self._subscribers.values()), {}
        for connection in connections:
            connection.abort()

    async def _keep_alive(self, connection: RespConnection, heard: _Heard) -> None:
        """PING a subscription that has gone quiet; give it up only when a PING has gone
        unanswered, so a worker whose own loop stalled (nothing was read because nothing
        ran) is not mistaken for a dead connection."""
        loop = asyncio.get_running_loop()
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
                    await asyncio.wait_for(_write(connection, "PING"), COMMAND_TIMEOUT_S)

    async def _pump(self, connection: RespConnection, heard: _Heard) -> None:
        """Read the subscription in bulk: every reply that arrived in one read is handled
        in one go, parsed by hiredis, in-order entries delivered synchronously (redis-py's
        get_message cost a coroutine, a timeout and a dict per message: most of the
        listener's time under load)."""
        stream = connection.reader
        replies = connection.parser
        clock = asyncio.get_running_loop().time
        message_kind, subscribed_kind = self._message_kind, self._subscribed_kind
        while True:
            data = await stream.read(PUBSUB_READ_BYTES)
            if not data:
                raise RedisLinkError("Redis closed the subscription connection")
            heard.at = clock()
            replies.feed(data)
            while (reply := replies.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    # A subscribe refused (MOVED: the slot is served elsewhere now).
                    if self._cluster is not None:
                        self._cluster.slots.refresh_soon()
                    raise RedisLinkError(f"Redis refused a subscription: {reply}")
                if not isinstance(reply, list) or len(reply) < 3:
                    continue  # PONG and the like
                kind, channel, body = reply[0], reply[1], reply[2]
                if kind == message_kind:
                    feed = self._feeds.get(channel)
                    if feed is None:
                        continue
                    if feed.last is None or feed.held:
                        feed.pending.append(body)
                    elif not self._deliver_in_order(feed, body):
                        await self._deliver_late(feed, body)
                elif kind == subscribed_kind:
                    fut = self._confirmations.get(channel)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                elif kind == b"sunsubscribe" and channel in self._feeds:
                    # Not ours (its feed is still here): the slot moved to another node.
                    raise RedisLinkError("a room's slot moved to another Redis Cluster node")

    def _deliver_in_order(self, feed: _Feed, data: bytes) -> bool:
        """The common case, synchronously: an ephemeral event, or the next offset of the
        same epoch. False when `_deliver_late` must look at it."""
        if data[:1] == b"E":
            self._emit(feed, _ephemeral(data))
            return True
        epoch_b, offset_b, event_b, body = data[1:].split(b"\n", 3)
        offset = int(offset_b)
        if offset != (feed.last or 0) + 1 or epoch_b.decode() != feed.epoch:
            return False
        feed.last = offset
        feed.last_body = body
        self._emit(feed, Delivery(event_b.decode(), _entry(offset, body), offset=offset))
        return True

    async def _deliver_late(self, feed: _Feed, data: bytes) -> None:
        """A logged entry that is not simply the next one: a new epoch, a stale copy, or
        one after a gap (repaired from the log first)."""
        epoch_b, offset_b, event_b, body = data[1:].split(b"\n", 3)
        epoch, offset = epoch_b.decode(), int(offset_b)
        assert feed.last is not None
        if epoch in feed.retired:
            return  # appended before the room's rollback was declared: stale
        if epoch != feed.epoch:
            # The room's log was reset (Redis lost it): local clients must start over.
            log.warning("room %s: epoch changed; asking its clients to rejoin", feed.room)
            feed.epoch, feed.last = epoch, 0
            self._emit(feed, Delivery("reset", {"room": feed.room}))
        if offset <= feed.last:
            return
        if offset > feed.last + 1:
            await self._repair(feed, offset - 1)
            if offset <= feed.last:
                return
        feed.last = offset
        feed.last_body = body
        self._emit(feed, Delivery(event_b.decode(), _entry(offset, body), offset=offset))

    async def _repair(self, feed: _Feed, upto: int) -> None:
        """Deliver the entries after feed.last up to ``upto`` from the log."""
        assert feed.last is not None
        self.gap_repairs += 1
        start = feed.last + 1
        items: Any = await self._call(
            self._redis.xrange(room_keys(feed.room)["log"], f"{start}-1", f"{upto}-1")
        )
        entries = [_stream_entry(list(item)) for item in items or []]
        if not entries or entries[0]["offset"] != start:
            # Trimmed past what we missed: a partial repair would hide the gap.
            log.warning("room %s: gap %s..%s no longer in the log", feed.room, start, upto)
            self._emit(feed, Delivery("reset", {"room": feed.room}))
        for entry, item in zip(entries, items or [], strict=True):
            if entry["offset"] > feed.last:
                feed.last = entry["offset"]
                feed.last_body = _stored_body(item)
                self._emit(feed, Delivery(event_name(entry), entry, offset=entry["offset"]))
        if upto > feed.last:
            feed.last, feed.last_body = upto, None

    async def _resync_all(self, channels: list[bytes]) -> None:
        """After a (re)connect, catch every subscribed room up from the log. Redis may not
        answer at once (the commands' connection can be failing over too): each room is
        retried until it is caught up or the subscription is lost again (this task is
        cancelled then), because a quiet room sends nothing that would repair it later."""
        attempt = 0
        for channel in channels:
            while True:
                try:
                    await self._resync(channel)
                    break
                except BackendUnavailable:
                    await asyncio.sleep(
                        RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
                    )
                    attempt += 1

    async def _resync(self, channel: bytes) -> None:
        feed = self._feeds.get(channel)
        if feed is None or feed.last is None:
            return
        read = await self.read(feed.room, None, 0)
        if read.epoch != feed.epoch:
            feed.epoch, feed.last, feed.last_body = read.epoch, read.offset, None
            self._emit(feed, Delivery("reset", {"room": feed.room}))
        elif await self._rolled_back(feed, read.offset):
            await self._declare_rollback(feed)
        elif read.offset > feed.last:
            await self._repair(feed, read.offset)
        feed.held = False
        await self._replay_pending(feed)

    async def _rolled_back(self, feed: _Feed, offset: int) -> bool:
        """Whether the last entry delivered here is no longer the log's (a master died
        before its replica had it, and the replica took over)."""
        assert feed.last is not None
        if feed.last == 0:
            return False
        if offset < feed.last:
            return True
        if feed.last_body is None:
            return False
        mark = f"{feed.last}-1"
        items: Any = await self._call(self._redis.xrange(room_keys(feed.room)["log"], mark, mark))
        # Not there at all: trimmed (a long outage); the gap repair tells its clients.
        return bool(items) and _stored_body(items[0]) != feed.last_body

    async def _declare_rollback(self, feed: _Feed) -> None:
        """A new epoch for the room (the first worker to notice sets it; the others
        adopt it), and its members here start over from the log."""
        log.warning(
            "room %s: entries after offset %s were lost by a failover; starting a new epoch",
            feed.room,
            feed.last,
        )
        k = room_keys(feed.room)
        epoch_b, offset = await self._call(
            self._rollback(keys=[k["meta"]], args=[feed.epoch, ids.next()])
        )
        feed.retired.add(feed.epoch)
        feed.epoch, feed.last, feed.last_body = epoch_b.decode(), int(offset), None
        self._emit(feed, Delivery("reset", {"room": feed.room}))

    def _emit(self, feed: _Feed, delivery: Delivery) -> None:
        for listener in list(feed.listeners):
            try:
                listener(delivery)
            except Exception:
                log.exception("room listener failed")


def _stored_body(item: Any) -> bytes:
    """The body of a log entry as XRANGE returns it (redis-py: (id, {field: value}))."""
    _, fields = item
    body: bytes = fields[b"e"] if isinstance(fields, dict) else fields[1]
    return body


def ephemeral_frame(delivery: Delivery) -> bytes:
    """An ephemeral event as published: ``E`` and one msgpack array [audience, event,
    payload]. Length-prefixed by msgpack, so no value (an audience naming a user, whatever
    their id holds) can be mistaken for the next field; join.lua publishes the same."""
    return b"E" + _pack((delivery.audience, delivery.event, delivery.payload))


def _ephemeral(data: bytes) -> Delivery:
    audience, event, payload = _unpack(data[1:])
    return Delivery(event, payload, audience=audience)


async def _write(connection: RespConnection, *command: str | bytes) -> None:
    """One command on the subscription (its reply, if any, is read by the pump)."""
    connection.send([command])
    await connection.writer.drain()
