"""Deciding what a (re)joining client receives: every missed entry, or a fresh page.

Never a partial recovery: either the client's position is still inside the retained log
of the same epoch and it gets everything after it, or it is told ``recovered: false``
and gets the latest page to start over from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Since:
    """The last position a client saw in a room."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class ReadPlan:
    recovered: bool
    after: int | None
    """Read the entries with an offset above this; ``None`` means the latest page."""


def plan_read(since: Since | None, *, epoch: str, offset: int, first_offset: int) -> ReadPlan:
    """Where to read from for a join.

    ``offset`` is the room's last offset, ``first_offset`` the oldest one still retained
    (``offset + 1`` when the log is empty).
    """
    if since is None or since.epoch != epoch:
        return ReadPlan(recovered=False, after=None)
    if since.offset > offset:
        # The client claims to have seen entries this log never wrote: trust the log.
        return ReadPlan(recovered=False, after=None)
    if since.offset < first_offset - 1:
        # Entries the client missed were trimmed away: a partial recovery would hide a gap.
        return ReadPlan(recovered=False, after=None)
    return ReadPlan(recovered=True, after=since.offset)


LOST: Final = "lost"
"""The room's log is not the one the client was reading: Redis restarted empty, the room
expired, the process holding it restarted. Nothing before the new log can be read again."""
TRIMMED: Final = "trimmed"
"""The client was away longer than the history kept: what it missed was trimmed."""
ROLLED_BACK: Final = "rolled_back"
"""The log the client was reading lost its last few entries (its Redis master died before
a replica had them) and goes on under a new epoch: the history before them is all there,
but the client may have seen messages that are not, and should not trust what it last saw."""


def history_gap(
    since: Since | None, *, epoch: str, offset: int, recovered: bool, rolled_back_from: str = ""
) -> str | None:
    """Why a rejoining client got a fresh page rather than what it missed, in the words
    the join ack uses (``history``): ``LOST``, ``TRIMMED`` or ``ROLLED_BACK``; None when
    nothing was missed (recovered) or the client had no position (a first join)."""
    if since is None or recovered:
        return None
    if rolled_back_from and since.epoch == rolled_back_from:
        return ROLLED_BACK
    if since.epoch != epoch or since.offset > offset:
        # Another log, or this one without entries the client saw (a restart that lost
        # the newest writes): the words before are gone, not merely out of reach.
        return LOST
    return TRIMMED
