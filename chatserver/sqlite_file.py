"""A small SQLite file that a store reads and writes off the event loop, one transaction
at a time (the group space's and the organiser's stores; the rooms' store has its own
group-committing journal: chatserver/sqlite_backend/journal.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SqliteFile:
    def __init__(self, path: str | Path, schema: str, *, durable: bool = True) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: what a person was told is saved survives a power cut, not just a crash.
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self._db.executescript(schema)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one transaction, on a worker thread: all of it, or none of it."""

        def locked() -> T:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result

        return await asyncio.to_thread(locked)

    def close(self) -> None:
        with self._lock:
            self._db.close()
