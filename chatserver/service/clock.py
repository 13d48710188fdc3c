"""The service's wall clock (ms since the epoch), one for every flow.

Shared as one object so that moving time (a test of token expiry) moves it for every
flow at once.
"""

from __future__ import annotations

from collections.abc import Callable

from chatserver.clock import now_ms


class ServiceClock:
    def __init__(self, read: Callable[[], int] = now_ms) -> None:
        self.read = read

    def __call__(self) -> int:
        return self.read()
