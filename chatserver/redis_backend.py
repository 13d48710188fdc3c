"""The Redis backend: many workers share rooms through Redis (DESIGN §2).

- One Lua script per append (lua/append.lua): dedupe, authoritative guard, offset, XADD
  with MAXLEN, state fold, EXPIRE, PUBLISH — atomic, one round trip.
- One pub/sub channel per room (``huddle:{room}``); this worker subscribes only to rooms
  it has members in, decodes each published entry once and hands it to the room's
  listeners in offset order. A gap (pub/sub is at-most-once) is repaired from the log
  before delivery; after a reconnect every channel is resubscribed and repaired.
- Every key of a room shares the hash tag ``{room}``, so a Redis Cluster keeps a room on
  one node and the scripts stay single-slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import hiredis
import msgpack
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from chatserver.backend import (
    ALERTS_PER_ROOM,
    EVERYONE,
    HELD_PER_ROOM,
    Alert,
    AppendRefused,
    AppendResult,
    AuditRecord,
    BackendUnavailable,
    Delivery,
    JoinQuery,
    JoinView,
    PostGuard,
    PresenceGone,
    RaidSuspected,
    RoomListener,
    RoomSnapshot,
    User,
)
from chatserver.clock import now_ms
from chatserver.ids import ids
from chatserver.redis_pipe import CommandPipe
from rooms.entries import Entry, event_name, is_message
from rooms.log import ReadResult, visible_entries
from rooms.policy import refusal_for
from rooms.presence import in_member_order
from rooms.recovery import Since
from rooms.state import RoomState, state_change

log = logging.getLogger(__name__)

T = TypeVar("T")

# Every command is bounded so a request answers `unavailable` within 2 s, never hangs.
COMMAND_TIMEOUT_S = 1.5
CONNECT_TIMEOUT_S = 1.0
POOL_SIZE = 32
# After a failed command, further commands fail at once for this long, then Redis is tried
# again: requests queued behind a failure answer `unavailable` in time.
FAIL_FAST_S = 0.5
# Presence entries live this long unless their worker refreshes them.
PRESENCE_TTL_MS = 30_000
PRESENCE_REFRESH_S = 10.0
DEDUPE_TTL_S = 24 * 3600
RECONNECT_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)
PUBSUB_READ_BYTES = 1 << 18
# Raised hands and held messages belong to a live session; a day is plenty.
EPHEMERAL_TTL_S = 24 * 3600
AUDIT_PER_ROOM = 1000


@lru_cache(maxsize=4096)
def room_keys(room: str) -> Mapping[str, str]:
    """A room's keys and channel (cached: built on every append; never mutate)."""
    base = f"huddle:{{{room}}}"
    return {
        "meta": f"{base}:meta",
        "log": f"{base}:log",
        "mutes": f"{base}:mutes",
        "last": f"{base}:last",
        "deleted": f"{base}:deleted",
        "pins": f"{base}:pins",
        "removed": f"{base}:removed",
        "presence": f"{base}:presence",
        "hands": f"{base}:hands",
        "held": f"{base}:held",
        "alerts": f"{base}:alerts",
        "audit": f"{base}:audit",
        "channel": base,
    }


def _state_keys(k: Mapping[str, str]) -> list[str]:
    """The keys read.lua and snapshot.lua take, in their order (they reset them together)."""
    return [k[name] for name in ("meta", "log", "deleted", "mutes", "last", "pins", "removed")]


def raid_key(room: str, key: str) -> str:
    return f"huddle:{{{room}}}:raid:{key}"


def cid_key(room: str, client_id: str) -> str:
    return f"huddle:{{{room}}}:cid:{client_id}"


def state_op(entry: Entry) -> tuple[str, str, str | bytes]:
    """How an entry changes the room state (rooms.state.state_change, the fold's one
    reading of each event kind), in the strings the append script stores."""
    op, a, b = state_change(entry)
    if op == "pinned":
        return op, a, _pack(b)
    if op == "muted":
        return op, a, "-1" if b is None else str(b)  # -1: until unmuted
    return op, _stored(a), _stored(b)


def _stored(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def _body(entry: Entry) -> bytes:
    return _pack({k: v for k, v in entry.items() if k != "offset"})


def _entry(offset: int, body: bytes) -> Entry:
    entry: Entry = _unpack(body)
    entry["offset"] = offset
    return entry


def _cid_entry(raw: bytes) -> Entry:
    """The entry a client_id key keeps: ``offset \\n body`` (offset 0: held)."""
    offset, _, body = raw.partition(b"\n")
    return _entry(int(offset), body)


def _stream_entry(item: list[Any]) -> Entry:
    # Script replies are raw [id, [field, value]]; redis-py parses XRANGE into (id, dict).
    stream_id, fields = item
    body = fields[b"e"] if isinstance(fields, dict) else fields[1]
    return _entry(int(stream_id.split(b"-", 1)[0]), body)


@dataclass(slots=True, eq=False)
class _Feed:
    """Live delivery of one room on this worker."""

    room: str
    channel: bytes
    listeners: list[RoomListener] = field(default_factory=list)
    epoch: str = ""
    last: int | None = None
    """Last offset delivered; None while the subscription is being set up."""
    pending: list[bytes] = field(default_factory=list)


class RedisBackend:
    name = "redis"

    def __init__(
        self, url: str, *, history_size: int = 1000, retention_s: int = 7 * 24 * 3600
    ) -> None:
        self._history_size = history_size
        self._retention_s = retention_s
        # A bounded pool that waits for a free connection (up to the command timeout)
        # instead of refusing: under load, requests queue briefly rather than fail, and a
        # worker never opens thousands of connections.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=COMMAND_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
        )
        self._redis = aioredis.Redis(
            connection_pool=pool, retry=Retry(NoBackoff(), 0), health_check_interval=0
        )
        # The listener connection waits indefinitely for messages (no socket timeout:
        # redis-py's default timeout would break an idle subscription).
        self._sub_redis = aioredis.Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        # Appends, the hot path, share one connection (huddle's own, not the pool's) with
        # many commands in flight.
        self._pipe = CommandPipe(url, connect_timeout_s=CONNECT_TIMEOUT_S)
        lua = resources.files("chatserver") / "lua"
        self._append = self._redis.register_script((lua / "append.lua").read_text())
        # These share room.lua's functions: the epoch, the log read, presence.
        shared = (lua / "room.lua").read_text()
        self._read = self._redis.register_script(shared + (lua / "read.lua").read_text())
        self._snapshot = self._redis.register_script(shared + (lua / "snapshot.lua").read_text())
        self._presence = self._redis.register_script(shared + (lua / "presence.lua").read_text())
        self._join = self._redis.register_script(shared + (lua / "join.lua").read_text())
        self._feeds: dict[bytes, _Feed] = {}
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self._local_presence: dict[str, dict[str, dict[str, str]]] = {}
        self.gap_repairs = 0
        self._failing_until = 0.0
        self._presence_gone: list[PresenceGone] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._listen_task = asyncio.get_running_loop().create_task(self._listen_forever())
        self._refresh_task = asyncio.get_running_loop().create_task(
            self._refresh_presence_forever()
        )
        # Do not fail start-up when Redis is briefly away: readyz reports it meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 3.0)

    async def close(self) -> None:
        self._closed = True
        for task in (self._listen_task, self._refresh_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self._pipe.close()
        await self._redis.aclose()
        # A pool handed to the client is not the client's to close: close it here.
        await self._redis.connection_pool.disconnect()
        await self._sub_redis.aclose()

    async def ready(self) -> bool:
        if not self._connected.is_set():
            return False
        try:
            await self._call(self._redis.ping())
        except BackendUnavailable:
            return False
        return True

    # -- log ---------------------------------------------------------------------------

    async def append(
        self, room: str, entry: Entry, *, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        k = room_keys(room)
        client_id = entry.get("client_id") or ""
        op, a, b = state_op(entry)
        body = _body(entry)
        result = await self._call(
            self._run_append(
                [
                    k["meta"],
                    k["log"],
                    k["mutes"],
                    k["last"],
                    cid_key(room, client_id) if client_id else f"huddle:{{{room}}}:cid:",
                    k["deleted"],
                    k["pins"],
                    k["removed"],
                    raid_key(room, guard.raid.key if guard and guard.raid else ""),
                ],
                [
                    body,
                    client_id,
                    guard.user_id if guard else "",
                    guard.role if guard else "",
                    now_ms,
                    self._history_size,
                    self._retention_s,
                    ids.next(),  # the epoch, if the room has none
                    k["channel"],
                    event_name(entry),
                    op,
                    a,
                    b,
                    DEDUPE_TTL_S,
                    guard.raid.window_ms if guard and guard.raid else 0,
                    guard.raid.members if guard and guard.raid else 0,
                ],
            )
        )
        status = result[0]
        if status == b"ok":
            return AppendResult({**entry, "offset": int(result[2])}, duplicate=False)
        if status == b"dup":
            offset, _, first_body = result[1].partition(b"\n")
            return AppendResult(_entry(int(offset), first_body), duplicate=True)
        if status == b"raid":
            raise RaidSuspected(int(result[1]))
        rule, wait = result[1].decode(), int(result[2])
        raise AppendRefused(refusal_for(rule, None if wait < 0 else wait))

    async def _run_append(self, keys: list[str], args: list[Any]) -> Any:
        return await self._run(self._append, keys, args)

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """A script on the hot-path connection (the join and the append)."""
        try:
            return await self._pipe.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis lost its scripts (a restart): redis-py loads it and runs it.
            return await script(keys=keys, args=args)

    async def find_client_id(self, room: str, client_id: str) -> Entry | None:
        raw = await self._call(self._redis.get(cid_key(room, client_id)))
        if not isinstance(raw, bytes):
            return None
        return _cid_entry(raw)

    async def read(self, room: str, since: Since | None, page: int) -> ReadResult:
        k = room_keys(room)
        epoch_b, offset, recovered, items, deleted = await self._call(
            self._read(
                keys=_state_keys(k),
                args=[
                    secrets.token_hex(8),
                    since.epoch if since else "",
                    since.offset if since else 0,
                    page,
                    self._history_size,
                ],
            )
        )
        gone = {d.decode() for d in deleted}
        entries = visible_entries((_stream_entry(item) for item in items), gone)
        return ReadResult(epoch_b.decode(), int(offset), bool(recovered), entries)

    async def snapshot(self, room: str, now_ms: int) -> RoomSnapshot:
        k = room_keys(room)
        reply = await self._call(self._snapshot(keys=_state_keys(k), args=[secrets.token_hex(8)]))
        return _snapshot(reply, now_ms)

    async def enter(self, room: str, query: JoinQuery) -> JoinView:
        k = room_keys(room)
        user, since = query.user, query.since
        now = now_ms()
        keys = [
            *_state_keys(k),
            k["presence"],
            k["hands"],
            k["held"],
            k["alerts"],
            *(cid_key(room, client_id) for client_id in query.client_ids),
        ]
        args = [
            secrets.token_hex(8),
            since.epoch if since else "",
            since.offset if since else 0,
            query.page,
            self._history_size,
            now,
            now + PRESENCE_TTL_MS,
            query.conn_id,
            user["id"],
            user["name"],
            user["role"],
            "1" if query.keep_out_removed else "",
            "1" if query.holds else "",
            "1" if query.alerts else "",
            k["channel"],
            room,
            f"E{EVERYONE}\npresence\n",
        ]
        reply = await self._call(self._run(self._join, keys, args))
        snapshot = _snapshot(reply[2], query.now_ms)
        if not reply[0]:
            empty = ReadResult(snapshot.epoch, snapshot.offset, False, [])
            return JoinView(snapshot.state, empty, admitted=False, first=False)
        self._local_presence.setdefault(room, {})[query.conn_id] = user
        held, alerts, found_raw = reply[5], reply[6], reply[7]
        epoch_b, offset, recovered, items, deleted = reply[8:13]
        gone = {d.decode() for d in deleted}
        entries = visible_entries((_stream_entry(item) for item in items), gone)
        found = {}
        for client_id, raw in zip(query.client_ids, found_raw, strict=True):
            if isinstance(raw, bytes):
                found[client_id] = _cid_entry(raw)
        return JoinView(
            snapshot.state,
            ReadResult(epoch_b.decode(), int(offset), bool(recovered), entries),
            admitted=True,
            first=bool(reply[1]),
            members=in_member_order(_users(reply[3])),
            hands=_hand_queue(reply[4]),
            holds=sorted((_unpack(v) for v in held), key=lambda e: e["ts"]),
            alerts=_oldest_first(alerts),
            found=found,
        )

    async def get_message(self, room: str, msg_id: str) -> Entry | None:
        # Messages are found by id rarely (pin, delete, review): scan the retained log.
        k = room_keys(room)
        items, deleted = await self._call(_log_and_deleted(self._redis, k, msg_id))
        if deleted:
            return None
        for item in reversed(items):
            entry = _stream_entry(item)
            if is_message(entry) and entry["id"] == msg_id:
                return entry
        return None

    # -- fan-out -----------------------------------------------------------------------

    async def publish(self, room: str, delivery: Delivery) -> None:
        head = f"E{delivery.audience}\n{delivery.event}\n".encode()
        await self._call(
            self._redis.publish(room_keys(room)["channel"], head + _pack(delivery.payload))
        )

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
        if self._pubsub is not None and self._connected.is_set():
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(self._pubsub.unsubscribe(channel), COMMAND_TIMEOUT_S)

    async def _subscribe_channel(self, feed: _Feed) -> None:
        if self._pubsub is None or not self._connected.is_set():
            raise BackendUnavailable("not connected to Redis")
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[feed.channel] = confirmed
        try:
            await asyncio.wait_for(self._pubsub.subscribe(feed.channel), COMMAND_TIMEOUT_S)
            await asyncio.wait_for(confirmed, COMMAND_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            raise BackendUnavailable(str(exc)) from exc
        finally:
            self._confirmations.pop(feed.channel, None)
        # Subscribed: everything published from now on reaches us. Where the log stands
        # now is where live delivery continues; anything buffered meanwhile is replayed.
        read = await self.read(feed.room, None, 0)
        feed.epoch = read.epoch
        feed.last = read.offset
        pending, feed.pending = feed.pending, []
        for data in pending:
            if not self._deliver_in_order(feed, data):
                await self._deliver_late(feed, data)

    async def _listen_forever(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                self._pubsub = self._sub_redis.pubsub()
                await asyncio.wait_for(self._pubsub.ping(), COMMAND_TIMEOUT_S * 2)
                channels = list(self._feeds)
                if channels:
                    await asyncio.wait_for(self._pubsub.subscribe(*channels), COMMAND_TIMEOUT_S)
                self._connected.set()
                self._failing_until = 0.0  # Redis answered: stop failing fast
                attempt = 0
                resync = asyncio.get_running_loop().create_task(self._resync_all(channels))
                try:
                    await self._pump()
                finally:
                    resync.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._closed:
                    log.warning("Redis subscription lost (%s); reconnecting", exc)
            self._connected.clear()
            for fut in self._confirmations.values():
                if not fut.done():
                    fut.set_exception(BackendUnavailable("Redis connection lost"))
            if self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                self._pubsub = None
            await asyncio.sleep(RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)])
            attempt += 1

    async def _pump(self) -> None:
        """Read the subscription in bulk: every reply that arrived in one read is handled
        in one go (redis-py's get_message costs a coroutine, a timeout and a dict per
        message: most of the listener's time under load). Commands still go out through
        redis-py's PubSub, which only writes; replies are parsed here with hiredis."""
        assert self._pubsub is not None
        connection = self._pubsub.connection
        stream = getattr(connection, "_reader", None)
        if not isinstance(stream, asyncio.StreamReader):
            raise ConnectionError("the subscription connection is not open")
        replies = hiredis.Reader()
        while True:
            data = await stream.read(PUBSUB_READ_BYTES)
            if not data:
                raise ConnectionError("Redis closed the subscription connection")
            replies.feed(data)
            while (reply := replies.gets()) is not False:
                if not isinstance(reply, list) or len(reply) < 3:
                    continue  # PONG and the like
                kind, channel, body = reply[0], reply[1], reply[2]
                if kind == b"message":
                    feed = self._feeds.get(channel)
                    if feed is None:
                        continue
                    if feed.last is None:
                        feed.pending.append(body)
                    elif not self._deliver_in_order(feed, body):
                        await self._deliver_late(feed, body)
                elif kind == b"subscribe":
                    fut = self._confirmations.get(channel)
                    if fut is not None and not fut.done():
                        fut.set_result(None)

    def _deliver_in_order(self, feed: _Feed, data: bytes) -> bool:
        """The common case, synchronously: an ephemeral event, or the next offset of the
        same epoch. False when `_deliver_late` must look at it."""
        if data[:1] == b"E":
            audience, event, body = data[1:].split(b"\n", 2)
            self._emit(feed, Delivery(event.decode(), _unpack(body), audience=audience.decode()))
            return True
        epoch_b, offset_b, event_b, body = data[1:].split(b"\n", 3)
        offset = int(offset_b)
        if offset != (feed.last or 0) + 1 or epoch_b.decode() != feed.epoch:
            return False
        feed.last = offset
        self._emit(feed, Delivery(event_b.decode(), _entry(offset, body), offset=offset))
        return True

    async def _deliver_late(self, feed: _Feed, data: bytes) -> None:
        """A logged entry that is not simply the next one: a new epoch, a stale copy, or
        one after a gap (repaired from the log first)."""
        epoch_b, offset_b, event_b, body = data[1:].split(b"\n", 3)
        epoch, offset = epoch_b.decode(), int(offset_b)
        assert feed.last is not None
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
        self._emit(feed, Delivery(event_b.decode(), _entry(offset, body), offset=offset))

    async def _repair(self, feed: _Feed, upto: int) -> None:
        """Deliver the entries after feed.last up to ``upto`` from the log."""
        assert feed.last is not None
        self.gap_repairs += 1
        start = feed.last + 1
        items = await self._call(
            self._redis.xrange(room_keys(feed.room)["log"], f"{start}-1", f"{upto}-1")
        )
        entries = [_stream_entry(list(item)) for item in items or []]
        if not entries or entries[0]["offset"] != start:
            # Trimmed past what we missed: a partial repair would hide the gap.
            log.warning("room %s: gap %s..%s no longer in the log", feed.room, start, upto)
            self._emit(feed, Delivery("reset", {"room": feed.room}))
        for entry in entries:
            if entry["offset"] > feed.last:
                feed.last = entry["offset"]
                self._emit(feed, Delivery(event_name(entry), entry, offset=entry["offset"]))
        feed.last = max(feed.last, upto)

    async def _resync_all(self, channels: list[bytes]) -> None:
        """After a (re)connect, catch every subscribed room up from the log."""
        for channel in channels:
            feed = self._feeds.get(channel)
            if feed is None or feed.last is None:
                continue
            try:
                read = await self.read(feed.room, None, 0)
            except BackendUnavailable:
                return
            if read.epoch != feed.epoch:
                feed.epoch, feed.last = read.epoch, read.offset
                self._emit(feed, Delivery("reset", {"room": feed.room}))
            elif read.offset > feed.last:
                await self._repair(feed, read.offset)

    def _emit(self, feed: _Feed, delivery: Delivery) -> None:
        for listener in list(feed.listeners):
            try:
                listener(delivery)
            except Exception:
                log.exception("room listener failed")

    # -- presence ----------------------------------------------------------------------

    async def presence_add(self, room: str, user: dict[str, str], conn_id: str) -> bool:
        now = now_ms()
        first = await self._call(
            self._presence(
                keys=[room_keys(room)["presence"]],
                args=[
                    "add",
                    now,
                    now + PRESENCE_TTL_MS,
                    conn_id,
                    user["id"],
                    user["name"],
                    user["role"],
                ],
            )
        )
        self._local_presence.setdefault(room, {})[conn_id] = user
        return bool(first)

    async def presence_remove(self, room: str, user_id: str, conn_id: str) -> bool:
        local = self._local_presence.get(room)
        if local is not None:
            local.pop(conn_id, None)
            if not local:
                del self._local_presence[room]
        now = now_ms()
        last = await self._call(
            self._presence(
                keys=[room_keys(room)["presence"]],
                args=["remove", now, now + PRESENCE_TTL_MS, conn_id, user_id],
            )
        )
        return bool(last)

    async def presence_members(self, room: str) -> list[dict[str, str]]:
        now = now_ms()
        flat = await self._call(
            self._presence(
                keys=[room_keys(room)["presence"]], args=["list", now, now + PRESENCE_TTL_MS]
            )
        )
        users = _users(flat)
        return in_member_order(users)

    async def _refresh_presence_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(PRESENCE_REFRESH_S)
            for room, conns in list(self._local_presence.items()):
                args: list[Any] = ["refresh", 0, 0]
                for conn_id, user in conns.items():
                    args += [conn_id, user["id"], user["name"], user["role"]]
                now = now_ms()
                args[1], args[2] = now, now + PRESENCE_TTL_MS
                try:
                    flat = await self._call(
                        self._presence(keys=[room_keys(room)["presence"]], args=args)
                    )
                except BackendUnavailable:
                    break
                gone = _users(flat)
                for handler in self._presence_gone if gone else ():
                    await handler(room, gone)

    def on_presence_gone(self, handler: PresenceGone) -> None:
        self._presence_gone.append(handler)

    # -- hands, held messages, audit ----------------------------------------------------

    async def hands_set(
        self, room: str, user: dict[str, str], raised: bool, now_ms: int
    ) -> list[dict[str, str]]:
        key = room_keys(room)["hands"]
        async with self._redis.pipeline(transaction=True) as pipe:
            if raised:
                pipe.hsetnx(key, user["id"], _pack({"user": user, "at": now_ms}))
            else:
                pipe.hdel(key, user["id"])
            pipe.expire(key, EPHEMERAL_TTL_S)
            pipe.hvals(key)
            result = await self._call(pipe.execute())
        return _hand_queue(result[-1])

    async def hands_clear(self, room: str) -> None:
        await self._call(self._redis.delete(room_keys(room)["hands"]))

    async def hands_list(self, room: str) -> list[dict[str, str]]:
        values: list[Any] = await self._call(self._redis.hvals(room_keys(room)["hands"]))
        return _hand_queue(values)

    async def hold_put(self, room: str, entry: Entry) -> None:
        key = room_keys(room)["held"]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, entry["id"], _pack(entry))
            pipe.expire(key, EPHEMERAL_TTL_S)
            if entry.get("client_id"):
                # Offset 0 marks "held, not logged": a retry answers like the first attempt,
                # and the append script does not treat it as already appended.
                marker = b"0\n" + _body(entry)
                pipe.set(cid_key(room, entry["client_id"]), marker, ex=DEDUPE_TTL_S, nx=True)
            pipe.hlen(key)
            *_, count = await self._call(pipe.execute())
        if count > HELD_PER_ROOM:
            await self._drop_oldest(key, HELD_PER_ROOM)

    async def hold_take(self, room: str, msg_id: str) -> Entry | None:
        entry: Entry | None = await self._take(room_keys(room)["held"], msg_id)
        return entry

    async def _take(self, key: str, field: str) -> Any:
        """Atomically read and delete one field of a hash: exactly one caller gets it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, field)
            pipe.hdel(key, field)
            raw, taken = await self._call(pipe.execute())
        if not taken or raw is None:
            return None
        return _unpack(raw)

    async def holds_list(self, room: str) -> list[Entry]:
        values: list[Any] = await self._call(self._redis.hvals(room_keys(room)["held"]))
        return sorted((_unpack(v) for v in values), key=lambda e: e["ts"])

    async def alert_put(self, room: str, alert: Alert) -> None:
        key = room_keys(room)["alerts"]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, alert["id"], _pack(alert))
            pipe.expire(key, EPHEMERAL_TTL_S)
            pipe.hlen(key)
            *_, count = await self._call(pipe.execute())
        if count > ALERTS_PER_ROOM:
            await self._drop_oldest(key, ALERTS_PER_ROOM)

    async def _drop_oldest(self, key: str, cap: int) -> None:
        """Rare (a flood of alerts or held messages): keep the newest ``cap`` items of a
        hash (by ``ts``, then id). Two workers trimming at once drop a few more than
        needed, never an item newer than the ones kept."""
        values: list[Any] = await self._call(self._redis.hvals(key))
        items = sorted((_unpack(v) for v in values), key=lambda a: (a["ts"], a["id"]))
        stale = [a["id"] for a in items[: len(items) - cap]]
        if stale:
            await self._call(self._redis.hdel(key, *stale))

    async def alert_take(self, room: str, alert_id: str) -> Alert | None:
        alert: Alert | None = await self._take(room_keys(room)["alerts"], alert_id)
        return alert

    async def alerts_list(self, room: str) -> list[Alert]:
        values: list[Any] = await self._call(self._redis.hvals(room_keys(room)["alerts"]))
        return _oldest_first(values)

    async def audit_add(self, room: str, record: AuditRecord) -> None:
        key = room_keys(room)["audit"]
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(key, _pack(record))
            pipe.ltrim(key, 0, AUDIT_PER_ROOM - 1)
            pipe.expire(key, self._retention_s)
            await self._call(pipe.execute())

    async def audit_list(self, room: str, limit: int) -> list[AuditRecord]:
        raw: list[Any] = await self._call(
            self._redis.lrange(room_keys(room)["audit"], 0, limit - 1)
        )
        return [_unpack(r) for r in raw]

    # -- helpers -----------------------------------------------------------------------

    async def _call(self, awaitable: Awaitable[T]) -> T:
        loop = asyncio.get_running_loop()
        if loop.time() < self._failing_until:
            # Redis just failed: answer at once rather than let every queued request wait
            # out its own timeout (a member's second send would take twice as long).
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise BackendUnavailable("Redis is unavailable")
        try:
            # asyncio.timeout, not wait_for: no extra task per command on the hot path.
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            self._failing_until = loop.time() + FAIL_FAST_S
            raise BackendUnavailable(str(exc) or type(exc).__name__) from exc


async def _log_and_deleted(r: aioredis.Redis, k: Mapping[str, str], msg_id: str) -> list[Any]:
    """The retained log and whether ``msg_id`` was deleted, in one round trip."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.xrange(k["log"])
        pipe.sismember(k["deleted"], msg_id)
        result: list[Any] = await pipe.execute()
        return result


def _snapshot(reply: list[Any], now_ms: int) -> RoomSnapshot:
    """A room's state from room.lua's room_state reply."""
    meta_l, mutes_l, pins_l, removed = reply
    meta = _pairs(meta_l)
    mutes: dict[str, int | None] = {}
    for user, until in _pairs(mutes_l).items():
        value = int(until)
        if value < 0:
            mutes[user] = None
        elif value > now_ms:
            mutes[user] = value
    pinned = []
    for msg_id, raw in _pairs(pins_l, decode_values=False).items():
        order, _, body = raw.partition(b"\n")
        pinned.append((int(order), msg_id, _unpack(body)))
    pinned.sort(key=lambda p: p[0])
    state = RoomState(
        locked=meta.get("locked") == "1",
        paused=meta.get("paused") == "1",
        slow_mode_s=int(meta.get("slow_mode_s") or 0),
        floor=meta.get("floor") or None,
        mutes=mutes,
        pins={msg_id: e for _, msg_id, e in pinned},
        removed={r.decode() for r in removed},
    )
    return RoomSnapshot(meta["epoch"], int(meta.get("offset") or 0), state)


def _pairs(flat: list[bytes], *, decode_values: bool = True) -> dict[str, Any]:
    it = iter(flat)
    return {
        key.decode(): (val.decode() if decode_values else val)
        for key, val in zip(it, it, strict=True)
    }


def _users(flat: list[bytes]) -> list[dict[str, str]]:
    it = iter(flat)
    return [
        {"id": uid.decode(), "name": name.decode(), "role": role.decode()}
        for uid, name, role in zip(it, it, it, strict=True)
    ]


def _oldest_first(values: list[bytes]) -> list[Alert]:
    alerts: list[Alert] = [_unpack(v) for v in values]
    return sorted(alerts, key=lambda a: (a.get("ts", 0), a.get("id", "")))


def _hand_queue(values: list[bytes]) -> list[User]:
    hands = sorted((_unpack(v) for v in values), key=lambda h: h["at"])
    return [h["user"] for h in hands]
