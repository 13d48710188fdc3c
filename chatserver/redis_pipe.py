"""One Redis connection with many commands in flight, for the append hot path.

Through redis-py, one EVALSHA of the append script cost ~250-300 µs of worker CPU here
(a pool checkout, argument encoding in Python, a timeout per read, a parse per reply):
the largest share of a busy worker's time after fan-out. Here a command is packed by
hiredis (C), written at once, and replies — which Redis sends in command order — are
read in bulk by one reader task and matched to their futures first in, first out.
Connecting (AUTH, TLS, database selection) is still redis-py's.

A caller that stops waiting (timeout, cancellation) leaves its future in the queue:
the reply still arrives in order and is dropped, so later replies stay matched. When
the connection fails every waiting command fails with it, and the next command opens a
new connection.
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


class CommandPipe:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._connection: AbstractConnection | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None

    async def execute(self, *args: Any) -> Any:
        """Send one command; its reply (a ResponseError is raised, not returned)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        writer.write(hiredis.pack_command(args))
        reply = await future
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    async def _connect(self) -> asyncio.StreamWriter:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            await self.close()
            connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            await connection.connect()
            reader = getattr(connection, "_reader", None)
            writer = getattr(connection, "_writer", None)
            if not isinstance(reader, asyncio.StreamReader) or not isinstance(
                writer, asyncio.StreamWriter
            ):
                raise RedisConnectionError("redis-py connection has no stream")
            self._connection, self._writer = connection, writer
            self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
            return writer

    async def _read(self, stream: asyncio.StreamReader) -> None:
        replies = hiredis.Reader()
        pending = self._pending
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
            self._fail_pending(error)
            if self._writer is not None:
                self._writer.close()
            self._writer = None

    def _fail_pending(self, error: BaseException) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        task, self._reader_task = self._reader_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        connection, self._connection = self._connection, None
        self._writer = None
        self._fail_pending(RedisConnectionError("connection closed"))
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
