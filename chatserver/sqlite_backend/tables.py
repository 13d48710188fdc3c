"""The room store's file: its tables, the statements that change them, and reading it back.

Every row keeps what the memory backend holds as one JSON ``body`` (an entry, a held
message, an alert, an audit record, a person), so a new event kind or field (a session's
check-in, a new alert kind) is stored without a schema change: the log stores any entry.
Keys are only what a statement must find a row by.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from chatserver.backend import Alert, AuditRecord, User
from rooms.entries import Entry, HeldEntry, MessageEntry
from rooms.meeting import new_meeting
from rooms.state import RoomState

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    room TEXT PRIMARY KEY, epoch TEXT NOT NULL, last_offset INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS entries (
    room TEXT NOT NULL, offset INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (room, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS held (
    room TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (room, id));
CREATE TABLE IF NOT EXISTS held_client_ids (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS held_client_ids_by_room ON held_client_ids (room, seq);
CREATE TABLE IF NOT EXISTS alerts (
    room TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (room, id));
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_room ON audit (room, seq);
CREATE TABLE IF NOT EXISTS facilitators (
    room TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (room, user_id));
CREATE TABLE IF NOT EXISTS hands (
    room TEXT NOT NULL, position INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (room, position));
"""

# -- statements the backend queues (chatserver/sqlite_backend/journal.py) ------------------

ROOM_NEW = "INSERT OR IGNORE INTO rooms (room, epoch) VALUES (?, ?)"
ROOM_STATE = "UPDATE rooms SET state = ? WHERE room = ?"
ENTRY_PUT = "INSERT OR REPLACE INTO entries (room, offset, body) VALUES (?, ?, ?)"
ENTRIES_TRIM = "DELETE FROM entries WHERE room = ? AND offset <= ?"
HELD_PUT = "INSERT OR REPLACE INTO held (room, id, body) VALUES (?, ?, ?)"
HELD_DELETE = "DELETE FROM held WHERE room = ? AND id = ?"
HELD_CLIENT_ID_PUT = "INSERT INTO held_client_ids (room, body) VALUES (?, ?)"
HELD_CLIENT_IDS_TRIM = (
    "DELETE FROM held_client_ids WHERE room = ?1 AND seq <= ("
    " SELECT seq FROM held_client_ids WHERE room = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)"
)
ALERT_PUT = "INSERT OR REPLACE INTO alerts (room, id, body) VALUES (?, ?, ?)"
ALERT_DELETE = "DELETE FROM alerts WHERE room = ? AND id = ?"
AUDIT_PUT = "INSERT INTO audit (room, body) VALUES (?, ?)"
AUDIT_TRIM = (
    "DELETE FROM audit WHERE room = ?1 AND seq <= ("
    " SELECT seq FROM audit WHERE room = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)"
)
FACILITATOR_PUT = "INSERT OR IGNORE INTO facilitators (room, user_id) VALUES (?, ?)"
HANDS_CLEAR = "DELETE FROM hands WHERE room = ?"
HAND_PUT = "INSERT INTO hands (room, position, body) VALUES (?, ?, ?)"


ROOM_TABLES = (
    "rooms",
    "entries",
    "held",
    "held_client_ids",
    "alerts",
    "audit",
    "facilitators",
    "hands",
)
"""Every table with a room's rows: forgetting a room deletes from each."""
FORGET = tuple(f"DELETE FROM {table} WHERE room = ?" for table in ROOM_TABLES)


def encode(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_state(state: RoomState) -> str:
    """What outlives a restart of the room state. Slow mode's per-member last post is
    left out: after a restart everyone may post once at once."""
    return encode(
        {
            "locked": state.locked,
            "paused": state.paused,
            "slow_mode_s": state.slow_mode_s,
            "floor": state.floor,
            "mutes": state.mutes,
            "pins": state.pins,
            "removed": sorted(state.removed),
            # The meeting (rooms/meeting.py): a session, its round and timers go on
            # after a restart, and so do this session's agreements and reactions.
            "meeting": state.meeting,
            "meeting_at": state.meeting_at,
            "agreed": state.agreed,
            "reactions": state.reactions,
            "checkins": sorted(state.checkins),
            "no_reactions": sorted(state.no_reactions),
        }
    )


def decode_state(text: str) -> RoomState:
    raw: dict[str, Any] = json.loads(text)
    return RoomState(
        locked=bool(raw.get("locked", False)),
        paused=bool(raw.get("paused", False)),
        slow_mode_s=int(raw.get("slow_mode_s", 0)),
        floor=raw.get("floor"),
        mutes=dict(raw.get("mutes", {})),
        pins=cast(dict[str, MessageEntry], dict(raw.get("pins", {}))),
        removed=set(raw.get("removed", [])),
        meeting=raw["meeting"] if "meeting" in raw else new_meeting(),
        meeting_at=int(raw.get("meeting_at", 0)),
        agreed=dict(raw.get("agreed", {})),
        reactions=dict(raw.get("reactions", {})),
        checkins=set(raw.get("checkins", [])),
        no_reactions=set(raw.get("no_reactions", [])),
    )


def open_file(path: Path, *, synchronous: str) -> sqlite3.Connection:
    """Open (creating it and its directory on first run) the store's file in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(SCHEMA)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    elif version != SCHEMA_VERSION:
        db.close()
        raise RuntimeError(
            f"{path} has schema version {version}; this huddle reads version {SCHEMA_VERSION}"
        )
    return db


@dataclass(slots=True)
class KeptRoom:
    """One room as the file has it."""

    epoch: str
    last_offset: int
    state: RoomState
    entries: list[Entry] = field(default_factory=list)
    held: list[HeldEntry] = field(default_factory=list)
    held_client_ids: list[HeldEntry] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    """Oldest first."""
    facilitators: set[str] = field(default_factory=set)
    hands: list[User] = field(default_factory=list)

    @property
    def last_active_ms(self) -> int:
        """When something was last written, held or raised in the room (0: never)."""
        times = [e["ts"] for e in self.entries[-1:]]
        times += [h["ts"] for h in self.held] + [a.get("ts", 0) for a in self.alerts]
        return max(times, default=0)


def trim(db: sqlite3.Connection, *, history_size: int, audit: int, held_client_ids: int) -> None:
    """Keep only what the backend keeps, exactly (writes trim only now and then)."""
    rooms = [room for (room,) in db.execute("SELECT room FROM rooms")]
    with db:
        db.execute("BEGIN")
        for room in rooms:
            last = db.execute("SELECT MAX(offset) FROM entries WHERE room = ?", (room,)).fetchone()[
                0
            ]
            if last is not None:
                db.execute(ENTRIES_TRIM, (room, last - history_size))
            db.execute(AUDIT_TRIM, (room, audit))
            db.execute(HELD_CLIENT_IDS_TRIM, (room, held_client_ids))


def load(db: sqlite3.Connection, *, history_size: int) -> dict[str, KeptRoom]:
    """Every room in the file, read once at start-up (before the writer thread runs)."""
    rooms: dict[str, KeptRoom] = {}
    for room, epoch, last_offset, state in db.execute(
        "SELECT room, epoch, last_offset, state FROM rooms"
    ):
        rooms[room] = KeptRoom(epoch, last_offset, decode_state(state))
    # Only the newest history_size entries per room: the file may hold more when the
    # setting was lowered, or when the last trim was not yet due.
    for room, body in db.execute(
        "SELECT room, body FROM ("
        " SELECT room, offset, body,"
        " ROW_NUMBER() OVER (PARTITION BY room ORDER BY offset DESC) AS newest"
        " FROM entries) WHERE newest <= ? ORDER BY room, offset",
        (history_size,),
    ):
        if room in rooms:
            rooms[room].entries.append(json.loads(body))
    for room, body in db.execute("SELECT room, body FROM held ORDER BY rowid"):
        if room in rooms:
            rooms[room].held.append(json.loads(body))
    for room, body in db.execute("SELECT room, body FROM held_client_ids ORDER BY seq"):
        if room in rooms:
            rooms[room].held_client_ids.append(json.loads(body))
    for room, body in db.execute("SELECT room, body FROM alerts ORDER BY rowid"):
        if room in rooms:
            rooms[room].alerts.append(json.loads(body))
    for room, body in db.execute("SELECT room, body FROM audit ORDER BY seq"):
        if room in rooms:
            rooms[room].audit.append(json.loads(body))
    for room, user_id in db.execute("SELECT room, user_id FROM facilitators"):
        if room in rooms:
            rooms[room].facilitators.add(user_id)
    for room, body in db.execute("SELECT room, body FROM hands ORDER BY room, position"):
        if room in rooms:
            rooms[room].hands.append(json.loads(body))
    return rooms
