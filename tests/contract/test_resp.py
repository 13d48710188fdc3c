"""huddle's own Redis connection (chatserver/resp.py) and the hot-path pipe over it,
against real redis-server processes this module starts on free ports: a password and an
ACL user, a non-zero database, TLS with a certificate made here by openssl, a unix
socket, a server killed with commands in flight, paused, and restarted; the room bus's
subscription over the same kind of connection."""

from __future__ import annotations

import asyncio
import inspect
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis
import socketio
from redis.exceptions import ResponseError

from chatserver import redis_pipe, resp
from chatserver.backend import BackendUnavailable, Delivery
from chatserver.redis_backend import RedisBackend, bus, connection
from chatserver.redis_pipe import CommandPipe
from chatserver.resp import RedisAddress, RedisLinkError, connect
from chatserver.transport import internals
from tests.contract.test_backend_contract import ALEX, msg
from tests.processes import require_program, stop_process

STARTUP_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A redis-server with the given extra settings; ready when its log says so (a
    plain PING cannot tell: it needs a password, or TLS, or a socket path)."""

    def __init__(self, workdir: Path, *settings: str, plain_port: bool = True) -> None:
        self.binary = require_program("redis-server", "HUDDLE_REQUIRE_REDIS")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.plain_port = free_port() if plain_port else 0
        self.port = self.plain_port
        """The port clients connect to (a TLS server's is its --tls-port)."""
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        logfile = self.dir / f"redis-{self.starts}.log"
        args = [self.binary, "--port", str(self.plain_port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no",
                "--logfile", str(logfile), *self.settings]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if logfile.exists() and "ready to accept connections" in logfile.read_text().lower():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        text = logfile.read_text() if logfile.exists() else ""
        self.stop()
        raise RuntimeError(f"redis-server did not start: {text[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait(5)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            stop_process(self.proc, grace_s=5)
        self.proc = None


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A password for the default user, and an ACL user alice with her own."""
    server = Server(
        tmp_path_factory.mktemp("secured"),
        "--requirepass", "default-secret",
        "--user", "alice", "on", ">alice-secret", "~*", "&*", "+@all",
    )  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, to kill, pause and restart."""
    server = Server(tmp_path / "plain")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 (its own CA), made by openssl."""
    openssl = require_program("openssl", "HUDDLE_REQUIRE_OPENSSL")
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return where


@pytest.fixture(scope="module")
def tls_server(certificate: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """TLS only (no plain port), with a password: Debian's redis-server is built with TLS."""
    tls_port = free_port()
    server = Server(
        tmp_path_factory.mktemp("tls-server"),
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(certificate / "cert.pem"),
        "--tls-key-file", str(certificate / "key.pem"),
        "--tls-ca-cert-file", str(certificate / "cert.pem"),
        "--tls-auth-clients", "no",
        "--requirepass", "tls-secret",
        plain_port=False,
    )  # fmt: skip
    server.port = tls_port  # what clients connect to
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pipes() -> AsyncIterator[list[CommandPipe]]:
    """Pipes a test opens, closed after it."""
    opened: list[CommandPipe] = []
    yield opened
    for pipe in opened:
        await pipe.close()


def pipe_for(pipes: list[CommandPipe], url: str, **kw: float) -> CommandPipe:
    pipe = CommandPipe(url, **kw)
    pipes.append(pipe)
    return pipe


# -- the URL -----------------------------------------------------------------------------


def test_urls_read_as_redis_py_reads_them() -> None:
    a = RedisAddress.from_url("redis://127.0.0.1:6380/3")
    assert (a.host, a.port, a.db, a.tls, a.username, a.password) == (
        "127.0.0.1", 6380, 3, False, None, None,
    )  # fmt: skip
    b = RedisAddress.from_url("rediss://al%40ce:p%3Ass@cache.example:6390/2?db=5")
    assert (b.host, b.port, b.tls, b.username, b.password, b.db) == (
        "cache.example", 6390, True, "al@ce", "p:ss", 5,
    )  # fmt: skip
    c = RedisAddress.from_url("unix://:pw@/run/redis.sock?db=4")
    assert (c.unix_path, c.password, c.db) == ("/run/redis.sock", "pw", 4)
    d = RedisAddress.from_url("redis://r")
    assert (d.host, d.port, d.db) == ("r", 6379, 0)
    # As redis-py: a path that is not a number leaves database 0 (both halves agree).
    assert RedisAddress.from_url("redis://r/notanumber").db == 0
    # Options that tune redis-py's clients are accepted and not needed here.
    assert RedisAddress.from_url("redis://r/1?socket_timeout=5&protocol=3").db == 1


def test_handshake_sends_what_the_url_asks_for() -> None:
    assert RedisAddress.from_url("redis://r").handshake() == []
    assert RedisAddress.from_url("redis://:pw@r/2").handshake() == [
        ("AUTH", "pw"),
        ("SELECT", 2),
    ]
    assert RedisAddress.from_url("redis://alice:pw@r?client_name=hot").handshake() == [
        ("AUTH", "alice", "pw"),
        ("CLIENT", "SETNAME", "hot"),
    ]


def test_tls_options_build_the_context() -> None:
    strict = RedisAddress.from_url("rediss://r").ssl_context()
    assert (strict.verify_mode, strict.check_hostname) == (ssl.CERT_REQUIRED, True)
    loose = RedisAddress.from_url("rediss://r?ssl_cert_reqs=none").ssl_context()
    assert (loose.verify_mode, loose.check_hostname) == (ssl.CERT_NONE, False)
    no_name = RedisAddress.from_url("rediss://r?ssl_check_hostname=false").ssl_context()
    assert (no_name.verify_mode, no_name.check_hostname) == (ssl.CERT_REQUIRED, False)


@pytest.mark.parametrize(
    "url",
    [
        "http://r",
        "unix://",
        "redis://r?ssl_ciphers=ALL",  # not implemented here: refused, not ignored
        "redis://r?db=two",
        "rediss://r?ssl_cert_reqs=maybe",
    ],
)
def test_urls_this_connection_cannot_honour_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        RedisAddress.from_url(url)


def test_the_password_is_never_shown() -> None:
    address = RedisAddress.from_url("redis://alice:hunter2@r/1")
    assert "hunter2" not in repr(address)
    assert "hunter2" not in address.describe()


# -- AUTH and SELECT -------------------------------------------------------------------------


async def test_password_and_a_database(secured: Server, pipes: list[CommandPipe]) -> None:
    url = f"redis://:default-secret@127.0.0.1:{secured.port}/3"
    pipe = pipe_for(pipes, url)
    assert await pipe.execute("SET", "where", "db3") is not None
    assert await pipe.execute("ACL", "WHOAMI") == b"default"
    # The key is in database 3, as redis-py reading the same URL sees it, and not in 0.
    admin = redis.Redis.from_url(url)
    other = redis.Redis.from_url(f"redis://:default-secret@127.0.0.1:{secured.port}/0")
    try:
        assert await admin.get("where") == b"db3"
        assert await other.get("where") is None
    finally:
        await admin.aclose()
        await other.aclose()


async def test_an_acl_user(secured: Server, pipes: list[CommandPipe]) -> None:
    pipe = pipe_for(pipes, f"redis://alice:alice-secret@127.0.0.1:{secured.port}/1")
    assert await pipe.execute("ACL", "WHOAMI") == b"alice"
    assert await pipe.execute("CLIENT", "INFO") is not None


@pytest.mark.parametrize("credentials", [":wrong@", "alice:wrong@"], ids=["password", "user"])
async def test_refused_credentials_are_unavailable_without_the_secret(
    secured: Server, pipes: list[CommandPipe], credentials: str
) -> None:
    pipe = pipe_for(pipes, f"redis://{credentials}127.0.0.1:{secured.port}/0")
    with pytest.raises(BackendUnavailable) as refused:
        await asyncio.wait_for(pipe.execute("PING"), 5)
    assert "AUTH" in str(refused.value) and "wrong" not in str(refused.value)


async def test_no_credentials_get_the_servers_refusal(
    secured: Server, pipes: list[CommandPipe]
) -> None:
    # Nothing to send, so the command itself is refused: an error reply, as any other
    # (RedisBackend answers `unavailable` for it).
    pipe = pipe_for(pipes, f"redis://127.0.0.1:{secured.port}/0")
    with pytest.raises(ResponseError, match="NOAUTH"):
        await asyncio.wait_for(pipe.execute("PING"), 5)


async def test_a_database_that_does_not_exist_is_refused(secured: Server) -> None:
    address = RedisAddress.from_url(f"redis://:default-secret@127.0.0.1:{secured.port}/99")
    with pytest.raises(RedisLinkError, match="SELECT"):
        await connect(address, timeout_s=5)


# -- TLS and unix sockets ------------------------------------------------------------------


async def test_tls_with_the_certificate_checked(
    tls_server: Server, certificate: Path, pipes: list[CommandPipe]
) -> None:
    url = (
        f"rediss://:tls-secret@127.0.0.1:{tls_server.port}/2"
        f"?ssl_ca_certs={certificate / 'cert.pem'}"
    )
    pipe = pipe_for(pipes, url)
    assert await pipe.execute("SET", "over", "tls") == b"OK"
    replies = await asyncio.gather(*(pipe.execute("INCR", "n") for _ in range(300)))
    assert sorted(replies) == list(range(1, 301))
    # The whole backend (redis-py's clients and this pipe) on one rediss:// URL.
    backend = RedisBackend(url)
    await backend.start()
    try:
        first = await backend.append("tls-room", msg("over tls"), guard=None, now_ms=1)
        assert first.entry["offset"] == 1
        assert [e["text"] for e in (await backend.read("tls-room", None, 10)).entries] == [
            "over tls"
        ]
    finally:
        await backend.close()


async def test_tls_refuses_a_certificate_it_cannot_verify(
    tls_server: Server, pipes: list[CommandPipe]
) -> None:
    # No CA given: the self-signed certificate is not trusted by the system's store.
    pipe = pipe_for(pipes, f"rediss://:tls-secret@127.0.0.1:{tls_server.port}/0")
    with pytest.raises(BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await asyncio.wait_for(pipe.execute("PING"), 5)
    # Unless verification is turned off in the URL (as redis-py's ssl_cert_reqs=none).
    loose = pipe_for(
        pipes, f"rediss://:tls-secret@127.0.0.1:{tls_server.port}/0?ssl_cert_reqs=none"
    )
    assert await loose.execute("PING") == b"PONG"


async def test_a_plain_connection_to_a_tls_port_fails_in_time(
    tls_server: Server, pipes: list[CommandPipe]
) -> None:
    pipe = pipe_for(pipes, f"redis://:tls-secret@127.0.0.1:{tls_server.port}/0")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await asyncio.wait_for(pipe.execute("PING"), 5)
    assert time.monotonic() - started < 3


async def test_a_unix_socket(tmp_path: Path, pipes: list[CommandPipe]) -> None:
    path = tmp_path / "redis.sock"
    server = Server(tmp_path / "unix", "--unixsocket", str(path), plain_port=False)
    server.start()
    try:
        pipe = pipe_for(pipes, f"unix://{path}?db=6")
        assert await pipe.execute("SET", "via", "socket") == b"OK"
        assert await pipe.execute("CLIENT", "INFO") is not None
        admin = redis.Redis.from_url(f"unix://{path}?db=6")
        try:
            assert await admin.get("via") == b"socket"
        finally:
            await admin.aclose()
    finally:
        server.stop()


# -- pipelining and failures -------------------------------------------------------------------


async def test_replies_come_back_in_command_order(plain: Server, pipes: list[CommandPipe]) -> None:
    pipe = pipe_for(pipes, f"redis://127.0.0.1:{plain.port}/0")
    # Commands of different kinds and reply types, all in flight at once.
    calls = []
    for i in range(500):
        calls.append(pipe.execute("SET", f"k{i}", f"v{i}"))
        calls.append(pipe.execute("GET", f"k{i}"))
        calls.append(pipe.execute("RPUSH", "list", i))
    replies = await asyncio.gather(*calls)
    for i in range(500):
        assert replies[3 * i : 3 * i + 3] == [b"OK", f"v{i}".encode(), i + 1]


async def test_an_argument_hiredis_cannot_pack_shifts_nothing(
    plain: Server, pipes: list[CommandPipe]
) -> None:
    pipe = pipe_for(pipes, f"redis://127.0.0.1:{plain.port}/0")
    await pipe.execute("SET", "a", "1")
    with pytest.raises(TypeError):
        await pipe.execute("SET", "b", object())  # type: ignore[arg-type]
    assert await pipe.execute("GET", "a") == b"1"


async def test_a_server_killed_mid_pipeline_fails_every_waiter_then_recovers(
    plain: Server, pipes: list[CommandPipe]
) -> None:
    pipe = pipe_for(pipes, f"redis://127.0.0.1:{plain.port}/0")
    await pipe.execute("PING")
    # A long script keeps replies owed while the server dies.
    busy = asyncio.ensure_future(
        pipe.execute("EVAL", "local t = redis.call('TIME') while true do end", 0)
    )
    behind = [asyncio.ensure_future(pipe.execute("INCR", "n")) for _ in range(200)]
    await asyncio.sleep(0.2)
    assert not any(f.done() for f in behind)
    plain.kill()
    started = time.monotonic()
    outcomes = await asyncio.wait_for(asyncio.gather(busy, *behind, return_exceptions=True), 5)
    assert all(isinstance(o, BackendUnavailable) for o in outcomes)
    assert time.monotonic() - started < 2.0
    # Down: a new command fails at once (connection refused), it does not hang.
    with pytest.raises(BackendUnavailable):
        await asyncio.wait_for(pipe.execute("PING"), 3)
    # Back: the next command reconnects, replies matched again.
    plain.start()
    counts = await asyncio.gather(*(pipe.execute("INCR", "after") for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))


async def test_a_server_that_stops_answering_is_given_up_then_reconnected(
    plain: Server, pipes: list[CommandPipe]
) -> None:
    # Paused (SIGSTOP), the connection stays open but nothing comes back: like a peer
    # lost to a network partition. The pipe gives the connection up, failing its waiters.
    pipe = pipe_for(pipes, f"redis://127.0.0.1:{plain.port}/0", dead_after_s=0.5)
    await pipe.execute("PING")
    plain.pause()
    try:
        waiting = [asyncio.ensure_future(pipe.execute("INCR", "n")) for _ in range(20)]
        outcomes = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 3)
        assert all(isinstance(o, BackendUnavailable) for o in outcomes)
        assert "no reply" in str(outcomes[0])
    finally:
        plain.resume()
    # A fresh connection; the given-up commands' replies can never reach later callers.
    assert await pipe.execute("INCR", "m") == 1
    assert await pipe.execute("GET", "n") in (None, b"20")


async def test_a_busy_connection_is_not_mistaken_for_a_dead_one(
    plain: Server, pipes: list[CommandPipe]
) -> None:
    # Replies keep coming: a steady stream lasting several dead_after_s periods survives.
    pipe = pipe_for(pipes, f"redis://127.0.0.1:{plain.port}/0", dead_after_s=0.2)
    deadline = time.monotonic() + 1.0
    rounds = 0
    while time.monotonic() < deadline and rounds < 10_000:
        await asyncio.gather(*(pipe.execute("INCR", "steady") for _ in range(20)))
        rounds += 1
    assert await pipe.execute("GET", "steady") == str(rounds * 20).encode()


async def test_callers_waiting_on_a_connect_share_it(plain: Server) -> None:
    pipe = CommandPipe(f"redis://127.0.0.1:{plain.port}/0")
    admin = redis.Redis.from_url(f"redis://127.0.0.1:{plain.port}/0")
    try:
        before = len(await admin.client_list())
        await asyncio.gather(*(pipe.execute("PING") for _ in range(100)))
        assert len(await admin.client_list()) == before + 1
    finally:
        await pipe.close()
        await admin.aclose()


async def test_a_connect_to_a_silent_server_times_out(plain: Server) -> None:
    # Paused, the kernel still accepts the connection but AUTH is never answered.
    address = RedisAddress.from_url(f"redis://:pw@127.0.0.1:{plain.port}/0")
    plain.pause()
    try:
        started = time.monotonic()
        with pytest.raises(RedisLinkError, match="cannot connect"):
            await connect(address, timeout_s=0.3)
        assert time.monotonic() - started < 2
    finally:
        plain.resume()


async def test_the_backend_answers_unavailable_while_redis_is_down_and_recovers(
    plain: Server,
) -> None:
    url = f"redis://127.0.0.1:{plain.port}/0"
    backend = RedisBackend(url)
    await backend.start()
    try:
        first = await backend.append("r", msg("one"), guard=None, now_ms=1)
        plain.kill()
        with pytest.raises(BackendUnavailable):
            await asyncio.wait_for(backend.append("r", msg("two"), guard=None, now_ms=2), 3)
        plain.start()  # empty: no persistence, so the room starts a new epoch
        deadline = time.monotonic() + 5
        while True:
            try:
                after = await backend.append("r", msg("three", ALEX), guard=None, now_ms=3)
                break
            except BackendUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        assert (first.entry["offset"], after.entry["offset"]) == (1, 1)
    finally:
        await backend.close()


async def test_close_during_a_connect_fails_its_waiters_as_unavailable(plain: Server) -> None:
    pipe = CommandPipe(f"redis://:pw@127.0.0.1:{plain.port}/0", connect_timeout_s=5)
    plain.pause()  # the connect waits for AUTH's reply
    try:
        waiting = asyncio.ensure_future(pipe.execute("PING"))
        await asyncio.sleep(0.1)
        await pipe.close()
        with pytest.raises(BackendUnavailable):
            await asyncio.wait_for(waiting, 2)
    finally:
        plain.resume()


async def test_a_subscription_reads_over_the_same_connection(plain: Server) -> None:
    """What RedisBackend's listener needs to leave redis-py's private ``_reader``: send
    SUBSCRIBE and PING without waiting, read every reply of one read together."""
    url = f"redis://127.0.0.1:{plain.port}/0"
    connection = await connect(RedisAddress.from_url(url), timeout_s=2)
    admin = redis.Redis.from_url(url)
    try:
        connection.send([("SUBSCRIBE", "ch1", "ch2")])
        replies: list[object] = []
        for _ in range(10):
            if len(replies) >= 2:
                break
            replies += await asyncio.wait_for(connection.read_replies(), 2)
        assert replies == [[b"subscribe", b"ch1", 1], [b"subscribe", b"ch2", 2]]
        for i in range(3):
            await admin.publish("ch2", f"m{i}")
        replies = []
        for _ in range(10):
            if len(replies) >= 3:
                break
            replies += await asyncio.wait_for(connection.read_replies(), 2)
        assert replies == [[b"message", b"ch2", f"m{i}".encode()] for i in range(3)]
        connection.send([("PING",)])
        assert await asyncio.wait_for(connection.read_replies(), 2) == [[b"pong", b""]]
    finally:
        await connection.close()
        await admin.aclose()


async def test_the_bus_subscribes_with_a_password_an_acl_user_and_tls(
    secured: Server, tls_server: Server, certificate: Path
) -> None:
    """The room bus's subscription is huddle's own connection too, from the same URL:
    AUTH (ACL user too), SELECT and TLS as the hot path's."""
    urls = [
        f"redis://:default-secret@127.0.0.1:{secured.port}/3",
        f"redis://alice:alice-secret@127.0.0.1:{secured.port}/4",
        f"rediss://:tls-secret@127.0.0.1:{tls_server.port}/2"
        f"?ssl_ca_certs={certificate / 'cert.pem'}",
    ]
    for url in urls:
        listening, posting = RedisBackend(url), RedisBackend(url)
        await listening.start()
        await posting.start()
        try:
            assert await listening.ready()
            got: list[Delivery] = []
            await listening.subscribe("bus-room", got.append)
            sent = await posting.append(
                "bus-room", msg("through the bus", room="bus-room"), guard=None, now_ms=1
            )
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.01)
            assert [d.offset for d in got] == [sent.entry["offset"]], url
            assert got[0].payload["text"] == "through the bus"
        finally:
            await listening.close()
            await posting.close()


async def test_a_bus_whose_credentials_are_refused_is_not_ready(secured: Server) -> None:
    # The subscription's PING is answered before the bus counts as connected: with the
    # wrong password it never is, and subscribing answers unavailable.
    backend = RedisBackend(f"redis://:wrong@127.0.0.1:{secured.port}/0")
    await backend.start()
    try:
        assert not await backend.ready()
        with pytest.raises(BackendUnavailable):
            await asyncio.wait_for(backend.subscribe("r", lambda d: None), 3)
    finally:
        await backend.close()


async def test_the_bus_survives_a_redis_restart(plain: Server) -> None:
    """Killed and restarted empty (no persistence): the subscription reconnects and
    resubscribes by itself, the room's clients are told to start over (a new epoch), and
    what is posted afterwards is delivered."""
    url = f"redis://127.0.0.1:{plain.port}/0"
    listening, posting = RedisBackend(url), RedisBackend(url)
    await listening.start()
    await posting.start()
    try:
        got: list[Delivery] = []
        await listening.subscribe("r", got.append)
        await posting.append("r", msg("before", room="r"), guard=None, now_ms=1)
        # Delivered before the kill: what is in flight when Redis dies is lost with it.
        for _ in range(500):
            if got:
                break
            await asyncio.sleep(0.01)
        plain.kill()
        plain.start()
        after = None
        deadline = time.monotonic() + 10
        while after is None:
            try:
                after = await posting.append(
                    "r", msg("after", ALEX, room="r"), guard=None, now_ms=2
                )
            except BackendUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        for _ in range(500):
            if got and got[-1].payload.get("text") == "after":
                break
            await asyncio.sleep(0.01)
        assert got[0].payload["text"] == "before"
        assert "reset" in [d.event for d in got[1:]]
        assert got[-1].payload["text"] == "after" and got[-1].offset == after.entry["offset"]
        assert await listening.ready()
    finally:
        await listening.close()
        await posting.close()


def test_no_redis_py_private_name_is_left() -> None:
    """The hot path and the bus's subscription use huddle's own connection: the registry
    lists no redis-py name, and the probe checks none (a Redis-less deployment does not
    depend on redis-py's internals to start)."""
    assert [n.name for n in internals.NAMES if n.owner == "redis-py"] == []
    result = internals.probe(socketio.AsyncServer(async_mode="aiohttp"))
    assert result.fatal_failures == []
    assert not any("redis" in failure for failure in result.fast_path_failures)
    for module in (bus, resp, redis_pipe, connection):
        source = inspect.getsource(module)
        for private in ("._reader", "._writer", "PubSub", ".pubsub(", ".get_message("):
            assert private not in source, (module.__name__, private)
