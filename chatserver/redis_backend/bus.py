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
master of the room's slot: one subscription connection per master (a `_Shard`), each
reconnected on its own. When one is lost (a master died; a slot moved away, which Redis
says with ``sunsubscribe``), only its rooms wait: the slot map is read again until their
slots have a master, and each room is subscribed where it is served now and caught up
from the log. Rooms on the other masters are not touched.

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

from redis.exceptions import ResponseError

from chatserver.backend import (
    BackendUnavailable,
    Delivery,
    RoomListener,
)
from chatserver.ids import ids
from chatserver.redis_backend.codec import (
    _entry,
    _stream_entry,
    ephemeral_delivery,
    ephemeral_frame,
    stored_body,
)
from chatserver.redis_backend.connection import COMMAND_TIMEOUT_S, RedisTarget
from chatserver.redis_backend.keys import (
    room_keys,
)
from chatserver.redis_backend.log import RedisLog
from chatserver.redis_backend.subscription import (
    Heard,
    SubscriptionLink,
    SubscriptionReader,
    keep_alive,
    open_subscription,
)
from chatserver.redis_cluster import key_slot
from chatserver.resp import RedisAddress, RedisLinkError, RespConnection
from rooms.entries import event_name

log = logging.getLogger(__name__)


RECONNECT_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(slots=True, eq=False)
class _Feed:
    """Live delivery of one room on this worker."""

    room: str
    channel: bytes
    listeners: list[RoomListener] = field(default_factory=list)
    epoch: str = ""
    last: int | None = None
    """Last offset delivered; None until where live delivery starts is known (read after
    the subscription was confirmed, by the bus itself or by a join: ``_join_read``)."""
    confirmed: RespConnection | None = None
    """The subscription connection that confirmed this room: it hears everything
    published since. A command sent while it is still the room's connection runs after
    the subscription took effect."""
    subscribed_on: SubscriptionLink | None = None
    """The subscription connection this room's SUBSCRIBE was last written on: on RESP3, a
    command written behind it runs after the subscription took effect."""
    last_body: bytes | None = None
    """The stored body of the entry at `last` (None: not known), to tell a rollback."""
    held: bool = False
    """True after a reconnect until the room is caught up: published frames wait."""
    pending: list[bytes] = field(default_factory=list)
    retired: set[str] = field(default_factory=set)
    """Epochs this room was rolled back from: their late frames are stale, not news."""


@dataclass(slots=True, eq=False)
class _Shard:
    """The subscription's connection to one master (the one Redis, or a cluster master)."""

    address: RedisAddress
    connection: RespConnection | None = None
    """Open and subscribed to `channels`; None while (re)connecting."""
    link: SubscriptionLink | None = None
    """The same connection, with what its replies answer (None with it)."""
    channels: set[bytes] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    catching_up: set[asyncio.Task[None]] = field(default_factory=set)
    """Rooms being caught up on this connection (cancelled if it is lost)."""


class RedisBus(RedisLog):
    def __init__(self, target: RedisTarget, **options: Any) -> None:
        super().__init__(target, **options)
        self._feeds: dict[bytes, _Feed] = {}
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self._shards: dict[RedisAddress, _Shard] = {}
        """The subscription's connections (huddle's own, not redis-py's): to the one
        Redis, or to each cluster master."""
        self._topology_changed = asyncio.Event()
        """Set when a shard connected or was lost: the listener looks at the map again."""
        sharded = self._cluster is not None
        self._subscribe_cmd = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self._unsubscribe_cmd = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._message_kind = b"smessage" if sharded else b"message"
        self._subscribed_kind = b"ssubscribe" if sharded else b"subscribe"
        self._listen_task: asyncio.Task[None] | None = None
        self.gap_repairs = 0

    async def ready(self) -> bool:
        if self._cluster is not None:
            # The cluster answers: one master down (its replica about to take over) stops
            # only its own rooms, not this worker, so the load balancer keeps it.
            return any(shard.connection is not None for shard in self._shards.values())
        return await super().ready()

    async def publish(self, room: str, delivery: Delivery) -> None:
        await self._publish(room_keys(room)["channel"], ephemeral_frame(delivery))

    async def subscribe(self, room: str, listener: RoomListener) -> int:
        start = await self._listen(room, listener, read_start=True)
        return start if start is not None else 0

    async def subscribe_for_join(self, room: str, listener: RoomListener) -> int | None:
        return await self._listen(room, listener, read_start=False)

    async def _listen(self, room: str, listener: RoomListener, *, read_start: bool) -> int | None:
        channel = room_keys(room)["channel"].encode()
        feed = self._feeds.get(channel)
        started = feed is not None and feed.last is not None
        if (
            feed is not None
            and not read_start
            and (started or feed.confirmed is not None or self._joinable_behind(feed))
        ):
            feed.listeners.append(listener)
            return feed.last
        if started and feed is not None:
            feed.listeners.append(listener)
            return feed.last
        if feed is None:
            feed = _Feed(room, channel)
            self._feeds[channel] = feed
        feed.listeners.append(listener)
        try:
            if feed.confirmed is None:
                await self._subscribe_channel(feed, wait=read_start)
            if read_start and feed.last is None:
                await self._start_by_reading(feed)
            return feed.last
        except BaseException:
            feed.listeners.remove(listener)
            if not feed.listeners:
                self._feeds.pop(channel, None)
            raise

    def _joinable_behind(self, feed: _Feed) -> SubscriptionLink | None:
        """The RESP3 subscription connection carrying ``feed``'s SUBSCRIBE, if it still
        serves the room: a join's script written on it runs after the subscription took
        effect, confirmed or not yet."""
        link = feed.subscribed_on
        if link is None or not link.resp3 or link.connection is not self._serving(feed.channel):
            return None
        return link

    def _join_sent(self, room: str) -> object:
        """For a room subscribed without knowing where its live delivery starts
        (``subscribe_for_join``), as the join's script is sent: where it runs after the
        subscription took effect — behind the SUBSCRIBE on a RESP3 subscription connection,
        or after its confirmation (RESP2)."""
        feed = self._feeds.get(room_keys(room)["channel"].encode())
        if feed is None or feed.last is not None:
            return None
        link = self._joinable_behind(feed)
        return (feed, link.connection if link is not None else feed.confirmed, link)

    async def _run_join(self, sent_while: object, keys: list[str], args: list[Any]) -> Any:
        """A room's first join on this worker goes on the subscription's own connection,
        right behind the room's SUBSCRIBE: both answered in one round trip."""
        link = sent_while[2] if isinstance(sent_while, tuple) else None
        if not isinstance(link, SubscriptionLink):
            return await super()._run_join(sent_while, keys, args)
        script = self._join
        try:
            return await link.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            # NOSCRIPT (this Redis has not seen the script yet) or a MOVED slot: the
            # SUBSCRIBE was answered before this, so the script run on the command
            # connection still runs after the subscription took effect.
            log.debug("join behind the subscription refused (%s); on the command path", exc)
            return await super()._run_join(None, keys, args)

    def _join_read(self, room: str, sent_while: object, epoch: str, offset: int) -> int | None:
        """Where this worker's live delivery of ``room`` stands after a join's read: for a
        room not yet started, that read, if its script was sent while the room's
        subscription was confirmed on the connection that still carries it when the
        reply comes (so everything published after the script is heard). What was
        published before it and heard meanwhile is held, then dropped or delivered by
        offset."""
        channel = room_keys(room)["channel"].encode()
        feed = self._feeds.get(channel)
        if feed is None:
            return None
        if feed.last is None and isinstance(sent_while, tuple):
            sent_feed, heard_on, _ = sent_while
            if (
                sent_feed is feed
                and heard_on is not None
                and heard_on is feed.confirmed
                and heard_on is self._serving(channel)
            ):
                self._begin(feed, epoch, offset)
        return feed.last

    def _serving(self, channel: bytes) -> RespConnection | None:
        """The subscription connection that carries ``channel`` now (None: none does)."""
        shard = self._shard_of(channel)
        if shard is None or channel not in shard.channels:
            return None
        return shard.connection

    def _begin(self, feed: _Feed, epoch: str, offset: int) -> None:
        """Live delivery of ``feed`` continues after ``offset``. What was heard before is
        replayed soon, not now: the join that said where is entering the room first."""
        feed.epoch, feed.last, feed.last_body = epoch, offset, None
        if not feed.pending:
            return
        feed.held = True
        task = asyncio.get_running_loop().create_task(self._release(feed))
        shard = self._shard_of(feed.channel)
        if shard is not None:  # cancelled with its connection; the reconnect catches up
            shard.catching_up.add(task)
            task.add_done_callback(shard.catching_up.discard)

    async def _release(self, feed: _Feed) -> None:
        await self._replay_pending(feed)
        feed.held = False

    async def _start_by_reading(self, feed: _Feed) -> None:
        """Where the log stands now is where live delivery continues (the subscription is
        in effect); anything buffered meanwhile is replayed."""
        read = await self.read(feed.room, None, 0)
        if feed.last is None:  # no join said it meanwhile
            feed.epoch, feed.last, feed.last_body = read.epoch, read.offset, None
            await self._replay_pending(feed)

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
        shard = self._shard_of(channel)
        link = shard.link if shard is not None else None
        if shard is not None and link is not None:
            shard.channels.discard(channel)
            # Its reply is not waited for: messages still on their way are dropped (no
            # feed), and a later subscribe to the room waits for its own confirmation.
            link.unsubscribe(self._unsubscribe_cmd, channel)
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(link.connection.drain(), COMMAND_TIMEOUT_S)

    def _master_of(self, channel: bytes) -> RedisAddress | None:
        if self._cluster is None:
            return self._address
        return self._cluster.slots.master(key_slot(channel))

    def _shard_of(self, channel: bytes) -> _Shard | None:
        """The shard serving ``channel`` now, as far as this worker knows."""
        master = self._master_of(channel)
        return None if master is None else self._shards.get(master)

    async def _subscribe_channel(self, feed: _Feed, *, wait: bool) -> None:
        """Subscribe ``feed``'s room; with ``wait``, or on RESP2 (a join cannot be written
        behind the SUBSCRIBE there), until Redis confirmed it."""
        shard = self._shard_of(feed.channel)
        link = shard.link if shard is not None else None
        if shard is None or link is None:
            # Its master is away, or new to this worker: the listener looks again.
            self._topology_changed.set()
            raise BackendUnavailable("not connected to the Redis serving this room")
        confirmed = self._confirmations.get(feed.channel)
        if confirmed is None or feed.subscribed_on is not link:
            shard.channels.add(feed.channel)
            confirmed = asyncio.get_running_loop().create_future()
            # Nobody may wait for it (a join behind the SUBSCRIBE): its failure is the
            # connection's, which every command on it hears.
            confirmed.add_done_callback(_retrieved)
            self._confirmations[feed.channel] = confirmed
            confirmed.add_done_callback(
                lambda done: (
                    self._confirmations.pop(feed.channel, None)
                    if self._confirmations.get(feed.channel) is done
                    else None
                )
            )
            link.subscribe(self._subscribe_cmd, [feed.channel], one_each=True)
            feed.subscribed_on = link
        if not wait and link.resp3:
            return
        try:
            await asyncio.wait_for(link.connection.drain(), COMMAND_TIMEOUT_S)
            await asyncio.wait_for(asyncio.shield(confirmed), COMMAND_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise BackendUnavailable(str(exc)) from exc

    async def _replay_pending(self, feed: _Feed) -> None:
        """Deliver what was published while the room was being set up or caught up."""
        while feed.pending:
            pending, feed.pending = feed.pending, []
            for data in pending:
                if not self._deliver_in_order(feed, data):
                    await self._deliver_late(feed, data)

    async def _listen_forever(self) -> None:
        """Keep one subscription connection to every master serving now (each `_Shard`
        reconnects on its own), and put rooms whose slot moved to another master on
        that master's connection."""
        attempt = 0
        try:
            while not self._closed:
                self._topology_changed.clear()
                try:
                    masters = await self._current_masters()
                except BackendUnavailable as exc:
                    log.warning("Redis Cluster map unreadable (%s); trying again", exc)
                    masters = None
                healthy = False
                if masters is not None:
                    try:
                        self._follow_masters(masters)
                        healthy = all(self._shards[m].connection is not None for m in masters)
                    except Exception:
                        log.exception("following the Redis masters failed; trying again")
                if healthy:
                    self._connected.set()
                    attempt = 0
                else:
                    self._connected.clear()
                # Something changed, or (while a shard is down) a while passed: look again.
                backoff = RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
                timeout = None if healthy else backoff
                attempt += 0 if healthy else 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._topology_changed.wait(), timeout)
        finally:
            shards, self._shards = list(self._shards.values()), {}
            for shard in shards:
                if shard.task is not None:
                    shard.task.cancel()
                if shard.connection is not None:
                    shard.connection.abort()

    async def _current_masters(self) -> list[RedisAddress]:
        if self._cluster is None:
            assert self._address is not None
            return [self._address]
        if any(s.connection is None for s in self._shards.values()) or not self._shards:
            await self._cluster.slots.refresh()
        return self._cluster.slots.masters()

    def _follow_masters(self, masters: list[RedisAddress]) -> None:
        loop = asyncio.get_running_loop()
        for address in [a for a in self._shards if a not in masters]:
            # No longer a master (it died and its replica took over, or it lost its
            # slots): its rooms are subscribed where they are served now.
            shard = self._shards.pop(address)
            if shard.task is not None:
                shard.task.cancel()
        for address in masters:
            if address not in self._shards:
                shard = _Shard(address)
                self._shards[address] = shard
                shard.task = loop.create_task(self._run_shard(shard))
        # Rooms whose master's connection is up but that it does not carry yet (their slot
        # moved there, or their old master died): subscribe and catch them up.
        for channel, feed in self._feeds.items():
            serving = self._shard_of(channel)
            if (
                serving is not None
                and serving.connection is not None
                and channel not in serving.channels
            ):
                feed.held = feed.last is not None
                serving.channels.add(channel)
                if serving.link is not None:
                    serving.link.subscribe(self._subscribe_cmd, [channel], one_each=True)
                    feed.subscribed_on = serving.link
                self._catch_up(serving, [channel])

    async def _run_shard(self, shard: _Shard) -> None:
        """One master's subscription connection, reopened whenever it is lost; after
        every (re)connect each of its rooms is caught up from the log."""
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._closed:
            connection: RespConnection | None = None
            link: SubscriptionLink | None = None
            try:
                link = await open_subscription(shard.address)
                connection = link.connection
                channels = [c for c in self._feeds if self._master_of(c) == shard.address]
                for channel in channels:
                    if self._feeds[channel].last is not None:
                        self._feeds[channel].held = True  # until caught up (_resync)
                    self._feeds[channel].subscribed_on = link
                if channels:
                    # SSUBSCRIBE takes channels of one slot only: one command each.
                    sharded = self._cluster is not None
                    link.subscribe(self._subscribe_cmd, channels, one_each=sharded)
                    await asyncio.wait_for(connection.drain(), COMMAND_TIMEOUT_S)
                shard.connection, shard.link, shard.channels = connection, link, set(channels)
                if self._cluster is None:
                    self._failing_until = 0.0  # Redis answered: stop failing fast
                attempt = 0
                self._topology_changed.set()
                self._catch_up(shard, channels)
                heard = Heard(loop.time())
                keepalive = loop.create_task(keep_alive(link, heard))
                try:
                    await self._pump(link, heard)
                finally:
                    keepalive.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._closed:
                    log.warning(
                        "Redis subscription lost (%s; %s); reconnecting",
                        exc,
                        shard.address.describe(),
                    )
            finally:
                lost = shard.channels
                shard.connection, shard.link, shard.channels = None, None, set()
                if link is not None:
                    link.lost()
                for task in shard.catching_up:
                    task.cancel()
                if connection is not None:
                    connection.abort()
                for channel in lost:
                    fut = self._confirmations.get(channel)
                    if fut is not None and not fut.done():
                        fut.set_exception(BackendUnavailable("Redis connection lost"))
                if not self._closed:
                    self._topology_changed.set()
            if self._cluster is not None:
                self._cluster.slots.refresh_soon()
            await asyncio.sleep(RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)])
            attempt += 1

    def _catch_up(self, shard: _Shard, channels: list[bytes]) -> None:
        task = asyncio.get_running_loop().create_task(self._resync_all(channels))
        shard.catching_up.add(task)
        task.add_done_callback(shard.catching_up.discard)

    async def _pump(self, link: SubscriptionLink, heard: Heard) -> None:
        """Read the subscription until it is lost (raises why): every reply of one socket
        read is handled in the connection's ``data_received`` (`SubscriptionReader`), no
        task woken per read."""
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()

        def on_lost(error: RedisLinkError) -> None:
            if not lost.done():
                lost.set_exception(error)

        reader = SubscriptionReader(self, link, heard, loop)
        link.connection.consume(reader.received, on_lost)
        try:
            await lost
        finally:
            reader.stop()

    def _deliver_in_order(self, feed: _Feed, data: bytes) -> bool:
        """The common case, synchronously: an ephemeral event, or the next offset of the
        same epoch. False when `_deliver_late` must look at it."""
        if data[:1] == b"E":
            self._emit(feed, ephemeral_delivery(data))
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
                feed.last_body = stored_body(item)
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
        if feed is None:
            return
        if feed.last is None:  # subscribed for a join that has not said where it starts
            await self._start_by_reading(feed)
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
        return bool(items) and stored_body(items[0]) != feed.last_body

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


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
