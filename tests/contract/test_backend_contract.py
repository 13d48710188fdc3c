"""One contract, every backend: what the service relies on, run against each implementation.

The ``backend`` fixture is parametrized over the implementations (uvicorn's conftest does
the same for its interchangeable servers), so the embedded backends (in memory, and on
a SQLite file: the default) and the Redis backend are held to exactly the same behaviour.
"""

from __future__ import annotations

import pathlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from chatserver.backend import (
    AppendRefused,
    Backend,
    Delivery,
    JoinQuery,
    Leaving,
    PostGuard,
    RaidSuspected,
    SharedRaid,
)
from chatserver.memory_backend import MemoryBackend
from chatserver.redis_backend import RedisBackend
from chatserver.redis_backend.keys import room_keys
from chatserver.redis_cluster import ClusterSeeds
from chatserver.sqlite_backend import ROOMS_FILE, SqliteBackend
from rooms.entries import Entry, message_entry, room_event
from rooms.recovery import Since
from tests.redis_cluster import RedisClusterProcesses
from tests.redis_server import RedisServer

NOW = 1_800_000_000_000
ALEX = {"id": "alex", "name": "Alex", "role": "member"}
SAM = {"id": "sam", "name": "Sam", "role": "facilitator"}


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
async def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Backend]:
    impl: Backend
    if request.param == "memory":
        impl = MemoryBackend(history_size=20)
    elif request.param == "sqlite":
        impl = SqliteBackend(tmp_path / ROOMS_FILE, history_size=20, synchronous="NORMAL")
    elif request.param == "redis-cluster":
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        cluster.flush()
        impl = RedisBackend(ClusterSeeds.parse(cluster.seeds), history_size=20)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        flush = redis.Redis.from_url(server.url)
        await flush.flushdb()
        await flush.aclose()
        impl = RedisBackend(server.url, history_size=20)
    await impl.start()
    try:
        yield impl
    finally:
        await impl.close()


def msg(text: str, user: dict[str, str] = ALEX, room: str = "r1", ts: int = NOW) -> Entry:
    return message_entry(
        room=room,
        msg_id=uuid.uuid4().hex[:16],
        user=user,
        text=text,
        ts=ts,
        client_id=str(uuid.uuid4()),
    )


def event(kind: str, room: str = "r1", **fields: Any) -> Entry:
    return room_event(room=room, kind=kind, by=SAM, ts=NOW, **fields)


async def append(
    backend: Backend, entry: Entry, guard: PostGuard | None = None, now: int = NOW
) -> Entry:
    return (await backend.append(entry["room"], entry, guard=guard, now_ms=now)).entry


GUARD = PostGuard("alex", "member")


async def test_offsets_are_contiguous_per_room(backend: Backend) -> None:
    offsets = [(await append(backend, msg(f"m{i}")))["offset"] for i in range(5)]
    assert offsets == [1, 2, 3, 4, 5]
    assert (await append(backend, msg("other room", room="r2")))["offset"] == 1


async def test_stored_entry_is_what_clients_receive(backend: Backend) -> None:
    entry = msg("hello")
    stored = await append(backend, entry)
    assert stored == {**entry, "offset": 1}


async def test_client_id_dedupes(backend: Backend) -> None:
    entry = msg("only once")
    first = await backend.append("r1", entry, guard=GUARD, now_ms=NOW)
    again = await backend.append("r1", {**entry, "id": "different"}, guard=GUARD, now_ms=NOW)
    assert not first.duplicate and again.duplicate
    assert again.entry == first.entry
    assert await backend.find_client_id("r1", "alex", entry["client_id"]) == first.entry
    assert await backend.find_client_id("r1", "alex", str(uuid.uuid4())) is None
    read = await backend.read("r1", None, 10)
    assert [e["text"] for e in read.entries] == ["only once"]


async def test_read_latest_page_and_recovery(backend: Backend) -> None:
    for i in range(8):
        await append(backend, msg(f"m{i}"))
    page = await backend.read("r1", None, 3)
    assert not page.recovered and [e["text"] for e in page.entries] == ["m5", "m6", "m7"]
    assert page.offset == 8
    rec = await backend.read("r1", Since(5, page.epoch), 3)
    assert rec.recovered and [e["offset"] for e in rec.entries] == [6, 7, 8]
    stale = await backend.read("r1", Since(5, "other-epoch"), 3)
    assert not stale.recovered and [e["offset"] for e in stale.entries] == [6, 7, 8]
    ahead = await backend.read("r1", Since(99, page.epoch), 3)
    assert not ahead.recovered


async def test_trimmed_history_is_not_recovered(backend: Backend) -> None:
    for i in range(30):  # history_size is 20
        await append(backend, msg(f"m{i}"))
    epoch = (await backend.read("r1", None, 1)).epoch
    assert not (await backend.read("r1", Since(2, epoch), 5)).recovered
    rec = await backend.read("r1", Since(15, epoch), 5)
    assert rec.recovered and [e["offset"] for e in rec.entries] == list(range(16, 31))


async def test_empty_room(backend: Backend) -> None:
    read = await backend.read("fresh", None, 10)
    assert read.offset == 0 and read.entries == [] and read.epoch
    assert (await backend.read("fresh", Since(0, read.epoch), 10)).recovered
    snap = await backend.snapshot("fresh", NOW)
    assert snap.offset == 0 and snap.epoch == read.epoch and not snap.state.locked


async def test_a_deleted_pinned_message_leaves_no_copy_behind(backend: Backend) -> None:
    secret = await append(backend, msg("my address is 12 Elm Street"))
    await append(backend, event("pinned", id=secret["id"], entry=secret))
    await append(backend, event("deleted", id=secret["id"]))
    epoch = (await backend.read("r1", None, 1)).epoch
    for read in (await backend.read("r1", None, 10), await backend.read("r1", Since(0, epoch), 10)):
        assert "Elm Street" not in str(read.entries)
        assert [e.get("kind") for e in read.entries] == ["deleted"]
    assert not (await backend.snapshot("r1", NOW)).state.pins


async def test_deleted_messages_leave_history(backend: Backend) -> None:
    keep = await append(backend, msg("keep"))
    gone = await append(backend, msg("regret this"))
    await append(backend, event("deleted", id=gone["id"]))
    epoch = (await backend.read("r1", None, 1)).epoch
    page = await backend.read("r1", None, 10)
    assert [e.get("text", e.get("kind")) for e in page.entries] == ["keep", "deleted"]
    rec = await backend.read("r1", Since(0, epoch), 10)
    assert [e["offset"] for e in rec.entries] == [keep["offset"], 3]
    assert await backend.get_message("r1", gone["id"]) is None
    assert (await backend.get_message("r1", keep["id"])) == keep


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (event("muted", user_id="alex", until=NOW + 60_000), "muted"),
        (event("muted", user_id="alex", until=None), "muted"),
        (event("locked", locked=True), "room_locked"),
        (event("paused", paused=True), "room_locked"),
        (event("floor", user_id="bea"), "room_locked"),
    ],
)
async def test_guard_refuses_from_room_state(backend: Backend, change: Entry, code: str) -> None:
    await append(backend, change)
    with pytest.raises(AppendRefused) as info:
        await append(backend, msg("can I?"), GUARD)
    assert info.value.refusal.code == code
    # Facilitators are never refused, and a refused append wrote nothing.
    await append(backend, msg("facilitator note", SAM), PostGuard("sam", "facilitator"))
    assert (await backend.snapshot("r1", NOW)).offset == 2


async def test_mute_expires_and_unmute_lifts(backend: Backend) -> None:
    await append(backend, event("muted", user_id="alex", until=NOW + 1000))
    with pytest.raises(AppendRefused) as info:
        await append(backend, msg("now?"), GUARD, now=NOW + 500)
    assert info.value.refusal.retry_after_s == pytest.approx(0.5)
    await append(backend, msg("after the mute"), GUARD, now=NOW + 1500)
    await append(backend, event("muted", user_id="alex", until=None))
    await append(backend, event("unmuted", user_id="alex"))
    await append(backend, msg("unmuted"), GUARD, now=NOW + 2000)


async def test_slow_mode_is_per_member(backend: Backend) -> None:
    await append(backend, event("slow_mode", slow_mode_s=30))
    await append(backend, msg("first"), GUARD, now=NOW)
    with pytest.raises(AppendRefused) as info:
        await append(backend, msg("second"), GUARD, now=NOW + 10_000)
    assert info.value.refusal.code == "slow_mode"
    assert info.value.refusal.retry_after_s == pytest.approx(20)
    bea = {"id": "bea", "name": "Bea", "role": "member"}
    await append(backend, msg("bea's first", bea), PostGuard("bea", "member"), now=NOW + 10_000)
    await append(backend, msg("third"), GUARD, now=NOW + 30_000)


async def test_snapshot_carries_state_and_pins(backend: Backend) -> None:
    pinned = await append(backend, msg("group agreement: be kind"))
    await append(backend, event("pinned", id=pinned["id"], entry=pinned))
    await append(backend, event("slow_mode", slow_mode_s=10))
    await append(backend, event("removed", user_id="troll"))
    snap = await backend.snapshot("r1", NOW)
    assert snap.offset == 4
    assert list(snap.state.pins.values()) == [pinned]
    assert snap.state.slow_mode_s == 10 and "troll" in snap.state.removed
    await append(backend, event("unpinned", id=pinned["id"]))
    assert not (await backend.snapshot("r1", NOW)).state.pins


async def test_subscribers_get_entries_in_order_and_ephemeral_events(backend: Backend) -> None:
    got: list[Delivery] = []
    start = await backend.subscribe("r1", got.append)
    assert start == 0
    stored = [await append(backend, msg(f"live {i}")) for i in range(3)]
    await backend.publish("r1", Delivery("typing", {"room": "r1", "user": ALEX, "active": True}))
    await _settle(backend, got, 4)
    logged = [d for d in got if d.offset is not None]
    assert [d.offset for d in logged] == [1, 2, 3]
    assert [d.payload for d in logged] == stored and {d.event for d in logged} == {"message"}
    typing = [d for d in got if d.event == "typing"]
    assert typing and typing[0].offset is None and typing[0].payload["active"] is True
    await backend.unsubscribe("r1", got.append)
    await append(backend, msg("after unsubscribe"))
    await _settle(backend, got, 5, expect_more=False)
    assert len(got) == 4


async def test_room_events_are_delivered_as_room_event(backend: Backend) -> None:
    got: list[Delivery] = []
    await backend.subscribe("r1", got.append)
    await append(backend, event("locked", locked=True))
    await _settle(backend, got, 1)
    assert got[0].event == "room_event" and got[0].payload["kind"] == "locked"


async def test_presence_counts_people_not_tabs(backend: Backend) -> None:
    assert await backend.presence_add("r1", ALEX, "tab1")
    assert not await backend.presence_add("r1", ALEX, "tab2")
    assert await backend.presence_add("r1", SAM, "s1")
    assert [m["id"] for m in await backend.presence_members("r1")] == ["sam", "alex"]
    assert not await backend.presence_remove("r1", "alex", "tab1")
    assert await backend.presence_remove("r1", "alex", "tab2")
    assert not await backend.presence_remove("r1", "alex", "tab2")
    assert [m["id"] for m in await backend.presence_members("r1")] == ["sam"]


async def test_a_leave_is_numbered_with_the_joins_and_lowers_the_hand(backend: Backend) -> None:
    """Joins and leaves (and those whose worker died) share one presence sequence, each
    "left" carrying the member list as of its number; the leaver's raised hand goes down
    in the same step."""
    got: list[Delivery] = []
    await backend.subscribe("r1", got.append)
    alex = await backend.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))
    await backend.enter("r1", JoinQuery(ALEX, "a2", None, 10, NOW))  # a second tab
    sam = await backend.enter("r1", JoinQuery(SAM, "s1", None, 10, NOW))
    assert (alex.presence_seq, sam.presence_seq) == (1, 2)
    await backend.hands_set("r1", ALEX, True, NOW)
    await backend.hands_set("r1", SAM, True, NOW + 1)
    assert await backend.presence_leave("r1", ALEX, "a1") == Leaving(False)  # a tab left
    alex_left = await backend.presence_leave("r1", ALEX, "a2")
    assert alex_left.left and [h["id"] for h in alex_left.hands or []] == ["sam"]
    assert await backend.presence_leave("r1", SAM, "s1") == Leaving(True, [])
    assert await backend.hands_list("r1") == []
    kim = await backend.enter("r1", JoinQuery(KIM, "k1", None, 10, NOW))
    assert kim.presence_seq == 5
    await backend.presence_announce_gone("r1", [BEA])
    await _settle(backend, got, 6)
    changes = [
        (d.seq, *(f"{k} {v['id']}" for k, v in d.payload.items() if k in ("joined", "left")))
        for d in got
    ]
    assert changes == [
        (1, "joined alex"),
        (2, "joined sam"),
        (3, "left alex"),
        (4, "left sam"),
        (5, "joined kim"),
        (6, "left bea"),
    ]
    members = [[m["id"] for m in d.payload["members"]] for d in got]
    assert members == [["alex"], ["sam", "alex"], ["sam"], [], ["kim"], ["kim"]]
    assert not [d for d in got if "_seq" in d.payload]


async def test_ready(backend: Backend) -> None:
    assert await backend.ready()


async def _settle(
    backend: Backend, got: list[Delivery], count: int, expect_more: bool = True
) -> None:
    """Wait (bounded) for asynchronous backends to deliver ``count`` items."""
    import asyncio

    for _ in range(200 if expect_more else 20):
        if expect_more and len(got) >= count:
            return
        await asyncio.sleep(0.01)


async def test_held_messages_are_taken_once_and_remember_their_client_id(backend: Backend) -> None:
    held = {**msg("see my site"), "held_reason": "unknown link"}
    await backend.hold_put("r1", held)
    assert [h["id"] for h in await backend.holds_list("r1")] == [held["id"]]
    marker = await backend.find_client_id("r1", "alex", held["client_id"])
    assert marker is not None and marker["offset"] == 0 and marker["text"] == "see my site"
    taken = await backend.hold_take("r1", held["id"])
    assert taken is not None and taken["text"] == "see my site"
    assert await backend.hold_take("r1", held["id"]) is None
    # Approving appends it for real, under the same client_id.
    approved = {k: v for k, v in held.items() if k != "held_reason"}
    result = await backend.append("r1", approved, guard=None, now_ms=NOW)
    assert not result.duplicate and result.entry["offset"] == 1
    assert (await backend.find_client_id("r1", "alex", held["client_id"])) == result.entry


async def test_open_alerts_stay_until_one_facilitator_dismisses_them(backend: Backend) -> None:
    def alert(alert_id: str, ts: int, kind: str = "crisis") -> dict[str, Any]:
        return {"id": alert_id, "ts": ts, "room": "r1", "kind": kind, "user": ALEX}

    await backend.alert_put("r1", alert("b", NOW + 1))
    await backend.alert_put("r1", alert("a", NOW))
    await backend.alert_put("r2", alert("c", NOW, "report"))
    assert [a["id"] for a in await backend.alerts_list("r1")] == ["a", "b"]  # oldest first
    taken = await backend.alert_take("r1", "a")
    assert taken is not None and taken["kind"] == "crisis" and taken["user"] == ALEX
    assert await backend.alert_take("r1", "a") is None  # a second facilitator gets nothing
    assert [a["id"] for a in await backend.alerts_list("r1")] == ["b"]
    assert [a["id"] for a in await backend.alerts_list("r2")] == ["c"]


async def test_a_flood_of_alerts_keeps_the_newest(backend: Backend) -> None:
    from chatserver.backend import ALERTS_PER_ROOM

    for i in range(ALERTS_PER_ROOM + 5):
        await backend.alert_put("r1", {"id": f"x{i:04d}", "ts": NOW + i, "kind": "rate"})
    kept = [a["id"] for a in await backend.alerts_list("r1")]
    assert len(kept) == ALERTS_PER_ROOM
    assert kept[0] == "x0005" and kept[-1] == f"x{ALERTS_PER_ROOM + 4:04d}"


async def test_a_flood_of_held_messages_keeps_the_newest(backend: Backend) -> None:
    from chatserver.backend import HELD_PER_ROOM

    for i in range(HELD_PER_ROOM + 3):
        await backend.hold_put("r1", {**msg(f"link {i}", ts=NOW + i), "id": f"h{i:04d}"})
    kept = [h["id"] for h in await backend.holds_list("r1")]
    assert len(kept) == HELD_PER_ROOM
    assert kept[0] == "h0003" and kept[-1] == f"h{HELD_PER_ROOM + 2:04d}"
    assert await backend.hold_take("r1", "h0000") is None


async def test_hands_queue_in_raise_order(backend: Backend) -> None:
    bea = {"id": "bea", "name": "Bea", "role": "member"}
    assert await backend.hands_set("r1", ALEX, True, NOW) == [ALEX]
    assert await backend.hands_set("r1", bea, True, NOW + 1) == [ALEX, bea]
    assert await backend.hands_set("r1", ALEX, True, NOW + 2) == [ALEX, bea]  # stays in place
    assert await backend.hands_set("r1", ALEX, False, NOW + 3) == [bea]
    assert await backend.hands_list("r1") == [bea]
    await backend.hands_clear("r1")
    assert await backend.hands_list("r1") == []


async def test_audit_newest_first_and_bounded_by_limit(backend: Backend) -> None:
    for i in range(5):
        await backend.audit_add("r1", {"ts": NOW + i, "action": f"a{i}"})
    assert [r["action"] for r in await backend.audit_list("r1", 3)] == ["a4", "a3", "a2"]


async def test_raid_copies_are_counted_across_senders_within_the_window(backend: Backend) -> None:
    raid = SharedRaid("k" * 24, window_ms=30_000, members=3)

    def guard(user: str) -> PostGuard:
        return PostGuard(user, "member", raid=raid)

    def copy(user: str) -> Entry:
        return msg("the same text", {"id": user, "name": user.title(), "role": "member"})

    await append(backend, copy("alex"), guard("alex"), now=NOW)
    await append(backend, copy("alex"), guard("alex"), now=NOW + 1_000)  # still one sender
    await append(backend, copy("bea"), guard("bea"), now=NOW + 2_000)
    with pytest.raises(RaidSuspected) as raised:
        await append(backend, copy("cam"), guard("cam"), now=NOW + 3_000)
    assert raised.value.members == 3
    # Not appended: the log holds the three earlier copies only.
    assert [e["user"]["id"] for e in (await backend.read("r1", None, 10)).entries] == [
        "alex",
        "alex",
        "bea",
    ]
    # Past the window the earlier senders are forgotten; another text is counted apart.
    await append(backend, copy("dee"), guard("dee"), now=NOW + 40_000)
    other = PostGuard("eve", "member", raid=SharedRaid("o" * 24, 30_000, 3))
    await append(backend, copy("eve"), other, now=NOW + 40_000)


# -- issue 12: client_ids are per sender (item 10), the facilitator roster (item 7) -------

BEA = {"id": "bea", "name": "Bea", "role": "member"}
KIM = {"id": "kim", "name": "Kim", "role": "facilitator"}


async def test_client_id_dedupe_is_per_sender(backend: Backend) -> None:
    """A client_id is visible in every message event: Bea reusing Alex's must get her own
    message appended (and her own entry back), never Alex's."""
    alex = msg("alex's words")
    bea = {**msg("bea's words", user=BEA), "client_id": alex["client_id"]}
    first = await backend.append("r1", alex, guard=GUARD, now_ms=NOW)
    second = await backend.append("r1", bea, guard=PostGuard("bea", "member"), now_ms=NOW)
    assert not first.duplicate and not second.duplicate
    assert second.entry["text"] == "bea's words" and second.entry["offset"] == 2
    again = await backend.append("r1", {**bea, "id": "retry"}, guard=None, now_ms=NOW)
    assert again.duplicate and again.entry == second.entry  # her own retry still dedupes
    cid = alex["client_id"]
    assert (await backend.find_client_id("r1", "alex", cid)) == first.entry
    assert (await backend.find_client_id("r1", "bea", cid)) == second.entry
    assert await backend.find_client_id("r1", "cara", cid) is None
    read = await backend.read("r1", None, 10)
    assert [e["text"] for e in read.entries] == ["alex's words", "bea's words"]


async def test_a_held_client_id_is_per_sender_too(backend: Backend) -> None:
    held = {**msg("see my site"), "held_reason": "unknown link"}
    await backend.hold_put("r1", held)
    assert await backend.find_client_id("r1", "bea", held["client_id"]) is None
    view = await backend.enter(
        "r1", JoinQuery(BEA, "b1", None, 10, NOW, client_ids=(held["client_id"],))
    )
    assert view.found == {}
    view = await backend.enter(
        "r1", JoinQuery(ALEX, "a1", None, 10, NOW, client_ids=(held["client_id"],))
    )
    assert view.found[held["client_id"]]["offset"] == 0


async def test_the_facilitator_roster_outlives_presence(backend: Backend) -> None:
    """Everyone who has joined as a facilitator stays on the room's roster when they leave,
    so the rule protecting co-facilitators knows them while they are away."""
    assert await backend.facilitators("r1") == frozenset()
    await backend.enter("r1", JoinQuery(KIM, "k1", None, 10, NOW, keep_out_removed=False))
    await backend.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))
    assert await backend.facilitators("r1") == {"kim"}
    assert await backend.presence_remove("r1", "kim", "k1")
    assert [m["id"] for m in await backend.presence_members("r1")] == ["alex"]
    assert await backend.facilitators("r1") == {"kim"}
    assert await backend.facilitators("r2") == frozenset()


async def _kept_bytes(backend: Backend, room: str, request: pytest.FixtureRequest) -> bytes:
    """Everything the store keeps of a room's messages, as bytes a privacy audit would
    search (on a cluster, the script is the same as on one Redis: its retry copy and
    reads are checked there)."""
    if isinstance(backend, SqliteBackend):
        await backend.journal.durable()
        with sqlite3.connect(backend._path) as db:
            rows = db.execute("SELECT body FROM entries WHERE room = ?", (room,)).fetchall()
        return b"".join(b if isinstance(b, bytes) else str(b).encode() for (b,) in rows)
    if isinstance(backend, RedisBackend):
        if request.node.callspec.params["backend"] != "redis":
            return b""
        server: RedisServer = request.getfixturevalue("redis_server")
        raw = redis.Redis.from_url(server.url)
        try:
            kept = [repr(await raw.xrange(room_keys(room)["log"]))]
            async for key in raw.scan_iter(match=f"huddle:{{{room}}}:cid:*"):
                kept.append(repr(await raw.get(key)))
        finally:
            await raw.aclose()
        return "".join(kept).encode()
    assert isinstance(backend, MemoryBackend)
    log = backend._rooms[room].log
    return (repr(list(log._entries)) + repr(dict(log._by_client_id))).encode()


async def test_a_deleted_message_s_words_leave_the_store(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    """Deleting (a facilitator's delete, a member erasing their data) erases the words
    from what the store keeps, its retry copy too; the entry keeps its offset."""
    secret = "my address is 4 Privet Drive " + uuid.uuid4().hex
    kept = await append(backend, msg(secret))
    await append(backend, msg("after it"))
    if not isinstance(backend, RedisBackend) or request.node.callspec.params["backend"] == "redis":
        assert secret.encode() in await _kept_bytes(backend, "r1", request)
    await append(backend, event("deleted", id=kept["id"], at=kept["offset"]))
    assert secret.encode() not in await _kept_bytes(backend, "r1", request)
    again = {**msg(secret), "client_id": kept["client_id"]}
    retry = await backend.append("r1", again, guard=None, now_ms=NOW)
    assert retry.duplicate and retry.entry["offset"] == kept["offset"]
    assert secret not in str(retry.entry)
    read = await backend.read("r1", None, 10)
    assert [e.get("text") for e in read.entries if "kind" not in e] == ["after it"]


async def test_clearing_the_conversation_purges_it_from_the_store(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    """A facilitator's purge: everything before it leaves what the store keeps; pins and
    reactions go with it; a member recovering from before it gets the room as it is now."""
    secret = "what I said last week " + uuid.uuid4().hex
    said = await append(backend, msg(secret))
    await append(backend, event("pinned", id=said["id"], entry=said))
    await append(backend, event("reaction", id=said["id"], reaction="hug", user_id="bea", on=True))
    before = await backend.read("r1", None, 10)
    cleared = await append(backend, event("cleared"))
    after = await append(backend, msg("a fresh start"))
    assert secret.encode() not in await _kept_bytes(backend, "r1", request)
    page = await backend.read("r1", None, 10)
    assert [e["offset"] for e in page.entries] == [cleared["offset"], after["offset"]]
    late = await backend.read("r1", Since(said["offset"], before.epoch), 10)
    assert not late.recovered
    assert [e["offset"] for e in late.entries] == [cleared["offset"], after["offset"]]
    since_clear = await backend.read("r1", Since(cleared["offset"], before.epoch), 10)
    assert since_clear.recovered and [e["text"] for e in since_clear.entries] == ["a fresh start"]
    state = (await backend.snapshot("r1", NOW)).state
    assert state.pins == {} and state.reactions == {}
