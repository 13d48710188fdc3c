"""Redis Cluster for huddle's own connections: which master serves a slot, and the hot
path's pipes routed to it.

A room's keys and its channel share the ``{room}`` hash tag, so everything of a room is
in one slot: a script runs on that slot's master, and the room's channel is a sharded
pub/sub channel (SSUBSCRIBE/SPUBLISH) served by the same shard. `SlotMap` reads which
master serves each slot (CLUSTER SLOTS) from any node that answers — the configured seeds
first, then every node seen since — and reads it again after a redirect or a failed
connection (one read at a time, at most every `REFRESH_INTERVAL_S`), so commands follow a
slot that moved (MOVED), one moving now (ASK: the command is sent once to the importing
node after ASKING) and a master replaced by its replica. `ClusterPipe` keeps one
`CommandPipe` per master (many commands in flight on one connection each).

What is not followed here fails as `BackendUnavailable` (the request answers
``unavailable``, and the member's client retries): a connection lost with commands in
flight (their outcome is unknown; a retried append is deduplicated by its client_id), a
slot with no master (CLUSTERDOWN) until a replica takes over, TRYAGAIN while a slot's keys
are split by a migration.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from redis.crc import key_slot as _key_slot
from redis.exceptions import ResponseError

from chatserver.backend import BackendUnavailable
from chatserver.redis_pipe import CommandPipe, ReplicationShort
from chatserver.resp import Arg, RedisAddress, RedisLinkError, connect

log = logging.getLogger(__name__)

SLOTS = 16384
REFRESH_INTERVAL_S = 0.25
MAX_REDIRECTS = 3


def key_slot(key: str | bytes) -> int:
    """The slot of a key or shard channel (its ``{hash tag}`` if it has one)."""
    return int(_key_slot(key.encode() if isinstance(key, str) else key))


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterSeeds:
    """HUDDLE_REDIS_CLUSTER: nodes to learn the cluster from, ``host:port`` comma-separated
    (or ``redis://[user:password@]host:port`` URLs: the first one's credentials are used on
    every node)."""

    nodes: tuple[RedisAddress, ...]

    @classmethod
    def parse(cls, raw: str) -> ClusterSeeds:
        nodes: list[RedisAddress] = []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            url = part if "://" in part else f"redis://{part}"
            address = RedisAddress.from_url(url)
            if address.unix_path is not None or address.tls:
                raise ValueError("cluster nodes are host:port (no unix sockets, no TLS yet)")
            if address.db:
                raise ValueError("a Redis Cluster has only database 0")
            if ":" not in part.rsplit("@", 1)[-1].split("/", 1)[0].removeprefix("redis://"):
                raise ValueError(f"a cluster node is host:port, {address.host!r} has no port")
            nodes.append(address)
        if not nodes:
            raise ValueError("name at least one cluster node as host:port")
        first = nodes[0]
        # One set of credentials for the whole cluster (Redis Cluster shares its ACLs).
        nodes = [
            dataclasses.replace(n, username=first.username, password=first.password) for n in nodes
        ]
        return cls(tuple(nodes))

    def node(self, host: str, port: int) -> RedisAddress:
        """The address of a node the cluster named, with the seeds' credentials."""
        return dataclasses.replace(self.nodes[0], host=host, port=port)

    def describe(self) -> str:
        return ",".join(f"{n.host}:{n.port}" for n in self.nodes)


class SlotMap:
    """Which master serves each slot, as the cluster last said."""

    def __init__(self, seeds: ClusterSeeds, *, timeout_s: float) -> None:
        self.seeds = seeds
        self._timeout_s = timeout_s
        self._masters: list[RedisAddress | None] = [None] * SLOTS
        self._replicas: list[int] = [0] * SLOTS
        self._known: dict[tuple[str, int], RedisAddress] = {
            (n.host, n.port): n for n in seeds.nodes
        }
        self._refreshing: asyncio.Task[None] | None = None
        self._refreshed_at = float("-inf")
        self.refreshes = 0

    def master(self, slot: int) -> RedisAddress | None:
        return self._masters[slot]

    def replicas(self, slot: int) -> int:
        """How many live replicas the slot's master has (failed ones are not listed)."""
        return self._replicas[slot]

    def masters(self) -> list[RedisAddress]:
        """Every master serving at least one slot."""
        return list(dict.fromkeys(m for m in self._masters if m is not None))

    def moved(self, slot: int, host: str, port: int) -> RedisAddress:
        """A MOVED reply: the slot is served elsewhere now (the rest is re-read soon)."""
        address = self._known.setdefault((host, port), self.seeds.node(host, port))
        self._masters[slot] = address
        self.refresh_soon()
        return address

    def refresh_soon(self) -> None:
        """Re-read the map in the background (at most one read at a time, and not more
        often than REFRESH_INTERVAL_S)."""
        loop = asyncio.get_running_loop()
        if self._refreshing is None and loop.time() - self._refreshed_at >= REFRESH_INTERVAL_S:
            self._refreshing = loop.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(BackendUnavailable):
            await self.refresh()

    async def refresh(self) -> None:
        """Read the map from the first node that answers; BackendUnavailable if none does."""
        loop = asyncio.get_running_loop()
        self._refreshed_at = loop.time()
        try:
            # Masters first (the nodes most likely to be current), then everyone seen.
            candidates = list(dict.fromkeys([*self.masters(), *self._known.values()]))
            errors: list[str] = []
            for address in candidates:
                try:
                    reply = await self._cluster_slots(address)
                except (RedisLinkError, OSError, TimeoutError, ResponseError) as exc:
                    errors.append(f"{address.host}:{address.port}: {exc}")
                    continue
                self._apply(address, reply)
                self.refreshes += 1
                return
            raise BackendUnavailable("no Redis Cluster node answered: " + "; ".join(errors))
        finally:
            self._refreshing = None
            self._refreshed_at = loop.time()

    async def _cluster_slots(self, address: RedisAddress) -> Any:
        async with asyncio.timeout(self._timeout_s):
            connection = await connect(address, timeout_s=self._timeout_s)
            try:
                connection.send([("CLUSTER", "SLOTS")])
                (reply,) = (await connection.read_replies())[:1]
            finally:
                connection.abort()
        if isinstance(reply, Exception):
            raise ResponseError(str(reply))
        return reply

    def _apply(self, asked: RedisAddress, reply: list[Any]) -> None:
        masters: list[RedisAddress | None] = [None] * SLOTS
        replicas = [0] * SLOTS
        for start, end, master, *_replicas in reply:
            host = master[0].decode() if master[0] else asked.host  # '' means "this node"
            port = int(master[1])
            address = self._known.setdefault((host, port), self.seeds.node(host, port))
            for slot in range(int(start), int(end) + 1):
                masters[slot] = address
                replicas[slot] = len(_replicas)
            for replica in _replicas:
                r_host, r_port = replica[0].decode() or asked.host, int(replica[1])
                self._known.setdefault((r_host, r_port), self.seeds.node(r_host, r_port))
        self._masters = masters
        self._replicas = replicas


async def keep_refreshing(slots: SlotMap, every_s: float = 5.0) -> None:
    """Re-read the map now and then even when nothing failed: a replica that joined (a
    restarted master) is counted again for WAIT."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(BackendUnavailable):
            await slots.refresh()


class ClusterPipe:
    """`CommandPipe`s to each master, a command sent to its slot's master."""

    def __init__(
        self,
        seeds: ClusterSeeds,
        *,
        connect_timeout_s: float,
        dead_after_s: float = 2.0,
        fail_fast_s: float = 0.5,
    ) -> None:
        self.slots = SlotMap(seeds, timeout_s=connect_timeout_s)
        self._connect_timeout_s = connect_timeout_s
        self._dead_after_s = dead_after_s
        self._fail_fast_s = fail_fast_s
        self._pipes: dict[RedisAddress, CommandPipe] = {}
        # Per master, as RedisConnection does for one Redis: after its connection failed,
        # its slots' commands fail at once for a while — and only its slots', so a dead
        # master's rooms answer `unavailable` at once while every other room carries on.
        self._down_until: dict[RedisAddress, float] = {}

    def _pipe(self, address: RedisAddress) -> CommandPipe:
        pipe = self._pipes.get(address)
        if pipe is None:
            pipe = CommandPipe(
                address, connect_timeout_s=self._connect_timeout_s, dead_after_s=self._dead_after_s
            )
            self._pipes[address] = pipe
        return pipe

    async def master_for(self, slot: int) -> RedisAddress:
        address = self.slots.master(slot)
        if address is None:
            await self.slots.refresh()
            address = self.slots.master(slot)
            if address is None:
                raise BackendUnavailable(f"no Redis Cluster master serves slot {slot}")
        return address

    async def execute(self, slot: int, *args: Arg, wait_replicas: int = 0, wait_ms: int = 0) -> Any:
        """One command on ``slot``'s master, following MOVED and ASK. With
        ``wait_replicas``, its reply only once that many replicas have it — or as many as
        the master has now: a shard whose replica took over has none until another joins,
        and stays writable meanwhile (else `ReplicationShort`, a BackendUnavailable: the
        command ran, but may not survive its master)."""
        address = await self.master_for(slot)
        wait_replicas = min(wait_replicas, self.slots.replicas(slot))
        asking = False
        loop = asyncio.get_running_loop()
        for _ in range(MAX_REDIRECTS + 1):
            if loop.time() < self._down_until.get(address, 0.0):
                self.slots.refresh_soon()
                raise BackendUnavailable(
                    f"Redis Cluster node {address.host}:{address.port} is down"
                )
            pipe = self._pipe(address)
            try:
                if wait_replicas:
                    return await pipe.execute_replicated(wait_replicas, wait_ms, *args)
                return await pipe.execute(*args, asking=asking)
            except RedisLinkError as exc:
                if not isinstance(exc, ReplicationShort):
                    self._down_until[address] = loop.time() + self._fail_fast_s
                # A master gone, perhaps for good: read the map again (its replica may
                # be serving the slot already, or soon).
                self.slots.refresh_soon()
                raise
            except ResponseError as exc:
                kind, _, rest = str(exc).partition(" ")
                if kind not in ("MOVED", "ASK"):
                    if kind in ("CLUSTERDOWN", "TRYAGAIN"):
                        self.slots.refresh_soon()
                        raise BackendUnavailable(str(exc)) from exc
                    raise
                slot_s, _, target = rest.partition(" ")
                host, _, port_s = target.rpartition(":")
                if kind == "MOVED":
                    address = self.slots.moved(int(slot_s), host, int(port_s))
                    asking = False
                else:
                    # Only this command goes to the importing node; the slot stays put.
                    address = self.slots.seeds.node(host, int(port_s))
                    asking = True
        raise BackendUnavailable(f"slot {slot}: too many redirects")

    async def close(self) -> None:
        pipes, self._pipes = list(self._pipes.values()), {}
        for pipe in pipes:
            await pipe.close()
