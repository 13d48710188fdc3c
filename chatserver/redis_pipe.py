"""One Redis connection with many commands in flight, for the append hot path.

Through redis-py, one EVALSHA of the append script cost ~250-300 µs of worker CPU here
(a pool checkout, argument encoding in Python, a timeout per read, a parse per reply):
the largest share of a busy worker's time after fan-out. Here a command is packed by
hiredis (C), the commands of one loop turn leave in one write, and replies — which Redis
sends in command order — are read in bulk by one reader task and matched to their
futures first in, first out. Connecting (AUTH, TLS, database selection) is redis-py's.

A caller that stops waiting (timeout, cancellation) leaves its future in the queue: the
reply still arrives in order and is dropped, so later replies stay matched. Everything
in flight belongs to one connection (`_Link`): when it fails, its waiting commands fail
with it, and the next command opens a new connection with queues of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

READ_BYTES = 1 << 18


class _Link:
    """One open connection and what is in flight on it."""

    def __init__(self, connection: AbstractConnection, writer: asyncio.StreamWriter) -> None:
        self.connection = connection
        self.writer = writer
        self.pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.outgoing: list[bytes] = []
        self.reader_task: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing()

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.usable:
            self.writer.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))
        else:
            self.fail(RedisConnectionError("Redis connection closed"))

    def fail(self, error: BaseException) -> None:
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)


class CommandPipe:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._link: _Link | None = None
        self._connecting: asyncio.Lock | None = None

    async def execute(self, *args: Any) -> Any:
        """Send one command; its reply (a ResponseError is raised, not returned)."""
        link = self._link
        if link is None or not link.usable:
            link = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        link.pending.append(future)
        if not link.outgoing:
            asyncio.get_running_loop().call_soon(link.flush)
        link.outgoing.append(hiredis.pack_command(args))
        reply = await future
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    async def _connect(self) -> _Link:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._link is not None and self._link.usable:
                return self._link
            await self.close()
            connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            await connection.connect()
            reader = getattr(connection, "_reader", None)
            writer = getattr(connection, "_writer", None)
            if not isinstance(reader, asyncio.StreamReader) or not isinstance(
                writer, asyncio.StreamWriter
            ):
                raise RedisConnectionError("redis-py connection has no stream")
            link = _Link(connection, writer)
            link.reader_task = asyncio.get_running_loop().create_task(_read(link, reader))
            self._link = link
            return link

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        if link.reader_task is not None:
            link.reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.reader_task
        link.fail(RedisConnectionError("connection closed"))
        with contextlib.suppress(Exception):
            await link.connection.disconnect()


async def _read(link: _Link, stream: asyncio.StreamReader) -> None:
    replies = hiredis.Reader()
    pending = link.pending
    error: BaseException = RedisConnectionError("Redis closed the connection")
    try:
        while True:
            data = await stream.read(READ_BYTES)
            if not data:
                break
            replies.feed(data)
            while (reply := replies.gets()) is not False:
                future = pending.popleft()
                if not future.done():
                    future.set_result(reply)
    except (OSError, IndexError, hiredis.ProtocolError) as exc:
        error = RedisConnectionError(str(exc) or type(exc).__name__)
    finally:
        link.writer.close()
        link.fail(error)
