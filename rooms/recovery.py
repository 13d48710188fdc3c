"""Deciding what a (re)joining client receives: every missed entry, or a fresh page.

Never a partial recovery: either the client's position is still inside the retained log
of the same epoch and it gets everything after it, or it is told ``recovered: false``
and gets the latest page to start over from.
"""

from __future__ import annotations

from dataclasses import dataclass


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
