"""Time limits for the hot path's awaits, all kept by one timer per event loop.

``asyncio.timeout`` arms a timer of its own for every use and disarms it on the way
out: on uvloop that is a libuv timer started and stopped per request and per Redis
command, twice for every chat message, and a visible share of a busy worker's CPU
(docs/benchmarks.md, "Fan-out at Node's cost"). Nearly every limit here is the same
few seconds and nearly every await ends long before it, so ``Deadlines`` keeps the
scopes in flight in a dict and one timer set for the earliest deadline among them;
a scope that ends only leaves the dict. When the timer fires, the scopes past their
deadline are cancelled exactly as ``asyncio.timeout`` does (the task is cancelled, and
the cancellation comes out of the scope as ``TimeoutError``), and the timer is set for
the next earliest deadline.
"""

from __future__ import annotations

import asyncio
import math
import threading
from types import TracebackType


class Deadlines:
    """``async with deadlines.within(seconds):`` is ``async with asyncio.timeout(seconds):``
    at a fraction of its cost. One instance serves one event loop at a time, in one thread
    (a new loop, as in tests, starts it afresh)."""

    __slots__ = ("_loop", "_scopes", "_thread", "_timer", "_timer_at")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        """The thread ``_loop`` runs in."""
        self._scopes: dict[Scope, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def within(self, seconds: float) -> Scope:
        return Scope(self, seconds)

    def _enter(self, scope: Scope, seconds: float, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            self._loop = loop
            self._thread = threading.get_ident()
            self._scopes = {}
            self._timer = None
            self._timer_at = math.inf
        deadline = loop.time() + seconds
        self._scopes[scope] = deadline
        if deadline < self._timer_at:
            self._arm(loop, deadline)

    def _leave(self, scope: Scope) -> None:
        self._scopes.pop(scope, None)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_at(when, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._timer_at = math.inf
        if loop is not self._loop:
            return
        now = loop.time()
        earliest = math.inf
        expired = []
        for scope, deadline in self._scopes.items():
            if deadline <= now:
                expired.append(scope)
            elif deadline < earliest:
                earliest = deadline
        for scope in expired:
            del self._scopes[scope]
            scope._expire()
        if earliest < math.inf:
            self._arm(loop, earliest)


class Scope:
    """One ``within(seconds)``: an async context manager, used once."""

    __slots__ = ("_cancelling", "_deadlines", "_seconds", "_task", "expired")

    def __init__(self, deadlines: Deadlines, seconds: float) -> None:
        self._deadlines = deadlines
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False
        """Whether the limit was reached (and the scope's task cancelled for it)."""

    async def __aenter__(self) -> Scope:
        # The task of the loop these deadlines last served, without asking which loop is
        # running (on Python 3.11 that is a system call, getpid, twice per scope): in its
        # thread, none is current there unless it is the running loop. Else (a new loop,
        # or another thread's) ask.
        deadlines = self._deadlines
        loop = deadlines._loop
        task = (
            asyncio.current_task(loop)
            if loop is not None and deadlines._thread == threading.get_ident()
            else None
        )
        if task is None:
            task = asyncio.current_task()
            if task is None:
                raise RuntimeError("Deadlines.within() should be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        deadlines._enter(self, self._seconds, task.get_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self._deadlines._leave(self)
        if not self.expired:
            return
        assert self._task is not None
        # As asyncio.timeout: our cancellation, and no one else's, becomes TimeoutError.
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc_val

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self.expired = True
            self._task.cancel()
