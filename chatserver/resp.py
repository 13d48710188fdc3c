"""huddle's own Redis connection: asyncio streams, commands packed and replies parsed by
hiredis (its public API only), no redis-py internals.

`RedisAddress.from_url` reads the configured URL as redis-py's ``from_url`` does (so this
connection and the backend's redis-py clients reach the same server and database):
``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS (a context from
``ssl.create_default_context``; certificates checked unless ``ssl_cert_reqs=none``) and
``unix://[[user]:password@]/path/to/socket[?db=N]``. `connect` opens the streams and, in
one write, sends what the URL asks for before the first command — AUTH (with the ACL
username if there is one), SELECT, CLIENT SETNAME — and waits for their replies, all
within one timeout. A new connection speaks RESP2 until told otherwise, and RESP2 is
what the callers parse, so no HELLO is sent.

Failures are `RedisLinkError`: a `BackendUnavailable` for callers (the request answers
``unavailable``), and an OSError so `RedisBackend._call` counts it as a Redis failure and
fails fast after it, as it did with redis-py's ConnectionError.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlparse

import hiredis

from chatserver.backend import BackendUnavailable

READ_BYTES = 1 << 18

Arg = str | bytes | int | float

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_FALSE = ("0", "F", "FALSE", "N", "NO", "OFF")  # redis-py's reading of a false flag
# Query options that tune redis-py's own clients (timeouts, pool, retries, protocol):
# valid in the shared URL, and nothing this connection needs (its waits are bounded by
# its caller and by `connect`'s timeout).
_FOR_REDIS_PY = frozenset(
    {
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "socket_read_size",
        "retry_on_timeout",
        "retry_on_error",
        "max_connections",
        "health_check_interval",
        "timeout",
        "protocol",
        "legacy_responses",
    }
)


class RedisLinkError(BackendUnavailable, ConnectionError):
    """The Redis connection could not be opened, or failed with commands in flight."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where and how to connect, as read from a Redis URL."""

    host: str = "localhost"
    port: int = 6379
    unix_path: str | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    client_name: str | None = None
    ssl_cert_reqs: ssl.VerifyMode = ssl.CERT_REQUIRED
    ssl_check_hostname: bool = True
    ssl_ca_certs: str | None = None
    ssl_ca_path: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        if not url.lower().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
        parsed = urlparse(url)
        query = {name: values[0] for name, values in parse_qs(parsed.query).items() if values}
        unknown = sorted(set(query) - _FOR_REDIS_PY - _OPTIONS)
        if unknown:
            raise ValueError(f"Redis URL option(s) not supported: {', '.join(unknown)}")
        options: dict[str, Any] = {}
        if "db" in query:
            options["db"] = _int(query, "db")
        if "client_name" in query:
            options["client_name"] = query["client_name"]
        for name in ("ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile"):
            if name in query:
                options[name] = query[name]
        if "ssl_check_hostname" in query:
            options["ssl_check_hostname"] = query["ssl_check_hostname"].upper() not in _FALSE
        if "ssl_cert_reqs" in query:
            reqs = _CERT_REQS.get(query["ssl_cert_reqs"])
            if reqs is None:
                raise ValueError("ssl_cert_reqs is none, optional or required")
            options["ssl_cert_reqs"] = reqs
        if parsed.username:
            options["username"] = unquote(parsed.username)
        if parsed.password:
            options["password"] = unquote(parsed.password)
        scheme = parsed.scheme.lower()
        if scheme == "unix":
            if not parsed.path:
                raise ValueError("a unix:// Redis URL names the socket's path")
            return cls(unix_path=unquote(parsed.path), **options)
        if parsed.hostname:
            options["host"] = unquote(parsed.hostname)
        if parsed.port is not None:
            options["port"] = parsed.port
        if parsed.path and "db" not in options:
            # As redis-py: a path that is not a number leaves the default database.
            with contextlib.suppress(ValueError):
                options["db"] = int(unquote(parsed.path).replace("/", ""))
        return cls(tls=scheme == "rediss", **options)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ssl_cert_reqs == ssl.CERT_NONE:
            context.check_hostname = False  # must be off before verification is
        else:
            context.check_hostname = self.ssl_check_hostname
        context.verify_mode = self.ssl_cert_reqs
        if self.ssl_certfile or self.ssl_keyfile:
            context.load_cert_chain(certfile=self.ssl_certfile or "", keyfile=self.ssl_keyfile)
        if self.ssl_ca_certs or self.ssl_ca_path:
            context.load_verify_locations(cafile=self.ssl_ca_certs, capath=self.ssl_ca_path)
        return context

    def handshake(self) -> list[tuple[Arg, ...]]:
        """The commands a new connection sends before any other (RESP2 needs no HELLO)."""
        commands: list[tuple[Arg, ...]] = []
        if self.username or self.password:
            password = self.password or ""
            commands.append(
                ("AUTH", self.username, password) if self.username else ("AUTH", password)
            )
        if self.db:
            commands.append(("SELECT", self.db))
        if self.client_name:
            commands.append(("CLIENT", "SETNAME", self.client_name))
        return commands

    def describe(self) -> str:
        """For messages and logs: never the password."""
        if self.unix_path is not None:
            return f"unix://{self.unix_path} db {self.db}"
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port} db {self.db}"


_OPTIONS = frozenset(
    {
        "db",
        "client_name",
        "ssl_cert_reqs",
        "ssl_check_hostname",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
    }
)


def _int(query: dict[str, str], name: str) -> int:
    try:
        return int(query[name])
    except ValueError:
        raise ValueError(f"Redis URL option {name} is a number") from None


def pack(command: Sequence[Arg]) -> bytes:
    """One command in RESP, packed by hiredis (C)."""
    # hiredis's stub types the argument as a 1-tuple; it takes a tuple of any length.
    packed: bytes = hiredis.pack_command(tuple(command))  # type: ignore[arg-type]
    return packed


class RespConnection(asyncio.Protocol):
    """One open, authenticated connection, read in ``data_received``: no task per read.

    Until a consumer takes the connection (`consume`), replies wait in the parser for
    `read_replies` (the handshake, a one-off command). A consumer is called in
    ``data_received`` itself, once the new bytes are in the parser, and reads every
    complete reply there: a reply is handled in the loop turn it arrives in, where a task
    reading a StreamReader was woken one turn later, at a loop turn's cost
    (bench/wakeup_bench.py: ~2.7 µs per read)."""

    __slots__ = (
        "_closed",
        "_consumer",
        "_drained",
        "_error",
        "_loop",
        "_on_lost",
        "_waiter",
        "parser",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.parser = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self._consumer: Callable[[], None] | None = None
        self._on_lost: Callable[[RedisLinkError], None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        """Set while the transport's buffer is over its high-water mark (pause_writing)."""
        self._error: RedisLinkError | None = None
        """Why the connection ended (None while it is open)."""
        self._closed: asyncio.Future[None] = loop.create_future()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        consumer = self._consumer
        if consumer is None:
            self._wake()
            return
        try:
            consumer()
        except Exception as exc:  # the consumer's own bug or its verdict: the link ends
            self.fail(exc if isinstance(exc, RedisLinkError) else _link_error(exc))

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._error is None:
            self._error = _link_error(exc) if exc else RedisLinkError("Redis closed the connection")
        if not self._closed.done():
            self._closed.set_result(None)
        self._wake()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)
        on_lost, self._on_lost, self._consumer = self._on_lost, None, None
        if on_lost is not None:
            on_lost(self._error)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # For callers

    @property
    def error(self) -> RedisLinkError | None:
        """Why the connection ended, or None while it is open."""
        return self._error

    def is_closing(self) -> bool:
        return self._error is not None or self.transport is None or self.transport.is_closing()

    def consume(
        self, consumer: Callable[[], None], on_lost: Callable[[RedisLinkError], None]
    ) -> None:
        """From now on ``consumer`` reads the replies (``self.parser.gets()`` until False)
        as they arrive, in ``data_received``; an exception it raises ends the connection.
        ``on_lost`` is called once when the connection ends (at once if it already has).
        Replies that came before this call are handed to ``consumer`` in the next turn."""
        if self._error is not None:
            on_lost(self._error)
            return
        self._consumer, self._on_lost = consumer, on_lost
        self._loop.call_soon(self._consume_buffered)

    def _consume_buffered(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            consumer()
        except Exception as exc:
            self.fail(exc if isinstance(exc, RedisLinkError) else _link_error(exc))

    def fail(self, error: RedisLinkError) -> None:
        """End the connection over ``error`` (what `on_lost` and later reads are told)."""
        if self._error is None:
            self._error = error
        self.abort()

    def send(self, commands: Sequence[Sequence[Arg]]) -> None:
        """Write every command at once (they are answered in this order)."""
        self.write(b"".join(pack(c) for c in commands))

    def write(self, data: bytes) -> None:
        """Packed commands, as they are (see `pack`)."""
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport has taken what was written (as StreamWriter.drain)."""
        if self._error is not None:
            raise self._error
        drained = self._drained
        if drained is not None:
            await asyncio.shield(drained)
            if self._error is not None:
                raise self._error

    async def read_replies(self) -> list[Any]:
        """Every complete reply received so far (at least one; waits for one); an error
        reply is returned as a `hiredis.ReplyError`, not raised. Not with a consumer."""
        replies: list[Any] = []
        try:
            while True:
                while (reply := self.parser.gets()) is not False:
                    replies.append(reply)
                if replies:
                    return replies
                if self._error is not None:
                    raise self._error
                self._waiter = self._loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        except hiredis.ProtocolError as exc:
            error = _link_error(exc)
            self.fail(error)
            raise error from exc

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def abort(self) -> None:
        """Drop the connection now (buffered writes are discarded)."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self, timeout_s: float = 1.0) -> None:
        if self.transport is not None:
            self.transport.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._closed)


def _link_error(exc: BaseException) -> RedisLinkError:
    if isinstance(exc, RedisLinkError):
        return exc
    return RedisLinkError(str(exc) or type(exc).__name__)


async def connect(address: RedisAddress, *, timeout_s: float) -> RespConnection:
    """Open, secure and prepare one connection (AUTH, SELECT, name), all in ``timeout_s``."""
    loop = asyncio.get_running_loop()
    connection: RespConnection | None = None
    opened = False
    try:
        async with asyncio.timeout(timeout_s):
            if address.unix_path is not None:
                _, connection = await loop.create_unix_connection(
                    lambda: RespConnection(loop), address.unix_path
                )
            else:
                _, connection = await loop.create_connection(
                    lambda: RespConnection(loop),
                    address.host,
                    address.port,
                    ssl=address.ssl_context() if address.tls else None,
                    server_hostname=address.host if address.tls else None,
                )
            commands = address.handshake()
            if commands:
                connection.send(commands)
                replies: list[Any] = []
                while len(replies) < len(commands):
                    replies += await connection.read_replies()
                for command, reply in zip(commands, replies, strict=False):
                    if isinstance(reply, hiredis.ReplyError):
                        # The command's name only: AUTH's arguments are secrets.
                        raise RedisLinkError(f"Redis refused {command[0]!s}: {reply}")
            opened = True
            return connection
    except RedisLinkError:
        raise
    except (OSError, TimeoutError, hiredis.ProtocolError) as exc:
        reason = str(exc) or type(exc).__name__
        raise RedisLinkError(f"cannot connect to {address.describe()}: {reason}") from exc
    finally:
        if not opened and connection is not None:
            connection.abort()  # refused, timed out or cancelled: nothing half-open
