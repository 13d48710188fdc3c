"""Who may connect with a server-issued credential, and ending a place at once.

A member's session credential names their membership (``mid``). At connect every worker
asks the store whether that place goes on, so a removed member cannot come back through
any worker. Their live connections end at once: on the worker that handled the removal
directly, on every other worker within ``HUDDLE_REVOCATION_POLL_S``, because each worker
reads the shared revocation list (the store's, in Redis). A list read on a timer rather
than a pub/sub message: nothing is lost while a worker reconnects to Redis, and it needs
only the commands a Redis Cluster serves from one shard. External tokens (no ``mid``) are
never asked about: they keep working as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chatserver.auth import Claims
from chatserver.organise.organiser import OrganiseError, Organiser
from chatserver.organise.records import Member
from chatserver.organise.store import OrganiserStore

log = logging.getLogger(__name__)

OVERLAP_MS = 10_000
"""Revocations are read again this far back: workers' clocks differ a little."""


class Access:
    def __init__(
        self,
        store: OrganiserStore,
        end_local: Callable[[str], int],
        clock: Callable[[], int],
        *,
        poll_s: float,
    ) -> None:
        self._store = store
        self._end_local = end_local
        self._clock = clock
        self._poll_s = poll_s
        self._ended: dict[str, int] = {}
        self.organiser: Organiser | None = None

    def ended(self, member: Member) -> None:
        """A place just ended on this worker: its connections here go now."""
        self._ended[member["id"]] = member["removed_ms"] or self._clock()
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
        for revoked in await self._store.revocations_since(since_ms - OVERLAP_MS):
            newest = max(newest, revoked["ts"])
            if revoked["member_id"] in self._ended:
                continue
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
