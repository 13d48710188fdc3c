"""Group commit: statements queued by the event loop, written by one thread in batches.

The loop never touches the disk. It queues statements (``write``) and, where someone is
told "done", a callback (``after``) that runs on the loop once everything queued before
it is committed. The writer thread takes whatever is queued, runs it as one transaction
and commits (with ``synchronous=FULL`` the commit is one fsync of the WAL), then hands
the callbacks back to the loop in order. While a batch commits the next one gathers, and
a batch waits ``COMMIT_WINDOW_S`` (2 ms) after its first statement for others, so a busy
server costs one commit per batch, not per message.

A failed commit (disk full, I/O error) stops the journal for good: the batch's callbacks
are not run, their futures fail with ``BackendUnavailable``, and every later call does
the same, until the process restarts and reloads the file (which has everything that
was acknowledged). Nothing is half-written: a transaction commits whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from chatserver.backend import BackendUnavailable

log = logging.getLogger(__name__)

# After the first statement of a batch the writer waits this long for more (a message
# waits at most this long, plus the commit, before it is delivered), unless FULL_BATCH
# statements are already queued.
COMMIT_WINDOW_S = 0.002
FULL_BATCH = 256

Params: TypeAlias = Sequence[object]
Callback: TypeAlias = Callable[[], None]


@dataclass(frozen=True, slots=True)
class _Waiter:
    """Someone waiting for everything queued before it to be committed."""

    future: asyncio.Future[None]
    callback: Callback | None


_Item: TypeAlias = tuple[str, Params] | _Waiter


class JournalFailed(BackendUnavailable):
    """The store could not write; it takes no more writes until restarted."""


class Journal:
    def __init__(self, db: sqlite3.Connection) -> None:
        """``db`` is handed over: from ``start`` on only the writer thread uses it."""
        self._db = db
        self._cond = threading.Condition()
        self._queued: list[_Item] = []
        self._closing = False
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        """Transactions committed (a figure for tests and benchmarks)."""
        self.statements = 0
        self.writer_cpu_s = 0.0
        """CPU time the writer thread spent committing (what the event loop did not)."""

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="huddle-sqlite", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise ``JournalFailed`` when a write has failed: refuse before changing anything."""
        if self._failure is not None:
            raise JournalFailed("the room store cannot write to its file")

    def write(self, sql: str, params: Params = ()) -> None:
        """Queue one statement; it is committed with the next batch, in order."""
        with self._cond:
            self._queued.append((sql, params))
            if len(self._queued) == 1:
                self._cond.notify()

    def after(self, callback: Callback | None = None) -> asyncio.Future[None]:
        """A future resolved once everything queued so far is committed; ``callback`` (a
        delivery) runs on the loop just before, in the order the callbacks were queued."""
        self.check()
        assert self._loop is not None, "the journal is not started"
        future = self._loop.create_future()
        with self._cond:
            self._queued.append(_Waiter(future, callback))
            if len(self._queued) == 1:
                self._cond.notify()
        return future

    async def durable(self) -> None:
        """Wait until everything queued so far is committed."""
        await self.after()

    async def close(self) -> None:
        """Commit what is queued, stop the thread and close the file."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._db.close()

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._closing:
                    self._cond.wait()
                if not self._closing and len(self._queued) < FULL_BATCH:
                    # Let a few more join this commit: each commit costs the same CPU and
                    # fsync however many it carries (bench/store_append_bench.py).
                    self._cond.wait(COMMIT_WINDOW_S)
                batch, self._queued = self._queued, []
                closing = self._closing
            if batch and self._failure is None:
                self._commit(batch)
            elif batch:
                self._hand_back(batch, self._failure)
            if closing and not batch:
                return

    def _commit(self, batch: list[_Item]) -> None:
        started = time.thread_time()
        try:
            self._commit_batch(batch)
        finally:
            self.writer_cpu_s += time.thread_time() - started

    def _commit_batch(self, batch: list[_Item]) -> None:
        db = self._db
        statements = 0
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for item in batch:
                    if isinstance(item, tuple):
                        db.execute(item[0], item[1])
                        statements += 1
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except Exception as exc:
            log.critical("the room store could not write its file; refusing writes: %s", exc)
            self._failure = exc
            self._hand_back(batch, exc)
            return
        self.batches += 1
        self.statements += statements
        self._hand_back(batch, None)

    def _hand_back(self, batch: list[_Item], failure: BaseException | None) -> None:
        waiters = [item for item in batch if isinstance(item, _Waiter)]
        if waiters and self._loop is not None:
            done = _resolve_all if failure is None else _fail_all
            self._loop.call_soon_threadsafe(done, waiters)


def _resolve_all(waiters: list[_Waiter]) -> None:
    """Deliveries first, in the order they were queued, then the waiting are told."""
    for waiter in waiters:
        if waiter.callback is not None:
            try:
                waiter.callback()
            except Exception:
                log.exception("a delivery after a commit failed")
        if not waiter.future.done():
            waiter.future.set_result(None)


def _fail_all(waiters: list[_Waiter]) -> None:
    """The batch was not written: nobody is told it was, nothing is delivered."""
    for waiter in waiters:
        if not waiter.future.done():
            waiter.future.set_exception(JournalFailed("the room store could not write its file"))
