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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
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


class RespConnection:
    """One open, authenticated connection: its streams and the parser of its replies."""

    __slots__ = ("parser", "reader", "writer")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: hiredis.Reader
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = parser

    def send(self, commands: Sequence[Sequence[Arg]]) -> None:
        """Write every command at once (they are answered in this order)."""
        self.writer.write(b"".join(pack(c) for c in commands))

    async def read_replies(self) -> list[Any]:
        """Every complete reply of the next read (at least one); an error reply is
        returned as a `hiredis.ReplyError`, not raised."""
        replies: list[Any] = []
        try:
            while not replies:
                data = await self.reader.read(READ_BYTES)
                if not data:
                    raise RedisLinkError("Redis closed the connection")
                self.parser.feed(data)
                while (reply := self.parser.gets()) is not False:
                    replies.append(reply)
        except (OSError, hiredis.ProtocolError) as exc:
            if isinstance(exc, RedisLinkError):
                raise
            raise RedisLinkError(str(exc) or type(exc).__name__) from exc
        return replies

    def abort(self) -> None:
        """Drop the connection now (buffered writes are discarded)."""
        self.writer.transport.abort()

    async def close(self, timeout_s: float = 1.0) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout_s):
                await self.writer.wait_closed()


async def connect(address: RedisAddress, *, timeout_s: float) -> RespConnection:
    """Open, secure and prepare one connection (AUTH, SELECT, name), all in ``timeout_s``."""
    writer: asyncio.StreamWriter | None = None
    opened = False
    try:
        async with asyncio.timeout(timeout_s):
            if address.unix_path is not None:
                reader, writer = await asyncio.open_unix_connection(
                    address.unix_path, limit=READ_BYTES
                )
            else:
                reader, writer = await asyncio.open_connection(
                    address.host,
                    address.port,
                    ssl=address.ssl_context() if address.tls else None,
                    server_hostname=address.host if address.tls else None,
                    limit=READ_BYTES,
                )
            connection = RespConnection(reader, writer, hiredis.Reader())
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
        if not opened and writer is not None:
            writer.transport.abort()  # refused, timed out or cancelled: nothing half-open
