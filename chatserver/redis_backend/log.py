"""A room's log in Redis: the append and join scripts, reads, recovery and snapshots.

- One Lua script per append (lua/append.lua): dedupe, authoritative guard, offset, XADD
  with MAXLEN, state fold, EXPIRE, PUBLISH: atomic, one round trip.
- One Lua script per join (lua/join.lua): presence, state, log, members, hands and what
  a facilitator reviews: atomic, one round trip."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from chatserver.backend import (
    EVERYONE,
    AppendRefused,
    AppendResult,
    JoinQuery,
    JoinView,
    MeetingMoved,
    PostGuard,
    RaidSuspected,
    RoomSnapshot,
)
from chatserver.clock import now_ms
from chatserver.ids import ids
from chatserver.redis_backend.codec import (
    _body,
    _cid_entry,
    _entry,
    _hand_queue,
    _oldest_first,
    _pairs,
    _snapshot,
    _stream_entry,
    _unpack,
    _users,
    state_op,
)
from chatserver.redis_backend.connection import JOIN_COMMAND_TIMEOUT_S, RedisConnection
from chatserver.redis_backend.keys import (
    DEDUPE_TTL_S,
    PRESENCE_TTL_MS,
    _state_keys,
    cid_key,
    raid_key,
    room_keys,
)
from rooms.entries import Entry, HeldEntry, MessageEntry, event_name
from rooms.log import ReadResult, visible_entries
from rooms.policy import refusal_for
from rooms.presence import in_member_order
from rooms.recovery import Since


class RedisLog(RedisConnection):
    async def append(
        self, room: str, entry: Entry, *, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        k = room_keys(room)
        client_id, sender = "", ""
        if "kind" not in entry:
            client_id, sender = entry["client_id"], entry["user"]["id"]
        op, a, b = state_op(entry)
        body = _body(entry)
        result = await self._call(
            self._run(
                self._append,
                [
                    k["meta"],
                    k["log"],
                    k["mutes"],
                    k["last"],
                    cid_key(room, sender, client_id) if client_id else f"huddle:{{{room}}}:cid:",
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
                replicated=True,
            )
        )
        status = result[0]
        if status == b"ok":
            stored = entry.copy()
            stored["offset"] = int(result[2])
            return AppendResult(stored, duplicate=False)
        if status == b"dup":
            offset, _, first_body = result[1].partition(b"\n")
            first: Entry = _entry(int(offset), first_body)
            return AppendResult(first, duplicate=True)
        if status == b"raid":
            raise RaidSuspected(int(result[1]))
        if status == b"moved":
            raise MeetingMoved()
        rule, wait = result[1].decode(), int(result[2])
        raise AppendRefused(refusal_for(rule, None if wait < 0 else wait))

    async def find_client_id(
        self, room: str, user_id: str, client_id: str
    ) -> MessageEntry | HeldEntry | None:
        raw = await self._call(self._redis.get(cid_key(room, user_id, client_id)))
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
            k["facilitators"],
            *(cid_key(room, user["id"], client_id) for client_id in query.client_ids),
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
            EVERYONE,
            self._retention_s,
        ]
        sent_while = self._join_sent(room)
        reply = await self._call(self._run_join(sent_while, keys, args), JOIN_COMMAND_TIMEOUT_S)
        snapshot = _snapshot(reply[2], query.now_ms)
        live_from = self._join_read(room, sent_while, snapshot.epoch, snapshot.offset)
        if not reply[0]:
            empty = ReadResult(snapshot.epoch, snapshot.offset, False, [])
            return JoinView(snapshot.state, empty, admitted=False, first=False, live_from=live_from)
        self._local_presence.setdefault(room, {})[query.conn_id] = user
        held, alerts, found_raw = reply[5], reply[6], reply[7]
        epoch_b, offset, recovered, items, deleted, presence_seq = reply[8:14]
        gone = {d.decode() for d in deleted}
        entries = visible_entries((_stream_entry(item) for item in items), gone)
        found: dict[str, MessageEntry | HeldEntry] = {}
        for client_id, raw in zip(query.client_ids, found_raw, strict=True):
            if isinstance(raw, bytes):
                found[client_id] = _cid_entry(raw)
        return JoinView(
            snapshot.state,
            ReadResult(
                epoch_b.decode(),
                int(offset),
                bool(recovered),
                entries,
                rolled_back_from=_pairs(reply[2][0]).get("rolled_from", ""),
            ),
            admitted=True,
            first=bool(reply[1]),
            members=in_member_order(_users(reply[3])),
            hands=_hand_queue(reply[4]),
            holds=sorted((_unpack(v) for v in held), key=lambda e: e["ts"]),
            alerts=_oldest_first(alerts),
            found=found,
            presence_seq=int(presence_seq),
            live_from=live_from,
        )

    def _join_sent(self, room: str) -> object:
        """Called as a join's script is sent; what it returns is handed to `_join_read`
        (the bus: whether the room's subscription was in effect then)."""
        return None

    async def _run_join(self, sent_while: object, keys: list[str], args: list[Any]) -> Any:
        """The join script, on the command connection (the bus may send a room's first
        join elsewhere: see there)."""
        return await self._run(self._join, keys, args)

    def _join_read(self, room: str, sent_while: object, epoch: str, offset: int) -> int | None:
        """Called with where a join's script found the room's log (``JoinView.live_from``
        is what it returns: see the bus)."""
        return None

    async def get_message(self, room: str, msg_id: str) -> MessageEntry | None:
        # Messages are found by id rarely (pin, delete, review): scan the retained log.
        k = room_keys(room)
        items, deleted = await self._call(_log_and_deleted(self._redis, k, msg_id))
        if deleted:
            return None
        for item in reversed(items):
            entry = _stream_entry(item)
            if "kind" not in entry and entry["id"] == msg_id:
                return entry
        return None


async def _log_and_deleted(
    r: aioredis.Redis | RedisCluster, k: Mapping[str, str], msg_id: str
) -> list[Any]:
    """The retained log and whether ``msg_id`` was deleted, in one round trip."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.xrange(k["log"])
        pipe.sismember(k["deleted"], msg_id)
        result: list[Any] = await pipe.execute()
        return result
