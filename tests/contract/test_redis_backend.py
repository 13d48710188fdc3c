"""What only the Redis backend has to prove: workers agree at once, and gaps in pub/sub
are repaired from the log before delivery."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from chatserver.backend import AppendRefused, BackendUnavailable, Delivery, JoinQuery, PostGuard
from chatserver.redis_backend import RedisBackend, _body, room_keys, state_op
from rooms.entries import event_name
from tests.contract.test_backend_contract import ALEX, NOW, event, msg
from tests.redis_server import RedisServer


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[tuple[RedisBackend, RedisBackend]]:
    flush = redis.Redis.from_url(redis_server.url)
    await flush.flushdb()
    await flush.aclose()
    a, b = RedisBackend(redis_server.url), RedisBackend(redis_server.url)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


GUARD = PostGuard("alex", "member")


async def test_mute_on_one_worker_refuses_on_another_at_once(
    workers: tuple[RedisBackend, RedisBackend],
) -> None:
    a, b = workers
    await b.append("r1", msg("before"), guard=GUARD, now_ms=NOW)
    await b.snapshot("r1", NOW)  # b has looked at the room: no cache may hide the change
    await a.append("r1", event("muted", user_id="alex", until=None), guard=None, now_ms=NOW)
    with pytest.raises(AppendRefused) as info:
        await b.append("r1", msg("after"), guard=GUARD, now_ms=NOW)
    assert info.value.refusal.code == "muted"
    await a.append("r1", event("unmuted", user_id="alex"), guard=None, now_ms=NOW)
    await a.append("r1", event("locked", locked=True), guard=None, now_ms=NOW)
    with pytest.raises(AppendRefused) as info:
        await b.append("r1", msg("locked out"), guard=GUARD, now_ms=NOW)
    assert info.value.refusal.code == "room_locked"


async def test_a_lost_publish_is_repaired_from_the_log(
    workers: tuple[RedisBackend, RedisBackend],
) -> None:
    a, b = workers
    got: list[Delivery] = []
    await b.subscribe("r1", got.append)
    first = (await a.append("r1", msg("one"), guard=None, now_ms=NOW)).entry
    # Append the second entry with its PUBLISH going nowhere: pub/sub is at-most-once.
    lost = msg("two (its publish was lost)")
    op, x, y = state_op(lost)
    k = room_keys("r1")
    keys = ["meta", "log", "mutes", "last", "cid", "deleted", "pins", "removed"]
    await a._append(
        keys=[k.get(name, "huddle:{r1}:cid:x") for name in keys],
        args=[
            _body(lost),
            "", "", "", NOW, 1000, 3600, secrets.token_hex(8),
            "huddle:{r1}:nobody-listens", event_name(lost), op, x, y, 60,
        ],
    )  # fmt: skip
    third = (await a.append("r1", msg("three"), guard=None, now_ms=NOW)).entry
    for _ in range(200):
        if len(got) >= 3:
            break
        await asyncio.sleep(0.01)
    assert [d.offset for d in got] == [1, 2, 3]
    assert [d.payload["text"] for d in got] == ["one", "two (its publish was lost)", "three"]
    assert got[0].payload == first and got[2].payload == third
    assert b.gap_repairs == 1


async def test_messages_arriving_during_a_gap_repair_wait_behind_it(
    workers: tuple[RedisBackend, RedisBackend],
) -> None:
    """The subscription is read as bytes arrive, not by a task that stops reading while it
    repairs a gap: what arrives meanwhile must still reach the room after the repair, in
    order, each once."""
    a, b = workers
    got: list[Delivery] = []
    await b.subscribe("r1", got.append)
    await a.append("r1", msg("one"), guard=None, now_ms=NOW)
    lost = msg("two (its publish was lost)")
    op, x, y = state_op(lost)
    k = room_keys("r1")
    keys = ["meta", "log", "mutes", "last", "cid", "deleted", "pins", "removed"]
    await a._append(
        keys=[k.get(name, "huddle:{r1}:cid:x") for name in keys],
        args=[
            _body(lost),
            "", "", "", NOW, 1000, 3600, secrets.token_hex(8),
            "huddle:{r1}:nobody-listens", event_name(lost), op, x, y, 60,
        ],
    )  # fmt: skip
    later_appended = asyncio.Event()
    repair = b._repair

    async def slow_repair(feed: Any, upto: int) -> None:
        # The repair starts once "four" and "five" are published, so that they reach this
        # worker while it is still repairing.
        await later_appended.wait()
        await asyncio.sleep(0.05)
        await repair(feed, upto)

    b._repair = slow_repair  # type: ignore[method-assign]
    await a.append("r1", msg("three"), guard=None, now_ms=NOW)
    await a.append("r1", msg("four"), guard=None, now_ms=NOW)
    await a.append("r1", msg("five"), guard=None, now_ms=NOW)
    later_appended.set()
    for _ in range(300):
        if len(got) >= 5:
            break
        await asyncio.sleep(0.01)
    await a.append("r1", msg("six"), guard=None, now_ms=NOW)  # the barrier: nothing after it
    for _ in range(300):
        if len(got) >= 6:
            break
        await asyncio.sleep(0.01)
    assert [d.offset for d in got] == [1, 2, 3, 4, 5, 6]
    assert [d.payload["text"] for d in got][1:4] == ["two (its publish was lost)", "three", "four"]
    assert b.gap_repairs == 1


async def test_presence_of_a_dead_worker_expires(
    workers: tuple[RedisBackend, RedisBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = workers
    from chatserver.redis_backend import presence

    monkeypatch.setattr(presence, "PRESENCE_TTL_MS", 300)
    assert await a.presence_add("r1", ALEX, "conn-on-a")
    assert [m["id"] for m in await b.presence_members("r1")] == ["alex"]
    await asyncio.sleep(0.5)  # worker a "died": it never refreshed
    assert await b.presence_members("r1") == []


async def test_unreachable_redis_fails_fast(redis_server: RedisServer) -> None:
    dead = RedisBackend("redis://127.0.0.1:1/0")
    await dead.start()
    try:
        assert not await dead.ready()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Exception) as info:
            await dead.append("r1", msg("anyone?"), guard=GUARD, now_ms=NOW)
        assert type(info.value).__name__ == "BackendUnavailable"
        assert loop.time() - started < 2
    finally:
        await dead.close()


async def test_every_room_key_expires_and_activity_keeps_it(redis_server: RedisServer) -> None:
    """Retention: a room's keys always carry a TTL (no key is left to live forever), and
    activity keeps them alive for at least 90 % of the retention (messages refresh the
    TTLs at most every tenth of it; a state op refreshes at once)."""
    retention = 100
    backend = RedisBackend(redis_server.url, retention_s=retention)
    raw = redis.Redis.from_url(redis_server.url)
    await backend.start()
    try:
        k = room_keys("ttl-room")
        names = ("meta", "log", "mutes", "last", "deleted", "pins", "removed")

        async def ttls() -> dict[str, int]:
            found = {name: await raw.ttl(k[name]) for name in names}
            return {name: ttl for name, ttl in found.items() if ttl != -2}  # -2: no such key

        await backend.append("ttl-room", msg("first", room="ttl-room"), guard=GUARD, now_ms=NOW)
        assert set(await ttls()) == {"meta", "log", "last"}
        assert all(0 < ttl <= retention for ttl in (await ttls()).values())
        # Age the keys as if 30 s had passed, then post 5 s later (before the refresh is due,
        # every 10 s here) and 20 s later (due).
        for name in ("meta", "log", "last"):
            await raw.expire(k[name], retention - 30)
        later = msg("five seconds on", room="ttl-room", ts=NOW + 5_000)
        await backend.append("ttl-room", later, guard=GUARD, now_ms=NOW + 5_000)
        assert max((await ttls()).values()) <= retention - 30  # not refreshed yet
        due = msg("twenty seconds on", room="ttl-room", ts=NOW + 20_000)
        await backend.append("ttl-room", due, guard=GUARD, now_ms=NOW + 20_000)
        assert min((await ttls()).values()) >= retention - 2
        # A state op creates a key (the mutes hash): it and every other key get the TTL.
        for name in ("meta", "log", "last"):
            await raw.expire(k[name], retention - 30)
        muted = event("muted", room="ttl-room", user_id="alex", until=None)
        await backend.append("ttl-room", muted, guard=None, now_ms=NOW + 21_000)
        assert set(await ttls()) == {"meta", "log", "last", "mutes"}
        assert min((await ttls()).values()) >= retention - 2
    finally:
        await raw.aclose()
        await backend.close()


async def wait_for_count(got: list[Delivery], count: int) -> None:
    for _ in range(300):
        if len(got) >= count:
            return
        await asyncio.sleep(0.01)


async def test_a_rooms_live_delivery_starts_where_its_first_join_read(
    workers: tuple[RedisBackend, RedisBackend],
) -> None:
    """Subscribed for a join, the bus reads nothing itself: the join's script (run after
    the subscription took effect) says where live delivery starts. What was published
    before it and heard meanwhile is not delivered again; what comes after is, once."""
    a, b = workers
    got: list[Delivery] = []
    assert await b.subscribe_for_join("r1", got.append) is None
    await a.append("r1", msg("one (before the join)"), guard=None, now_ms=NOW)
    view = await b.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))
    assert view.read.offset == 1 and view.live_from == 1
    assert [e["text"] for e in view.read.entries] == ["one (before the join)"]
    await a.append("r1", msg("two"), guard=None, now_ms=NOW)
    await wait_for_offset(got, 2)
    assert [d.offset for d in got if d.offset] == [2]
    later = await b.enter("r1", JoinQuery(ALEX, "a2", None, 10, NOW))
    assert later.live_from == 2


async def test_on_a_redis_without_resp3_a_first_join_waits_for_its_subscription() -> None:
    """A Redis that refuses HELLO 3 (as Redis 5 does) gets RESP2 on the subscription,
    where a subscribed connection takes no script: the first join waits for the
    SUBSCRIBE's confirmation and runs on the command connection (two round trips), and
    live delivery still starts exactly where its read said."""
    server = RedisServer(appendonly=False, extra_args=("--rename-command", "HELLO", ""))
    server.start()
    a, b = RedisBackend(server.url), RedisBackend(server.url)
    try:
        await a.start()
        await b.start()
        got: list[Delivery] = []
        assert await b.subscribe_for_join("r1", got.append) is None
        assert all(not shard.link.resp3 for shard in b._shards.values() if shard.link)
        await a.append("r1", msg("one (before the join)"), guard=None, now_ms=NOW)
        view = await b.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))
        assert view.read.offset == 1 and view.live_from == 1
        await a.append("r1", msg("two"), guard=None, now_ms=NOW)
        await wait_for_offset(got, 2)
        assert [d.offset for d in got if d.offset] == [2]
    finally:
        await a.close()
        await b.close()
        server.cleanup()


async def test_a_first_join_behind_a_subscription_just_lost_is_refused_as_unavailable(
    workers: tuple[RedisBackend, RedisBackend],
) -> None:
    """The subscription's connection dropped and the bus has not heard yet (a loop turn
    later): a room's first join that would go behind its SUBSCRIBE is refused with
    `unavailable` (the member retries), not failed with an internal error."""
    _, b = workers
    got: list[Delivery] = []
    assert await b.subscribe_for_join("r1", got.append) is None
    links = [shard.link for shard in b._shards.values() if shard.link is not None]
    assert links and all(link.resp3 for link in links)
    for link in links:
        link.connection.abort()
    with pytest.raises(BackendUnavailable):
        await b.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))


async def test_a_subscription_lost_before_its_first_join_is_started_by_the_reconnect(
    workers: tuple[RedisBackend, RedisBackend],
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A join whose room's subscription was lost does not say where live delivery starts
    (what was published meanwhile went unheard); the reconnect's catch-up does, and the
    next join takes it from there."""
    from chatserver.redis_backend import bus

    monkeypatch.setattr(bus, "RECONNECT_BACKOFF_S", (0.5,))  # time to join while away
    a, b = workers
    got: list[Delivery] = []
    assert await b.subscribe_for_join("r1", got.append) is None
    admin = redis.Redis.from_url(redis_server.url)
    try:
        # Subscribed for a join, the bus does not wait for the confirmation (the join's
        # script goes right behind the SUBSCRIBE): wait for Redis to have it here.
        for _ in range(300):
            if (await admin.pubsub_numsub(room_keys("r1")["channel"]))[0][1] == 1:
                break
            await asyncio.sleep(0.01)
        assert await admin.client_kill_filter(_type="pubsub") == 1
        for _ in range(100):
            if not await b.ready():
                break
            await asyncio.sleep(0.005)
        assert not await b.ready()
        await a.append("r1", msg("one (unheard)"), guard=None, now_ms=NOW)
        view = await b.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))
        assert view.admitted and view.live_from is None
        for _ in range(300):
            if await b.ready():
                break
            await asyncio.sleep(0.01)
        await a.append("r1", msg("two"), guard=None, now_ms=NOW)
        await wait_for_offset(got, 2)
        assert [d.offset for d in got if d.offset] == [2]
        again = await b.enter("r1", JoinQuery(ALEX, "a2", None, 10, NOW))
        assert again.live_from == 2
    finally:
        await admin.aclose()


async def wait_for_offset(got: list[Delivery], offset: int) -> None:
    for _ in range(300):
        if any(d.offset == offset for d in got):
            return
        await asyncio.sleep(0.01)


async def test_a_lost_subscription_reconnects_resubscribes_and_catches_up(
    workers: tuple[RedisBackend, RedisBackend],
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis drops the subscriber's connection (as on a failover or a network blip): the
    worker is not ready meanwhile, then reconnects by itself, resubscribes, and delivers
    what was posted while it was away (from the log) and what comes after (live),
    each once and in order."""
    from chatserver.redis_backend import bus

    monkeypatch.setattr(bus, "RECONNECT_BACKOFF_S", (0.5,))  # time to post while away
    a, b = workers
    got: list[Delivery] = []
    await b.subscribe("r1", got.append)
    await a.append("r1", msg("one"), guard=None, now_ms=NOW)
    await wait_for_count(got, 1)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        assert await admin.client_kill_filter(_type="pubsub") == 1  # b's (a has no room)
        for _ in range(100):
            if not await b.ready():
                break
            await asyncio.sleep(0.005)
        assert not await b.ready()
        await a.append("r1", msg("two (while b was away)"), guard=None, now_ms=NOW)
        for _ in range(300):
            if await b.ready():
                break
            await asyncio.sleep(0.01)
        assert await b.ready()
        await a.append("r1", msg("three"), guard=None, now_ms=NOW)
        await wait_for_count(got, 3)
        assert [d.offset for d in got] == [1, 2, 3]
        assert [d.payload["text"] for d in got] == ["one", "two (while b was away)", "three"]
        assert b.gap_repairs >= 1  # "two" came from the log
        assert (await admin.pubsub_numsub(room_keys("r1")["channel"]))[0][1] == 1
    finally:
        await admin.aclose()


async def test_the_last_listener_leaving_unsubscribes_and_a_new_one_resubscribes(
    workers: tuple[RedisBackend, RedisBackend], redis_server: RedisServer
) -> None:
    a, b = workers
    channel = room_keys("r1")["channel"]
    admin = redis.Redis.from_url(redis_server.url)

    async def subscribers() -> int:
        count: int = (await admin.pubsub_numsub(channel))[0][1]
        return count

    try:
        first: list[Delivery] = []
        second: list[Delivery] = []
        await b.subscribe("r1", first.append)
        await b.subscribe("r1", second.append)  # the same subscription, two listeners
        assert await subscribers() == 1
        await a.append("r1", msg("to both"), guard=None, now_ms=NOW)
        await wait_for_count(second, 1)
        assert [d.offset for d in first] == [d.offset for d in second] == [1]
        await b.unsubscribe("r1", first.append)
        assert await subscribers() == 1
        await b.unsubscribe("r1", second.append)
        for _ in range(100):
            if await subscribers() == 0:
                break
            await asyncio.sleep(0.01)
        assert await subscribers() == 0
        again: list[Delivery] = []
        assert await b.subscribe("r1", again.append) == 1  # delivery continues after 1
        await a.append("r1", msg("after"), guard=None, now_ms=NOW)
        await wait_for_count(again, 1)
        assert [(d.offset, d.payload["text"]) for d in again] == [(2, "after")]
        assert len(first) == len(second) == 1
    finally:
        await admin.aclose()


class SilencingProxy:
    """A loopback TCP proxy to Redis that can go silent on the connections it carries,
    without closing them (what a dropped NAT entry or a partition looks like to a
    client), while new connections pass as usual."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._silenced: list[asyncio.Event] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def silence_existing(self) -> None:
        for flag in self._silenced:
            flag.set()
        self._silenced = []

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        silent = asyncio.Event()
        self._silenced.append(silent)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.get_running_loop().create_task(self._pipe(src, dst, silent))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, silent: asyncio.Event
    ) -> None:
        while data := await src.read(65536):
            if silent.is_set():
                continue  # swallowed: the peer sees an open, silent connection
            dst.write(data)
            await dst.drain()


async def test_a_subscription_gone_silent_is_reopened_and_catches_up(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection carrying a worker's subscription stops delivering without closing:
    the worker notices within a few keepalive periods, reopens the subscription and
    delivers what was posted meanwhile, once each and in order. Without the keepalive
    nothing posted after the silence would ever reach this worker's members."""
    from chatserver.redis_backend import subscription

    monkeypatch.setattr(subscription, "SUBSCRIBER_KEEPALIVE_S", 0.2)
    flush = redis.Redis.from_url(redis_server.url)
    await flush.flushdb()
    await flush.aclose()
    proxy = SilencingProxy(redis_server.port)
    await proxy.start()
    writer = RedisBackend(redis_server.url)
    reader = RedisBackend(f"redis://127.0.0.1:{proxy.port}/0")
    await writer.start()
    await reader.start()
    try:
        got: list[Delivery] = []
        await reader.subscribe("r1", got.append)
        await writer.append("r1", msg("one"), guard=None, now_ms=NOW)
        await wait_for_count(got, 1)
        proxy.silence_existing()
        await writer.append("r1", msg("two (into the silence)"), guard=None, now_ms=NOW)
        await writer.append("r1", msg("three"), guard=None, now_ms=NOW)
        for _ in range(500):  # bounded: 5 s, against a 0.6 s give-up
            if len(got) >= 3:
                break
            await asyncio.sleep(0.01)
        assert [d.offset for d in got] == [1, 2, 3]
        assert [d.payload["text"] for d in got] == ["one", "two (into the silence)", "three"]
    finally:
        await reader.close()
        await writer.close()
        await proxy.close()


async def test_no_audience_or_event_name_can_break_the_frame(
    workers: tuple[RedisBackend, RedisBackend],
) -> None:
    """Issue 12, item 9: ephemeral frames were ``E<audience>\\n<event>\\n<body>``, and a
    user id with a newline in it (an audience ``user:<id>``) broke the subscription on
    every worker. Whatever the strings hold, every worker reads them back exactly."""
    a, b = workers
    got: list[Delivery] = []
    await b.subscribe("r1", got.append)
    tricky = "user:eve\nall\nmessage\n\x00E\r\n"
    await a.publish("r1", Delivery("notice", {"room": "r1", "text": "for eve"}, audience=tricky))
    await a.publish("r1", Delivery("odd\nevent", {"room": "r1"}, audience="all"))
    barrier = (await a.append("r1", msg("barrier"), guard=None, now_ms=NOW)).entry
    for _ in range(300):
        if any(d.offset == barrier["offset"] for d in got):
            break
        await asyncio.sleep(0.01)
    assert [(d.event, d.audience, d.payload.get("text")) for d in got] == [
        ("notice", tricky, "for eve"),
        ("odd\nevent", "all", None),
        ("message", "all", "barrier"),
    ]


async def test_one_slow_reply_fails_only_its_own_request(
    workers: tuple[RedisBackend, RedisBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis answering, but a request waiting longer than a command's bound (in a
    reconnect storm, thousands of joins queued on one connection; here the bound made
    tiny while a crowd of appends is in flight): the requests that waited too long answer
    `unavailable`, and the next one is served — not refused at once for FAIL_FAST_S as it
    was, which turned one slow moment into hundreds of refused joins (docs/benchmarks.md)."""
    from chatserver.redis_backend import connection

    a, _ = workers
    await append_now(a, "before")
    monkeypatch.setattr(connection, "COMMAND_TIMEOUT_S", 0.0005)
    outcomes = await asyncio.gather(
        *(append_now(a, f"crowd {i}") for i in range(200)), return_exceptions=True
    )
    assert any(isinstance(o, BackendUnavailable) for o in outcomes), "none waited too long"
    monkeypatch.setattr(connection, "COMMAND_TIMEOUT_S", 1.5)
    assert await append_now(a, "right after") > 0


async def test_a_silent_redis_fails_fast(
    workers: tuple[RedisBackend, RedisBackend], redis_server: RedisServer
) -> None:
    """Redis busy with one script answers nothing at all: as good as paused. The request
    that waited out its bound answers `unavailable`, and so do the next ones, at once."""
    a, _ = workers
    admin = redis.Redis.from_url(redis_server.url)
    try:
        await append_now(a, "before")
        busy = asyncio.create_task(admin.eval(BUSY_FOR_1_8_S, 0))
        await asyncio.sleep(0.05)
        with pytest.raises(BackendUnavailable):
            await append_now(a, "waits longer than its bound")
        started = asyncio.get_running_loop().time()
        with pytest.raises(BackendUnavailable):
            await append_now(a, "right after")
        assert asyncio.get_running_loop().time() - started < 0.1
        await busy
    finally:
        await admin.aclose()


# Keeps Redis busy (scripts run alone) for 1.8 s: longer than COMMAND_TIMEOUT_S (1.5 s),
# shorter than the pipe's dead_after_s (2 s).
BUSY_FOR_1_8_S = """
local start = redis.call('TIME')
local function elapsed()
  local now = redis.call('TIME')
  return (now[1] - start[1]) + (now[2] - start[2]) / 1e6
end
while elapsed() < 1.8 do end
return 1
"""


async def append_now(backend: RedisBackend, text: str) -> int:
    return int((await backend.append("r1", msg(text), guard=None, now_ms=NOW)).entry["offset"])
