"""A token bucket per key (a client address, an API key): organiser actions, sign-in
attempts, invitation openings and API calls are each limited per worker."""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_KEYS = 10_000


class Limiter:
    def __init__(
        self, burst: int, refill_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._refill_s = refill_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def retry_after(self, key: str) -> float | None:
        """Take one token for ``key``: None if allowed, else seconds until one is back."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - at) / self._refill_s)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) * self._refill_s
        if len(self._buckets) >= MAX_KEYS and key not in self._buckets:
            # Full buckets are forgotten first: they say nothing a fresh one would not.
            full = [
                k
                for k, (t, a) in self._buckets.items()
                if t + (now - a) / self._refill_s >= self._burst
            ]
            for stale in full or list(self._buckets)[: MAX_KEYS // 10]:
                del self._buckets[stale]
        self._buckets[key] = (tokens - 1, now)
        return None
