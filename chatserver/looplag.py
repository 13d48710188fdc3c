"""How late the event loop runs: the worker's own measure of overload.

A timer asks to wake every ``interval_s``; how much later than asked it actually wakes is
the lag every request on this worker is suffering. Under overload the service refuses new
messages (``unavailable``, retry shortly) instead of letting every queue grow until nothing
is delivered in time for anyone.
"""

from __future__ import annotations

import asyncio
import contextlib


class LoopLag:
    def __init__(
        self,
        interval_s: float = 0.05,
        decay: float = 0.5,
        overload_s: float = 0.25,
        sustained_samples: int = 3,
    ) -> None:
        self.interval_s = interval_s
        self.decay = decay
        self.overload_s = overload_s
        self.sustained_samples = sustained_samples
        self.lag_s = 0.0
        """Recent lag, smoothed; falls back as soon as the loop keeps up again."""
        self.late_streak = 0
        """Consecutive samples later than ``overload_s``."""
        self._task: asyncio.Task[None] | None = None

    @property
    def overloaded(self) -> bool:
        """Lagging for several samples in a row: real overload, not one stall (a GC pass,
        the process descheduled for a moment) that would refuse messages for nothing."""
        return self.late_streak >= self.sustained_samples

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval_s)
            late = max(0.0, loop.time() - asked - self.interval_s)
            self.lag_s = max(late, self.lag_s * self.decay)
            self.late_streak = self.late_streak + 1 if late > self.overload_s else 0
