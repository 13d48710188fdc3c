"""The group space in a SQLite file (the embedded default): WAL, one connection used by
one thread at a time, each call its own transaction. The group space is written a few
times a session (a goal, a kept win, a shelf entry), never per message, so a call simply
runs in a worker thread and the event loop never waits on the disk."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from chatserver.space.records import (
    GOALS_PER_MEMBER,
    RESOURCES_PER_ROOM,
    WINS_PER_ROOM,
    Goal,
    KeptWin,
    MemberData,
    NextSession,
    Resource,
)
from chatserver.sqlite_file import SqliteFile

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS goals (
    room TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, set_ms INTEGER NOT NULL,
    shared INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (room, id));
CREATE INDEX IF NOT EXISTS goals_by_member ON goals (room, user_id, set_ms);
CREATE TABLE IF NOT EXISTS wins (
    room TEXT NOT NULL, id TEXT NOT NULL, msg_id TEXT NOT NULL, user_id TEXT NOT NULL,
    kept_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (room, id),
    UNIQUE (room, msg_id));
CREATE TABLE IF NOT EXISTS resources (
    room TEXT NOT NULL, id TEXT NOT NULL, created_ms INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (room, id));
CREATE TABLE IF NOT EXISTS next_session (room TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


class SqliteSpace:
    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self._file = SqliteFile(path, SCHEMA, durable=durable)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._file.run(work)

    # -- goals -------------------------------------------------------------------------

    async def goal_add(self, goal: Goal) -> None:
        def work(db: sqlite3.Connection) -> None:
            _put_goal(db, goal)
            db.execute(
                "DELETE FROM goals WHERE room = ? AND user_id = ? AND id NOT IN ("
                " SELECT id FROM goals WHERE room = ? AND user_id = ?"
                " ORDER BY set_ms DESC, id DESC LIMIT ?)",
                (goal["room"], goal["user_id"], goal["room"], goal["user_id"], GOALS_PER_MEMBER),
            )

        await self._run(work)

    async def goal_get(self, room: str, goal_id: str) -> Goal | None:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM goals WHERE room = ? AND id = ?", (room, goal_id)
            ).fetchall()
        )
        found: Goal | None = _first(rows)
        return found

    async def goal_update(self, goal: Goal) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE goals SET shared = ?, body = ? WHERE room = ? AND id = ?",
                (int(goal["shared"]), _dump(goal), goal["room"], goal["id"]),
            )

        await self._run(work)

    async def goals_of(self, room: str, user_id: str) -> list[Goal]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM goals WHERE room = ? AND user_id = ?"
                " ORDER BY set_ms DESC, id DESC",
                (room, user_id),
            ).fetchall()
        )
        return [_load(r[0]) for r in rows]

    async def goals_shared(self, room: str) -> list[Goal]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM goals WHERE room = ? AND shared = 1"
                " ORDER BY set_ms DESC, id DESC",
                (room,),
            ).fetchall()
        )
        return [_load(r[0]) for r in rows]

    # -- wins --------------------------------------------------------------------------

    async def win_add(self, win: KeptWin) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO wins (room, id, msg_id, user_id, kept_ms, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (win["room"], win["id"], win["msg_id"], win["user_id"], win["kept_ms"], _dump(win)),
            )
            db.execute(
                "DELETE FROM wins WHERE room = ? AND id NOT IN ("
                " SELECT id FROM wins WHERE room = ? ORDER BY kept_ms DESC, id DESC LIMIT ?)",
                (win["room"], win["room"], WINS_PER_ROOM),
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def win_get(self, room: str, win_id: str) -> KeptWin | None:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM wins WHERE room = ? AND id = ?", (room, win_id)
            ).fetchall()
        )
        found: KeptWin | None = _first(rows)
        return found

    async def win_remove(self, room: str, win_id: str) -> bool:
        return await self._run(
            lambda db: (
                db.execute("DELETE FROM wins WHERE room = ? AND id = ?", (room, win_id)).rowcount
                == 1
            )
        )

    async def wins(self, room: str) -> list[KeptWin]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM wins WHERE room = ? ORDER BY kept_ms DESC, id DESC", (room,)
            ).fetchall()
        )
        return [_load(r[0]) for r in rows]

    # -- resources ---------------------------------------------------------------------

    async def resource_put(self, resource: Resource) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO resources (room, id, created_ms, body) VALUES (?, ?, ?, ?)",
                (resource["room"], resource["id"], resource["created_ms"], _dump(resource)),
            )
            db.execute(
                "DELETE FROM resources WHERE room = ? AND id NOT IN ("
                " SELECT id FROM resources WHERE room = ?"
                " ORDER BY created_ms DESC, id DESC LIMIT ?)",
                (resource["room"], resource["room"], RESOURCES_PER_ROOM),
            )

        await self._run(work)

    async def resource_get(self, room: str, resource_id: str) -> Resource | None:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM resources WHERE room = ? AND id = ?", (room, resource_id)
            ).fetchall()
        )
        found: Resource | None = _first(rows)
        return found

    async def resource_remove(self, room: str, resource_id: str) -> bool:
        return await self._run(
            lambda db: (
                db.execute(
                    "DELETE FROM resources WHERE room = ? AND id = ?", (room, resource_id)
                ).rowcount
                == 1
            )
        )

    async def resources(self, room: str) -> list[Resource]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM resources WHERE room = ? ORDER BY created_ms, id", (room,)
            ).fetchall()
        )
        return [_load(r[0]) for r in rows]

    # -- the next session --------------------------------------------------------------

    async def next_session_set(self, session: NextSession | None, room: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            if session is None:
                db.execute("DELETE FROM next_session WHERE room = ?", (room,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO next_session (room, body) VALUES (?, ?)",
                    (room, _dump(session)),
                )

        await self._run(work)

    async def next_session(self, room: str) -> NextSession | None:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT body FROM next_session WHERE room = ?", (room,)
            ).fetchall()
        )
        found: NextSession | None = _first(rows)
        return found

    # -- a member's own data, and the room's -------------------------------------------

    async def member_data(self, room: str, user_id: str) -> MemberData:
        def work(db: sqlite3.Connection) -> MemberData:
            goals = db.execute(
                "SELECT body FROM goals WHERE room = ? AND user_id = ?"
                " ORDER BY set_ms DESC, id DESC",
                (room, user_id),
            ).fetchall()
            wins = db.execute(
                "SELECT body FROM wins WHERE room = ? AND user_id = ?"
                " ORDER BY kept_ms DESC, id DESC",
                (room, user_id),
            ).fetchall()
            return {"goals": [_load(r[0]) for r in goals], "wins": [_load(r[0]) for r in wins]}

        return await self._run(work)

    async def member_erase(self, room: str, user_id: str) -> int:
        def work(db: sqlite3.Connection) -> int:
            goals = db.execute(
                "DELETE FROM goals WHERE room = ? AND user_id = ?", (room, user_id)
            ).rowcount
            wins = db.execute(
                "DELETE FROM wins WHERE room = ? AND user_id = ?", (room, user_id)
            ).rowcount
            return int(goals) + int(wins)

        return await self._run(work)

    async def purge(self, room: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            for table in ("goals", "wins", "resources", "next_session"):
                db.execute(f"DELETE FROM {table} WHERE room = ?", (room,))

        await self._run(work)

    async def close(self) -> None:
        self._file.close()


def _put_goal(db: sqlite3.Connection, goal: Goal) -> None:
    db.execute(
        "INSERT OR REPLACE INTO goals (room, id, user_id, set_ms, shared, body)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            goal["room"],
            goal["id"],
            goal["user_id"],
            goal["set_ms"],
            int(goal["shared"]),
            _dump(goal),
        ),
    )


def _dump(record: object) -> str:
    # ASCII JSON: any text a member typed is stored exactly, whatever SQLite's encoding.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _load(body: str) -> Any:
    return json.loads(body)


def _first(rows: list[Any]) -> Any:
    return _load(rows[0][0]) if rows else None
