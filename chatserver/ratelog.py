"""Log lines about what clients send, rate-limited and without tracebacks.

Anyone can make a worker log: a malformed packet, a refused connection, a flood of either.
A traceback per bad packet let one unauthenticated client write hundreds of megabytes of
log and stall the event loop formatting them. What a client sends is never a bug of ours,
so a line about it is one line (what was wrong, from whom), and each kind of line gets
through at most ``burst`` times per ``interval_s``; the next line that gets through says how
many were left out meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

BURST = 5
INTERVAL_S = 10.0


class RateLimitedLog:
    """``warning(kind, msg, *args)``: at most ``burst`` lines of each kind per interval."""

    __slots__ = ("_burst", "_clock", "_interval", "_logger", "_windows")

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = BURST,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._interval = interval_s
        self._clock = clock
        # kind -> [window start, lines logged in it, lines left out since the last one]
        self._windows: dict[str, list[float]] = {}

    def allow(self, kind: str) -> int | None:
        """None when a line of this kind is to be left out; else how many were left out
        before it."""
        now = self._clock()
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = [now, 0, 0]
        if now - window[0] >= self._interval:
            window[0], window[1] = now, 0
        if window[1] >= self._burst:
            window[2] += 1
            return None
        window[1] += 1
        left_out, window[2] = int(window[2]), 0
        return left_out

    def reset(self) -> None:
        """Start every kind afresh (tests that count lines)."""
        self._windows.clear()

    def log(self, level: int, kind: str, msg: str, *args: Any) -> None:
        if not self._logger.isEnabledFor(level):
            return
        left_out = self.allow(kind)
        if left_out is None:
            return
        if left_out:
            msg += " (and %d more like it left out of the log)"
            args = (*args, left_out)
        self._logger.log(level, msg, *args)

    def warning(self, kind: str, msg: str, *args: Any) -> None:
        self.log(logging.WARNING, kind, msg, *args)

    def info(self, kind: str, msg: str, *args: Any) -> None:
        self.log(logging.INFO, kind, msg, *args)


CLIENTS = RateLimitedLog(logging.getLogger("chatserver.clients"))
"""The log of what clients did wrong (bad packets, refused connections): one line each,
rate-limited, never a traceback."""


def describe(exc: BaseException) -> str:
    """An exception in one short line: its type and the start of its message."""
    if isinstance(exc, RecursionError):
        # The JSON decoder's, on input nested deeper than the interpreter's stack allows.
        return "nested too deep"
    text = str(exc).replace("\n", " ")
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ClientInputFilter(logging.Filter):
    """For the loggers of the libraries that read client input (engineio, python-socketio,
    aiohttp's request handler): every record becomes one line, its traceback reduced to the
    exception's type and message, and each distinct message is rate-limited as above.
    Their exceptions on this path are about what a client sent, not bugs to debug."""

    def __init__(self, *, burst: int = BURST, interval_s: float = INTERVAL_S) -> None:
        super().__init__()
        self._limit = RateLimitedLog(
            logging.getLogger(__name__), burst=burst, interval_s=interval_s
        )

    def filter(self, record: logging.LogRecord) -> bool:
        left_out = self._limit.allow(f"{record.name}:{record.msg}")
        if left_out is None:
            return False
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            record.msg = f"{record.getMessage()}: {describe(exc)}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        if left_out:
            record.msg = f"{record.getMessage()} (and {left_out} more like it left out of the log)"
            record.args = None
        return True


def library_logger(name: str) -> logging.Logger:
    """A logger to hand a library that reads client input (engineio and python-socketio
    take one as ``logger``/``engineio_logger``, aiohttp's request handler as ``logger``):
    errors only, one rate-limited line each (ClientInputFilter). Their own default loggers
    also print each record a second time through a handler of their own."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, ClientInputFilter) for f in logger.filters):
        logger.addFilter(ClientInputFilter())
        logger.setLevel(logging.ERROR)
    return logger
