"""The organiser's records in a SQLite file (the embedded default), beside the group
space's file in HUDDLE_DATA_DIR but its own (``organise.sqlite3``). Written only when an
organiser acts or someone opens an invitation, so each call runs in a worker thread in one
transaction (WAL, synchronous FULL: an invitation made survives a power cut)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from chatserver.organise.records import (
    AUDIT_KEPT,
    FORGOTTEN,
    AuditEntry,
    Group,
    Invitation,
    Member,
    Redemption,
    Revocation,
    invitation_state,
)
from chatserver.sqlite_file import SqliteFile

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (room TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS invitations (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, code_hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS invitations_by_room ON invitations (room, created_ms);
CREATE TABLE IF NOT EXISTS members (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, joined_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS members_by_room ON members (room, joined_ms);
CREATE TABLE IF NOT EXISTS revocations (
    member_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS revocations_by_ts ON revocations (ts);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, body TEXT NOT NULL);
"""


class SqliteOrganiserStore:
    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self._file = SqliteFile(path, SCHEMA, durable=durable)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._file.run(work)

    async def _bodies(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [json.loads(r[0]) for r in rows]

    async def _body(self, sql: str, args: tuple[Any, ...]) -> Any:
        found = await self._bodies(sql, args)
        return found[0] if found else None

    # -- credentials -------------------------------------------------------------------

    async def credential_get(self, name: str) -> str | None:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT value FROM credentials WHERE name = ?", (name,)
            ).fetchall()
        )
        return str(rows[0][0]) if rows else None

    async def credential_set(self, name: str, value: str | None) -> None:
        def work(db: sqlite3.Connection) -> None:
            if value is None:
                db.execute("DELETE FROM credentials WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO credentials (name, value) VALUES (?, ?)", (name, value)
                )

        await self._run(work)

    # -- groups ------------------------------------------------------------------------

    async def group_put(self, group: Group) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO groups (room, body) VALUES (?, ?)",
                (group["room"], _dump(group)),
            )
        )

    async def group_get(self, room: str) -> Group | None:
        found: Group | None = await self._body("SELECT body FROM groups WHERE room = ?", (room,))
        return found

    async def groups(self) -> list[Group]:
        found: list[Group] = await self._bodies("SELECT body FROM groups", ())
        return sorted(found, key=lambda g: (g["name"].casefold(), g["room"]))

    # -- invitations -------------------------------------------------------------------

    async def invitation_add(self, invitation: Invitation) -> None:
        await self._run(lambda db: _put_invitation(db, invitation))

    async def invitation_get(self, invitation_id: str) -> Invitation | None:
        found: Invitation | None = await self._body(
            "SELECT body FROM invitations WHERE id = ?", (invitation_id,)
        )
        return found

    async def invitation_by_code(self, code_hash: str) -> Invitation | None:
        found: Invitation | None = await self._body(
            "SELECT body FROM invitations WHERE code_hash = ?", (code_hash,)
        )
        return found

    async def invitations(self, room: str) -> list[Invitation]:
        found: list[Invitation] = await self._bodies(
            "SELECT body FROM invitations WHERE room = ? ORDER BY created_ms DESC, id DESC",
            (room,),
        )
        return found

    async def invitation_revoke(self, invitation_id: str, now_ms: int) -> Invitation | None:
        def work(db: sqlite3.Connection) -> Invitation | None:
            rows = db.execute(
                "SELECT body FROM invitations WHERE id = ?", (invitation_id,)
            ).fetchall()
            if not rows:
                return None
            invitation: Invitation = json.loads(rows[0][0])
            if invitation["revoked_ms"] is None:
                invitation["revoked_ms"] = now_ms
                _put_invitation(db, invitation)
            return invitation

        return await self._run(work)

    async def redeem(self, code_hash: str, member: Member, now_ms: int) -> Redemption:
        def work(db: sqlite3.Connection) -> Redemption:
            rows = db.execute(
                "SELECT body FROM invitations WHERE code_hash = ?", (code_hash,)
            ).fetchall()
            if not rows:
                return "unknown"
            invitation: Invitation = json.loads(rows[0][0])
            state = invitation_state(invitation, now_ms)
            if state != "ok":
                return state
            invitation["uses"] += 1
            _put_invitation(db, invitation)
            member["invitation_id"], member["room"], member["role"] = (
                invitation["id"],
                invitation["room"],
                invitation["role"],
            )
            _put_member(db, member)
            return "ok"

        return await self._run(work)

    # -- members -----------------------------------------------------------------------

    async def member_get(self, member_id: str) -> Member | None:
        found: Member | None = await self._body(
            "SELECT body FROM members WHERE id = ?", (member_id,)
        )
        return found

    async def members(self, room: str) -> list[Member]:
        found: list[Member] = await self._bodies(
            "SELECT body FROM members WHERE room = ? ORDER BY joined_ms, id", (room,)
        )
        return found

    async def member_seen(self, member_id: str, now_ms: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            rows = db.execute("SELECT body FROM members WHERE id = ?", (member_id,)).fetchall()
            if rows:
                member: Member = json.loads(rows[0][0])
                member["last_seen_ms"] = max(member["last_seen_ms"], now_ms)
                _put_member(db, member)

        await self._run(work)

    async def member_remove(self, member_id: str, now_ms: int) -> Member | None:
        def work(db: sqlite3.Connection) -> Member | None:
            rows = db.execute("SELECT body FROM members WHERE id = ?", (member_id,)).fetchall()
            if not rows:
                return None
            member: Member = json.loads(rows[0][0])
            if member["removed_ms"] is not None:
                return None
            member["removed_ms"] = now_ms
            _put_member(db, member)
            revocation: Revocation = {
                "member_id": member_id,
                "room": member["room"],
                "user_id": member["user_id"],
                "ts": now_ms,
            }
            db.execute(
                "INSERT OR REPLACE INTO revocations (member_id, ts, body) VALUES (?, ?, ?)",
                (member_id, now_ms, _dump(revocation)),
            )
            return member

        return await self._run(work)

    async def member_forget(self, member_id: str) -> Member | None:
        def work(db: sqlite3.Connection) -> Member | None:
            rows = db.execute("SELECT body FROM members WHERE id = ?", (member_id,)).fetchall()
            if not rows:
                return None
            member: Member = json.loads(rows[0][0])
            if member["removed_ms"] is None:
                return None
            member["name"] = FORGOTTEN
            _put_member(db, member)
            return member

        return await self._run(work)

    async def revocations_since(self, after_ms: int) -> list[Revocation]:
        found: list[Revocation] = await self._bodies(
            "SELECT body FROM revocations WHERE ts >= ? ORDER BY ts", (after_ms,)
        )
        return found

    # -- audit -------------------------------------------------------------------------

    async def audit_add(self, entry: AuditEntry) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO audit (room, body) VALUES (?, ?)", (entry["room"], _dump(entry))
            )
            db.execute(
                "DELETE FROM audit WHERE seq <= (SELECT MAX(seq) FROM audit) - ?", (AUDIT_KEPT,)
            )

        await self._run(work)

    async def audit(self, room: str | None, limit: int) -> list[AuditEntry]:
        if room is None:
            found: list[AuditEntry] = await self._bodies(
                "SELECT body FROM audit ORDER BY seq DESC LIMIT ?", (limit,)
            )
            return found
        found = await self._bodies(
            "SELECT body FROM audit WHERE room = ? ORDER BY seq DESC LIMIT ?", (room, limit)
        )
        return found

    async def close(self) -> None:
        self._file.close()


def _put_invitation(db: sqlite3.Connection, invitation: Invitation) -> None:
    db.execute(
        "INSERT OR REPLACE INTO invitations (id, room, code_hash, created_ms, body)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            invitation["id"],
            invitation["room"],
            invitation["code_hash"],
            invitation["created_ms"],
            _dump(invitation),
        ),
    )


def _put_member(db: sqlite3.Connection, member: Member) -> None:
    db.execute(
        "INSERT OR REPLACE INTO members (id, room, joined_ms, body) VALUES (?, ?, ?, ?)",
        (member["id"], member["room"], member["joined_ms"], _dump(member)),
    )


def _dump(record: object) -> str:
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))
