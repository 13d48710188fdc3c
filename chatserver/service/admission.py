"""How many joins a worker works on at once, and which wait: recovery first.

In a reconnect storm (a worker died; its members all come back to the others at once)
thousands of joins arrived together and each went straight to Redis: they queued on one
connection, the last ones waited longer than a command's bound and were refused with
`unavailable`, and were sent back to try again into the same crowd (docs/benchmarks.md,
"Reconnect storm"). Here at most `limit` joins are in flight; the others wait their turn
here, where waiting costs nothing and has no deadline but the member's patience
(`RECOVERY_WAIT_S`). A member coming back with ``since`` (recovery: they were in the room
a moment ago) is let in before a first join, and while the queue is long a first join is
refused at once with `retry_after_s` — new work is shed before recovery is.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from chatserver import errors
from chatserver.errors import ServiceError

JOINS_IN_FLIGHT = 128
"""Enough to keep Redis busy with joins (each one script, ~0.1 ms of Redis: 128 queue
~13 ms on its connection) while the worker's loop turns are long: a join holds its place
from admission to its ack, two or three loop turns, and in a storm a turn takes tens of
milliseconds, so 32 places let fewer joins through than Redis and the worker could serve
(docs/benchmarks.md, "Ninth session")."""
FIRST_JOINS_QUEUED = 200
"""More joins than this waiting: a first join is refused (recovery is not)."""
RECOVERY_WAIT_S = 6.0
"""A join waiting longer than this is refused after all (the client retries): inside the
join's own bound (transport JOIN_TIMEOUT_S, 8 s, under the web client's 10 s), leaving
time for the join itself, so the refusal says why."""
RETRY_AFTER_S = 2.0


class JoinAdmission:
    def __init__(
        self,
        limit: int = JOINS_IN_FLIGHT,
        *,
        first_joins_queued: int = FIRST_JOINS_QUEUED,
        wait_s: float = RECOVERY_WAIT_S,
    ) -> None:
        self._limit = limit
        self._first_joins_queued = first_joins_queued
        self._wait_s = wait_s
        self._in_flight = 0
        # Each waiting join's turn and the loop time it gives up at. Both queues are in
        # arrival order, so their heads give up first: one timer for the earliest of the
        # two (not a timer per waiting join: in a storm thousands wait at once).
        self._recovering: collections.deque[_Waiter] = collections.deque()
        self._first: collections.deque[_Waiter] = collections.deque()
        self._expiry: asyncio.TimerHandle | None = None
        self.shed = 0
        """First joins refused because the queue was long (for metrics and tests)."""

    @property
    def waiting(self) -> int:
        return len(self._recovering) + len(self._first)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.asynccontextmanager
    async def admitted(self, *, recovering: bool) -> AsyncIterator[None]:
        """Hold one of the places for the length of the block."""
        await self._enter(recovering)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, recovering: bool) -> None:
        if self._in_flight < self._limit and not self.waiting:
            self._in_flight += 1
            return
        if not recovering and self.waiting >= self._first_joins_queued:
            self.shed += 1
            raise _too_many()
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        queue = self._recovering if recovering else self._first
        queue.append((turn, loop.time() + self._wait_s))
        if self._expiry is None:
            self._expiry = loop.call_at(queue[0][1], self._expire)
        try:
            await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                # The place was handed over just as this join gave up: pass it on.
                self._leave()
            else:
                turn.cancel()
                for waiter in queue:  # still in line unless its time ran out
                    if waiter[0] is turn:
                        queue.remove(waiter)
                        break
            if isinstance(exc, TimeoutError):
                raise _too_many() from None
            raise

    def _expire(self) -> None:
        """Refuse every waiting join whose time is up; then wait for the next one's."""
        self._expiry = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for queue in (self._recovering, self._first):
            while queue and queue[0][1] <= now:
                turn, _ = queue.popleft()
                if not turn.done():
                    turn.set_exception(TimeoutError())
        heads = [queue[0][1] for queue in (self._recovering, self._first) if queue]
        if heads:
            self._expiry = loop.call_at(min(heads), self._expire)

    def _leave(self) -> None:
        # The place goes straight to the next in line (recovery first), so no join can
        # slip in ahead of those waiting.
        for queue in (self._recovering, self._first):
            while queue:
                turn, _ = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._in_flight -= 1
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


_Waiter = tuple[asyncio.Future[None], float]
"""A waiting join's turn, and the loop time at which it gives up."""


def _too_many() -> ServiceError:
    return ServiceError(
        errors.UNAVAILABLE,
        "Many people are joining at once; please try again in a moment.",
        retry_after_s=RETRY_AFTER_S,
    )
