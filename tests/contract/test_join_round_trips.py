"""A join costs the Redis backend one round trip: one script, whatever the joiner asks.

Counted, not timed: MONITOR on the test's own redis-server lists every command a client
sent (commands a script runs are tagged ``lua`` and are not round trips), between two
ECHO markers sent after the previous ack and after the join's ack.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.client import Monitor

from tests.conftest import Client, Server, make_settings, make_token, open_client, start_server
from tests.redis_server import RedisServer


@pytest.fixture
async def redis_worker(redis_server: RedisServer) -> AsyncIterator[Server]:
    flush = redis.Redis.from_url(redis_server.url)
    await flush.flushdb()
    await flush.aclose()
    server, runner = await start_server(make_settings(redis_url=redis_server.url))
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def commands(redis_server: RedisServer) -> AsyncIterator[Commands]:
    client = redis.Redis.from_url(redis_server.url)
    async with client.monitor() as monitor:
        yield Commands(client, monitor)
    await client.aclose()


class Commands:
    """The commands clients send to Redis between two marks."""

    def __init__(self, client: redis.Redis, monitor: Monitor) -> None:
        self._client = client
        self._monitor = monitor
        self.senders: list[str] = []
        """The connection each command of the last `between` came on (address:port)."""

    async def mark(self) -> str:
        marker = f"mark-{uuid.uuid4().hex}"
        await self._client.echo(marker)
        return marker

    async def between(self, start: str, end: str, late: str | None = None) -> list[list[str]]:
        """The commands (as argument lists) sent after ``start`` and before ``end``; with
        ``late``, also that one command if it comes after ``end`` (work the server does
        after an ack, which no later request of the client is ordered behind)."""
        seen: list[list[str]] = []
        self.senders = []
        started = ended = False
        async with asyncio.timeout(10):
            while not ended or (late is not None and late not in (a[0] for a in seen)):
                command: dict[str, Any] = await self._monitor.next_command()
                args = command["command"].split()
                if args[:2] == ["ECHO", start]:
                    started = True
                elif args[:2] == ["ECHO", end]:
                    ended = True
                elif (
                    not started
                    or command["client_type"] == "lua"
                    or _presence_refresh(args)
                    or args[0] in _HOUSEKEEPING
                    or not any("{r1}" in arg for arg in args)
                ):
                    continue
                elif not ended or args[0] == late:
                    seen.append(args)
                    self.senders.append(f"{command['client_address']}:{command['client_port']}")
        return seen


# What connections send for themselves, whatever the join does: a new connection's
# handshake (redis-py's HELLO, AUTH, SELECT, CLIENT SETNAME) and the subscription's
# keepalive PING. Counted, they made this test fail under load (a slow run opens a pool
# connection or crosses a keepalive period between the marks). Commands touching no key
# of the room (the organiser's revocation poll) are other work running meanwhile.
_HOUSEKEEPING = frozenset({"HELLO", "AUTH", "SELECT", "CLIENT", "PING"})


def _presence_refresh(args: list[str]) -> bool:
    # Each worker refreshes its members' presence every few seconds, whatever happens.
    return args[0] == "EVALSHA" and "refresh" in args


async def member(server: Server, user: str, role: str = "member") -> Client:
    return await open_client(server.url, make_token(user, {"r1": role}))


async def test_a_rooms_first_join_on_a_worker_subscribes_and_runs_one_script(
    redis_worker: Server, commands: Commands
) -> None:
    """The subscription must be in effect before the script publishes "joined" and reads
    the members (tests/integration/test_simultaneous_joins.py), so these two are in
    turn; where live delivery starts is the script's own read, not a third. And they are
    one round trip: the script is written on the subscription's own connection right
    behind the SUBSCRIBE (RESP3), which Redis runs in the order written, not sent on the
    command connection once the SUBSCRIBE's confirmation came back."""
    # Another room's join first: Redis loads the scripts on their first use (NOSCRIPT,
    # SCRIPT LOAD, the script again), once.
    warm = await open_client(redis_worker.url, make_token("zed", {"r0": "member"}))
    assert (await warm.call("join", {"room": "r0"}))["ok"]
    alex = await member(redis_worker, "alex")
    start = await commands.mark()
    assert (await alex.call("join", {"room": "r1"}))["ok"]
    end = await commands.mark()
    sent = await commands.between(start, end)
    assert [args[0] for args in sent] == ["SUBSCRIBE", "EVALSHA"], sent
    subscription, script = commands.senders
    assert script == subscription, "the script waited for the SUBSCRIBE's answer"

    # And live delivery starts where that read said: the next message arrives once.
    bea = await member(redis_worker, "bea")
    assert (await bea.call("join", {"room": "r1"}))["ok"]
    assert (await bea.send("r1", "first"))["ok"]
    assert (await alex.send("r1", "second"))["ok"]
    got = await alex.wait_count("message", 2)
    assert [(m["offset"], m["text"]) for m in got] == [(1, "first"), (2, "second")]


async def test_a_join_is_one_script(redis_worker: Server, commands: Commands) -> None:
    alex = await member(redis_worker, "alex")
    # The room's first join on this worker also subscribes it (above); later joins find
    # it subscribed.
    assert (await alex.call("join", {"room": "r1"}))["ok"]
    assert (await alex.send("r1", "morning all"))["ok"]

    bea = await member(redis_worker, "bea")
    start = await commands.mark()
    held = [str(uuid.uuid4()), str(uuid.uuid4())]  # asks about own held messages too
    joined = await bea.call("join", {"room": "r1", "held": held})
    end = await commands.mark()
    assert joined["ok"] and [e["text"] for e in joined["entries"]] == ["morning all"]
    sent = await commands.between(start, end)
    assert [args[0] for args in sent] == ["EVALSHA"], sent

    # A reconnect recovering from an offset, and a second tab: one script each.
    start = await commands.mark()
    since = {"offset": 0, "epoch": joined["room"]["epoch"]}
    again = await alex.call("join", {"room": "r1", "since": since})
    end = await commands.mark()
    assert again["recovered"] is True
    assert [args[0] for args in await commands.between(start, end)] == ["EVALSHA"]

    # A facilitator's join reads the held messages and open alerts in the same script;
    # after its ack, one more read catches alerts raised while it joined.
    sam = await member(redis_worker, "sam", "facilitator")
    start = await commands.mark()
    joined = await sam.call("join", {"room": "r1"})
    assert joined["ok"] and joined["held"] == [] and joined["alerts"] == []
    await sam.call("typing", {"room": "r1", "active": False})
    end = await commands.mark()
    sent = await commands.between(start, end, late="HVALS")
    assert sorted(args[0] for args in sent) == ["EVALSHA", "HVALS", "PUBLISH"], sent


async def test_a_leave_is_one_script(redis_worker: Server, commands: Commands) -> None:
    """Removing the presence, lowering a raised hand and publishing the numbered "left"
    with the members read in the same step: one script (on main, four commands: the
    presence script, HVALS of the hands, the presence script listing, PUBLISH). The
    lowered hand's event is the one more."""
    # Another room's leave first: Redis loads the script on its first use (NOSCRIPT,
    # SCRIPT LOAD, the script again), once.
    warm = await open_client(redis_worker.url, make_token("zed", {"r0": "member"}))
    assert (await warm.call("join", {"room": "r0"}))["ok"]
    assert (await warm.call("leave", {"room": "r0"}))["ok"]
    alex, bea, cara = [await member(redis_worker, u) for u in ("alex", "bea", "cara")]
    for c in (alex, bea, cara):
        assert (await c.call("join", {"room": "r1"}))["ok"]

    start = await commands.mark()
    assert (await bea.call("leave", {"room": "r1"}))["ok"]
    end = await commands.mark()
    assert [args[0] for args in await commands.between(start, end)] == ["EVALSHA"]

    assert (await cara.call("hand", {"room": "r1", "raised": True}))["ok"]
    start = await commands.mark()
    assert (await cara.call("leave", {"room": "r1"}))["ok"]
    end = await commands.mark()
    assert [args[0] for args in await commands.between(start, end)] == ["EVALSHA", "PUBLISH"]
    lowered = await alex.wait_for("hand", lambda h: not h["raised"])
    assert lowered["user"]["id"] == "cara" and lowered["hands"] == []
    left = [p["left"]["id"] for p in alex.got("presence") if "left" in p]
    assert left == ["bea", "cara"]
