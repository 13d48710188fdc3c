"""One Redis connection with many commands in flight, for the append hot path.

Through redis-py, one EVALSHA of the append script cost several times the worker CPU of
this path (a pool checkout, argument encoding in Python, a timeout per read, a parse per
reply; figures in docs/design.md): the largest share of a busy worker's time after
fan-out. Here a command is packed by hiredis (C), the commands of one loop turn leave in
one write, and replies — which Redis sends in command order — are parsed in bulk as they
arrive (in the connection's ``data_received``, no reader task to wake) and matched to
their futures first in, first out. The connection is
huddle's own (`chatserver/resp.py`: streams, TLS, AUTH, SELECT), opened from the same URL
as the backend's redis-py clients.

A caller that stops waiting (timeout, cancellation) leaves its future in the queue: the
reply still arrives in order and is dropped, so later replies stay matched. Everything
in flight belongs to one connection (`_Link`): when it fails, its waiting commands fail
with it (`RedisLinkError`, a BackendUnavailable), and the next command opens a new
connection with queues of its own. A connection whose oldest command has had no reply
for ``dead_after_s`` is given up the same way — a peer that vanished without closing
(a network partition, a paused server) would otherwise keep every later command
waiting on it; so this pipe is not for blocking commands longer than that.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import hiredis
from redis.exceptions import ResponseError

from chatserver.resp import Arg, RedisAddress, RedisLinkError, RespConnection, connect

_ASKING = hiredis.pack_command(("ASKING",))


class ReplicationShort(RedisLinkError):
    """A command ran on its master but fewer replicas than asked confirmed it in time."""


class _Link:
    """One open connection and what is in flight on it."""

    __slots__ = (
        "connection",
        "dead_after_s",
        "error",
        "heard_at",
        "loop",
        "outgoing",
        "pending",
        "replies",
        "transport",
        "wait",
        "wait_command",
        "watch",
        "watched",
    )

    def __init__(self, connection: RespConnection, dead_after_s: float) -> None:
        self.connection = connection
        assert connection.transport is not None
        self.transport = connection.transport
        self.replies = connection.parser
        self.loop = asyncio.get_running_loop()
        self.dead_after_s = dead_after_s
        self.pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.outgoing: list[bytes] = []
        self.error: RedisLinkError | None = None
        self.watch: asyncio.TimerHandle | None = None
        self.watched: asyncio.Future[Any] | None = None
        self.heard_at = self.loop.time()
        """When a reply last arrived, or the first command went out after a quiet spell."""
        # A WAIT sent after this turn's commands (group commit): its reply, and the command.
        self.wait: asyncio.Future[Any] | None = None
        self.wait_command = b""
        connection.consume(self.received, self.give_up)

    @property
    def usable(self) -> bool:
        return self.error is None and not self.transport.is_closing()

    def received(self) -> None:
        """Every complete reply that has arrived, to its command's future (called by the
        connection as bytes arrive). A reply nothing asked for (IndexError) ends the link:
        the stream can no longer be trusted."""
        self.heard_at = self.loop.time()
        replies, pending = self.replies, self.pending
        while (reply := replies.gets()) is not False:
            future = pending.popleft()
            if not future.done():
                future.set_result(reply)

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.wait is not None:
            # One WAIT after every command of this turn that asked for one: it covers
            # them all (a connection's writes replicate in order).
            outgoing.append(self.wait_command)
            self.pending.append(self.wait)
            self.wait = None
        if not self.usable:
            self.give_up(self.error or RedisLinkError("Redis connection closed"))
            return
        self.transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))
        if self.watch is None:
            self._watch()

    def _watch(self) -> None:
        # One timer per dead_after_s while commands are in flight, not one per command:
        # the link is dead when the same command is still the oldest a whole period later.
        self.watched = self.pending[0] if self.pending else None
        self.watch = self.loop.call_later(self.dead_after_s, self._check)

    def _check(self) -> None:
        self.watch = None
        if not self.pending:
            return
        if self.pending[0] is self.watched:
            self.give_up(RedisLinkError(f"no reply from Redis in {self.dead_after_s} s"))
        else:
            self._watch()

    def give_up(self, error: RedisLinkError) -> None:
        """Close the connection and fail everything in flight on it (idempotent)."""
        if self.error is None:
            self.error = error
            self.connection.abort()
            if self.watch is not None:
                self.watch.cancel()
                self.watch = None
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(self.error)


class CommandPipe:
    def __init__(
        self,
        url: str | RedisAddress,
        *,
        connect_timeout_s: float = 1.0,
        dead_after_s: float = 2.0,
    ) -> None:
        # Parsed here, so a URL this connection cannot honour fails at start-up.
        self.address = url if isinstance(url, RedisAddress) else RedisAddress.from_url(url)
        self._connect_timeout_s = connect_timeout_s
        self._dead_after_s = dead_after_s
        self._link: _Link | None = None
        self._connecting: asyncio.Task[_Link] | None = None

    async def execute(self, *args: Arg, asking: bool = False) -> Any:
        """Send one command; its reply (an error reply is raised as redis-py's public
        ResponseError, which RedisBackend already handles, e.g. NOSCRIPT). ``asking``:
        preceded by ASKING on the same connection (a Redis Cluster slot being imported)."""
        # Packed before queueing, so a bad argument shifts no reply. (hiredis's stub types
        # the argument as a 1-tuple; it takes a tuple of any length.)
        command = hiredis.pack_command(args)  # type: ignore[arg-type]
        link = self._link
        if link is None or not link.usable:
            link = await self._connect()
        if not link.pending:
            link.heard_at = link.loop.time()
        if asking:
            link.pending.append(link.loop.create_future())  # its +OK, dropped
            if not link.outgoing:
                link.loop.call_soon(link.flush)
            link.outgoing.append(_ASKING)
        future: asyncio.Future[Any] = link.loop.create_future()
        link.pending.append(future)
        if not link.outgoing:
            link.loop.call_soon(link.flush)
        link.outgoing.append(command)
        reply = await future
        if type(reply) is hiredis.ReplyError:
            raise ResponseError(str(reply))
        return reply

    async def execute_replicated(self, replicas: int, timeout_ms: int, *args: Arg) -> Any:
        """One command whose reply is returned only once ``replicas`` replicas have
        it: one WAIT follows every such command sent in the same loop turn (group
        commit). Not confirmed within ``timeout_ms``: `ReplicationShort` (the command
        ran, and may be lost if its master dies before a replica has it)."""
        command = hiredis.pack_command(args)  # type: ignore[arg-type]
        link = self._link
        if link is None or not link.usable:
            link = await self._connect()
        if not link.pending:
            link.heard_at = link.loop.time()
        future: asyncio.Future[Any] = link.loop.create_future()
        link.pending.append(future)
        if not link.outgoing:
            link.loop.call_soon(link.flush)
        link.outgoing.append(command)
        wait = link.wait
        if wait is None:
            wait = link.wait = link.loop.create_future()
            link.wait_command = hiredis.pack_command(("WAIT", replicas, timeout_ms))  # type: ignore[arg-type]
        reply = await future
        if type(reply) is hiredis.ReplyError:
            raise ResponseError(str(reply))
        confirmed = await wait
        if type(confirmed) is hiredis.ReplyError:
            raise ResponseError(str(confirmed))
        if int(confirmed) < replicas:
            raise ReplicationShort(
                f"{confirmed} of {replicas} replica(s) confirmed within {timeout_ms} ms"
            )
        return reply

    def silent_s(self) -> float:
        """How long commands have been waiting with no reply at all on this connection (0
        when nothing waits): a Redis that is gone or paused is silent; one that is only
        slow — thousands of joins queued in a reconnect storm — keeps answering."""
        link = self._link
        if link is None or not link.pending:
            return 0.0
        return link.loop.time() - link.heard_at

    async def _connect(self) -> _Link:
        # Callers arriving while a connection is being opened share that attempt (and its
        # failure): a dead server costs one connect timeout, not one per waiting caller.
        task = self._connecting
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open())
            task.add_done_callback(self._opened)
            self._connecting = task
        # Shielded: one caller giving up does not cancel the others' connection.
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                # close() stopped the attempt, not this caller's own cancellation.
                raise RedisLinkError("connection closed") from None
            raise

    def _opened(self, task: asyncio.Task[_Link]) -> None:
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved here, so an attempt nobody awaited logs nothing

    async def _open(self) -> _Link:
        old, self._link = self._link, None
        if old is not None:
            old.give_up(old.error or RedisLinkError("Redis connection closed"))
        connection = await connect(self.address, timeout_s=self._connect_timeout_s)
        link = _Link(connection, self._dead_after_s)
        self._link = link
        return link

    async def close(self) -> None:
        task, self._connecting = self._connecting, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        link, self._link = self._link, None
        if link is None:
            return
        link.give_up(RedisLinkError("connection closed"))
        await link.connection.close()
