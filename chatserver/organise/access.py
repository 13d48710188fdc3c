"""Who may connect with a server-issued credential, and ending a place at once.

A member's session credential names their membership (``mid``). At connect every worker
asks the store whether that place goes on, so a removed member cannot come back through
any worker. Their live connections end at once, in two ways: the removal is logged in the
group's room like a facilitator's (every worker takes them out of the room as it delivers
it, and their client says so), and their connections are closed — on the worker that
handled the removal a moment after that entry, on every other worker within
``HUDDLE_REVOCATION_POLL_S``, because each worker reads the shared revocation list (the
store's, in Redis). A list read on a timer rather
than a pub/sub message: nothing is lost while a worker reconnects to Redis, and it needs
only the commands a Redis Cluster serves from one shard. External tokens (no ``mid``) are
never asked about: they keep working as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chatserver.auth import Claims
from chatserver.organise.organiser import OrganiseError, Organiser
from chatserver.organise.records import Member
from chatserver.organise.store import OrganiserStore

log = logging.getLogger(__name__)

OVERLAP_MS = 10_000
"""Revocations are read again this far back: workers' clocks differ a little."""
ANNOUNCED_S = 0.3
"""Connections are closed this long after the removal is logged, so the client hears it
(and says so) before its transport ends."""
REMOVED_REASON = "The group's organiser has ended your place in this group."


class Access:
    def __init__(
        self,
        store: OrganiserStore,
        end_local: Callable[[str], int],
        announce: Callable[[Member, str], Awaitable[None]],
        clock: Callable[[], int],
        *,
        poll_s: float,
    ) -> None:
        self._store = store
        self._end_local = end_local
        self._announce = announce
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._poll_s = poll_s
        self._ended: dict[str, int] = {}
        self.organiser: Organiser | None = None

    def ended(self, member: Member) -> None:
        """A place just ended on this worker: logged in its room, its connections closed."""
        self._ended[member["id"]] = member["removed_ms"] or self._clock()
        task = asyncio.get_running_loop().create_task(self._end(member))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end(self, member: Member) -> None:
        try:
            await self._announce(member, REMOVED_REASON)
        except Exception:
            # The connections still close below, and no worker admits them again.
            log.warning("removal of %s not logged in %s", member["id"], member["room"])
        await asyncio.sleep(ANNOUNCED_S)
        closed = self._end_local(member["id"])
        log.info("membership %s ended: %d connection(s) closed here", member["id"], closed)

    async def admit(self, claims: Claims) -> str | None:
        """None to let a connection in; else the reason it is refused, for the person."""
        if claims.membership is None or self.organiser is None:
            return None
        try:
            await self.organiser.admitted(claims)
        except OrganiseError as exc:
            return f"unauthorized: {exc}"
        except Exception:
            log.warning("cannot check a membership: organiser store unavailable", exc_info=True)
            return "unavailable: the server cannot check your place right now; please try again"
        return None

    async def poll_once(self, since_ms: int) -> int:
        """End the connections here of places ended since ``since_ms``; the newest time seen."""
        newest = since_ms
        settled = self._clock() - int(ANNOUNCED_S * 1000)
        for revoked in await self._store.revocations_since(since_ms - OVERLAP_MS):
            if revoked["member_id"] in self._ended or revoked["ts"] > settled:
                continue  # done already, or its room entry may still be on its way
            newest = max(newest, revoked["ts"])
            self._ended[revoked["member_id"]] = revoked["ts"]
            closed = self._end_local(revoked["member_id"])
            if closed:
                log.info(
                    "membership %s ended elsewhere: %d connection(s) closed here",
                    revoked["member_id"],
                    closed,
                )
        horizon = newest - 2 * OVERLAP_MS
        for member_id in [m for m, ts in self._ended.items() if ts < horizon]:
            del self._ended[member_id]
        return newest

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def watch_forever(self) -> None:
        since = self._clock()
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                since = await self.poll_once(since)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("revocation list unreadable; trying again", exc_info=True)
