"""The embedded default with a file: the memory backend's rooms, kept in SQLite.

Everything is answered from memory exactly as ``MemoryBackend`` answers it (the same
pure rules, the same contract suite); what must outlive a restart is also written to
``rooms.sqlite3`` in ``HUDDLE_DATA_DIR``: each room's log (epoch, offsets, entries up
to ``HUDDLE_HISTORY_SIZE``), its state (mutes, lock, pause, slow mode, floor, pins,
removed members), held messages, open alerts, the audit trail, the facilitator roster
and the raised hands. Presence is not kept: after a restart nobody is connected.

The guarantee (docs/design.md, "The embedded store"): a logged entry is delivered to
anyone, and its sender acknowledged, only after the transaction holding it is committed;
the same holds for a held message, an open alert and its dismissal. Writes go through a
group commit (``journal.py``): the event loop queues statements, a writer thread
commits them in batches, so there is no disk write or fsync on the loop and one commit
per batch rather than per message. The audit trail, the roster and hands ride the next
batch without anyone waiting for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from chatserver.backend import (
    Alert,
    AppendResult,
    AuditRecord,
    JoinQuery,
    JoinView,
    PostGuard,
    User,
)
from chatserver.memory_backend import AUDIT_PER_ROOM, HELD_CLIENT_IDS_PER_ROOM, MemoryBackend, _Room
from chatserver.sqlite_backend import tables
from chatserver.sqlite_backend.journal import Journal
from rooms.entries import Entry, HeldEntry
from rooms.log import RoomLog, without_words
from rooms.policy import FACILITATOR

log = logging.getLogger(__name__)

ROOMS_FILE = "rooms.sqlite3"
# How often idle rooms are looked for (they are forgotten HUDDLE_RETENTION_S after their
# last activity, give or take this).
FORGET_EVERY_S = 600.0
# Trims (old log entries, audit lines, held client_ids) ride every this many writes of a
# room rather than every one; the load trims exactly.
TRIM_EVERY = 64


class SqliteBackend(MemoryBackend):
    name = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        history_size: int = 1000,
        retention_s: int = 7 * 24 * 3600,
        synchronous: str = "FULL",
    ) -> None:
        super().__init__(history_size=history_size)
        self._path = Path(path)
        self._synchronous = synchronous
        self._retention_ms = retention_s * 1000
        self._journal: Journal | None = None
        self._last_active: dict[str, int] = {}
        """Room -> when something was last appended, held or raised there (ms)."""
        self._forget_timer: asyncio.TimerHandle | None = None
        self._lock_file: IO[bytes] | None = None
        self._audit_writes: dict[str, int] = {}

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("the sqlite backend is not started")
        return self._journal

    async def start(self) -> None:
        self._lock_file = _claim(self._path)
        db = tables.open_file(self._path, synchronous=self._synchronous)
        try:
            tables.trim(
                db,
                history_size=self._history_size,
                audit=AUDIT_PER_ROOM,
                held_client_ids=HELD_CLIENT_IDS_PER_ROOM,
            )
            kept = tables.load(db, history_size=self._history_size)
        except (sqlite3.Error, ValueError):
            db.close()
            raise
        self._rooms = {room: self._restore(k) for room, k in kept.items()}
        self._last_active = {room: k.last_active_ms for room, k in kept.items()}
        self._journal = Journal(db)
        self._journal.start()
        self._forget_idle()

    def _restore(self, kept: tables.KeptRoom) -> _Room:
        room_log = RoomLog.restored(
            kept.epoch, kept.last_offset, kept.entries, max_entries=self._history_size
        )
        r = _Room(
            room_log, state=kept.state, facilitators=kept.facilitators, delivered=room_log.offset
        )
        r.held = {entry["id"]: entry for entry in kept.held}
        for entry in kept.held_client_ids[-HELD_CLIENT_IDS_PER_ROOM:]:
            r.held_client_ids[(entry["user"]["id"], entry["client_id"])] = entry
        r.alerts = {alert.get("id", ""): alert for alert in kept.alerts}
        r.audit.extendleft(kept.audit)  # newest first, as audit_add keeps them
        r.hands = {user["id"]: user for user in kept.hands}
        return r

    def _forget_idle(self) -> None:
        """Forget the rooms nobody has written in for HUDDLE_RETENTION_S (as Redis lets
        them expire): their history, state, held messages, alerts and audit leave memory
        and the file. A room with anyone in it, or a live listener, is kept."""
        cutoff = int(time.time() * 1000) - self._retention_ms
        for room, r in list(self._rooms.items()):
            if self._last_active.get(room, 0) > cutoff or r.listeners or r.presence.members():
                continue
            del self._rooms[room]
            self._last_active.pop(room, None)
            self._audit_writes.pop(room, None)
            for statement in tables.FORGET:
                self.journal.write(statement, (room,))
            log.info("forgot room %s: nothing written in it for HUDDLE_RETENTION_S", room)
        loop = asyncio.get_running_loop()
        self._forget_timer = loop.call_later(FORGET_EVERY_S, self._forget_idle)

    async def close(self) -> None:
        if self._forget_timer is not None:
            self._forget_timer.cancel()
            self._forget_timer = None
        if self._journal is not None:
            await self._journal.close()
            self._journal = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the claim
            self._lock_file = None
        await super().close()

    async def ready(self) -> bool:
        return self._journal is not None and not self._journal.failed

    def _room(self, room: str) -> _Room:
        r = self._rooms.get(room)
        if r is None:
            r = super()._room(room)
            self.journal.write(tables.ROOM_NEW, (room, r.log.epoch))
            self._last_active[room] = int(time.time() * 1000)
        return r

    # -- the log -----------------------------------------------------------------------

    async def append(
        self, room: str, entry: Entry, *, guard: PostGuard | None, now_ms: int
    ) -> AppendResult:
        journal = self.journal
        journal.check()
        r = self._room(room)
        result = self._apply_append(r, entry, guard, now_ms)
        self._last_active[room] = now_ms
        if result.duplicate:
            # The first copy may still be on its way to the file: answer once it is there.
            await journal.durable()
            return result
        stored = result.entry
        offset = stored["offset"]
        journal.write(tables.ENTRY_PUT, (room, offset, tables.encode(stored)))
        if "kind" in stored:
            journal.write(tables.ROOM_STATE, (tables.encode_state(r.state), room))
            if stored["kind"] == "deleted":
                # A deleted message's words leave the file (and any backup taken later),
                # not only the history members are shown.
                for shown in r.log.showing(stored.get("id", "")):
                    body = tables.encode(without_words(shown))
                    journal.write(tables.ENTRY_PUT, (room, shown["offset"], body))
            if stored["kind"] == "deleted":
                erased = r.log.stored_message(stored.get("id", ""))
                if erased is not None:
                    journal.write(tables.ENTRY_PUT, (room, erased["offset"], tables.encode(erased)))
            elif stored["kind"] == "cleared":
                journal.write(tables.ENTRIES_TRIM, (room, offset - 1))
        if offset % TRIM_EVERY == 0:
            journal.write(tables.ENTRIES_TRIM, (room, offset - self._history_size))
        # Delivered (to everyone, in offset order) and acknowledged once committed.
        await journal.after(lambda: self._deliver_logged(r, stored))
        return result

    async def enter(self, room: str, query: JoinQuery) -> JoinView:
        r = self._room(room)
        new_facilitator = query.user["role"] == FACILITATOR and query.user["id"] not in (
            r.facilitators
        )
        view = await super().enter(room, query)
        if new_facilitator and view.admitted:
            self.journal.write(tables.FACILITATOR_PUT, (room, query.user["id"]))
        return view

    # -- hands -------------------------------------------------------------------------

    async def hands_set(self, room: str, user: User, raised: bool, now_ms: int) -> list[User]:
        hands = await super().hands_set(room, user, raised, now_ms)
        self._write_hands(room, hands)
        return hands

    async def hands_clear(self, room: str) -> None:
        await super().hands_clear(room)
        self._write_hands(room, [])

    def _write_hands(self, room: str, hands: Iterable[User]) -> None:
        journal = self.journal
        journal.write(tables.HANDS_CLEAR, (room,))
        for position, user in enumerate(hands):
            journal.write(tables.HAND_PUT, (room, position, tables.encode(user)))

    # -- what facilitators review ------------------------------------------------------

    async def hold_put(self, room: str, entry: HeldEntry) -> None:
        journal = self.journal
        journal.check()
        r = self._room(room)
        before = set(r.held)
        await super().hold_put(room, entry)
        self._last_active[room] = max(self._last_active.get(room, 0), entry["ts"])
        journal.write(tables.HELD_PUT, (room, entry["id"], tables.encode(entry)))
        for dropped in before - set(r.held):
            journal.write(tables.HELD_DELETE, (room, dropped))
        if entry["client_id"]:
            journal.write(tables.HELD_CLIENT_ID_PUT, (room, tables.encode(entry)))
            if len(r.held_client_ids) % TRIM_EVERY == 0:
                journal.write(tables.HELD_CLIENT_IDS_TRIM, (room, HELD_CLIENT_IDS_PER_ROOM))
        await journal.durable()

    async def hold_take(self, room: str, msg_id: str) -> HeldEntry | None:
        self.journal.check()
        taken = await super().hold_take(room, msg_id)
        if taken is not None:
            self.journal.write(tables.HELD_DELETE, (room, msg_id))
            await self.journal.durable()
        return taken

    async def alert_put(self, room: str, alert: Alert) -> None:
        journal = self.journal
        journal.check()
        r = self._room(room)
        before = set(r.alerts)
        await super().alert_put(room, alert)
        self._last_active[room] = max(self._last_active.get(room, 0), alert.get("ts", 0))
        alert_id = alert.get("id", "")
        journal.write(tables.ALERT_PUT, (room, alert_id, tables.encode(alert)))
        for dropped in before - set(r.alerts):
            journal.write(tables.ALERT_DELETE, (room, dropped))
        await journal.durable()

    async def alert_take(self, room: str, alert_id: str) -> Alert | None:
        self.journal.check()
        taken = await super().alert_take(room, alert_id)
        if taken is not None:
            self.journal.write(tables.ALERT_DELETE, (room, alert_id))
            await self.journal.durable()
        return taken

    async def audit_add(self, room: str, record: AuditRecord) -> None:
        await super().audit_add(room, record)
        journal = self.journal
        journal.write(tables.AUDIT_PUT, (room, tables.encode(record)))
        written = self._audit_writes.get(room, 0) + 1
        self._audit_writes[room] = written
        if written % TRIM_EVERY == 0:
            journal.write(tables.AUDIT_TRIM, (room, AUDIT_PER_ROOM))


def _claim(path: Path) -> IO[bytes]:
    """One process per file: each keeps the rooms in memory and would overwrite the
    other's rows. The claim is a lock the kernel drops when the process dies (a kill -9
    leaves nothing to clean up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = open(path.with_name(path.name + ".lock"), "wb")  # noqa: SIM115 (held open)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise RuntimeError(
            f"{path} is in use by another huddle process: one embedded server per "
            "HUDDLE_DATA_DIR (stop the other one, or give this one its own directory)"
        ) from None
    return lock_file
