"""Signals: what a member sends that reaches others but leaves no log entry — typing, a
raised hand, a report, leaving (and so rejoining) a room — limited per member per room, so
that no one can flood the room.

A message is bounded by moderation's rate stage; these are not, and each one is fanned
out to every member (a report to every facilitator). Without a limit, one member sending
typing alternately true and false, or raising and lowering a hand in a loop, reached every
member with every event (10,000 of each in 5 s: issue 12, item 4).

The rule, per kind of signal, per member, per room: a token bucket (``burst`` back to
back, then one more every ``refill_s``).

- Turning a signal on (typing, raising a hand) or a one-off signal (a report, a
  facilitator lowering every hand, an explicit ``leave``, whose rejoin announces
  "joined" again) spends a token.
- Turning it off after the room saw it on is always free and always sent, so what a
  member shows never sticks (stop typing, lower your hand) and legitimate use is never
  refused: a flood alternating on and off reaches the room as at most twice the
  bucket's allowance.
- Turning it off when the room did not see it on spends a token, like turning it on: a
  hand may have been raised through another worker, so it still goes to the backend
  and out, but a flood of them is bounded too.
- Repeating "on" within ``coalesce_s`` of the last one the room saw is ignored (typing
  refreshes every two seconds in the web client; once a second is plenty).

An over-limit signal is refused with ``rate_limited`` and the seconds until a token is
back; nothing is sent. Pure: time is an argument (monotonic seconds), no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rooms.codes import RATE_LIMITED
from rooms.policy import Refusal

TYPING = "typing"
HAND = "hand"
REPORT = "report"
LEAVE = "leave"
REACT = "react"
"""Support reactions and quiet statuses: logged, but limited per member like signals."""

# Float slack so a client that waits exactly `retry_after_s` is let through.
_EPSILON = 1e-9
# A bucket that is full again and shows nothing is forgotten; one still showing "on" is
# forgotten this long after it was last sent (its "off" then simply costs a token).
FORGET_SHOWN_S = 600.0
PRUNE_EVERY = 1024


@dataclass(frozen=True, slots=True)
class SignalLimit:
    burst: int
    """Signals that may be sent back to back."""
    refill_s: float
    """Seconds until one more may be sent."""
    message: str = "You're doing that very quickly. Please wait a moment, then try again."
    coalesce_s: float = 0.0
    """An "on" repeated within this long of the last one the room saw is not sent."""

    def __post_init__(self) -> None:
        if self.burst < 1 or not self.refill_s > 0:
            raise ValueError("a signal limit needs burst >= 1 and refill_s > 0")


@dataclass(frozen=True, slots=True)
class SignalDecision:
    send: bool
    """Fan it out (and store it, for a hand)."""
    refusal: Refusal | None = None
    """Over the limit: the error ack to answer with (nothing is sent)."""


SEND = SignalDecision(True)
SKIP = SignalDecision(False)


def default_limits(
    *, burst: int = 10, refill_s: float = 1.0, report_burst: int = 5, report_refill_s: float = 30.0
) -> dict[str, SignalLimit]:
    """The limits of each kind (chatserver/config.py: HUDDLE_SIGNAL_* and HUDDLE_REPORT_*)."""
    return {
        TYPING: SignalLimit(
            burst,
            refill_s,
            "Typing updates are coming too quickly. Please wait a moment.",
            coalesce_s=1.0,
        ),
        HAND: SignalLimit(
            burst,
            refill_s,
            "You're raising and lowering your hand very quickly. Please wait a moment.",
        ),
        LEAVE: SignalLimit(
            burst,
            refill_s,
            "You're leaving and rejoining very quickly. Please wait a moment.",
        ),
        REPORT: SignalLimit(
            report_burst,
            report_refill_s,
            "Thank you: facilitators have your reports. Please wait a moment before sending "
            "another.",
        ),
        REACT: SignalLimit(
            burst,
            refill_s * 2,
            "You're reacting very quickly. Please wait a moment.",
        ),
    }


class _Bucket:
    __slots__ = ("shown", "shown_at", "tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens  # as of `updated`
        self.updated = now
        self.shown = False  # the room last saw this signal on
        self.shown_at = -math.inf


class SignalLimiter:
    """The buckets of one worker (a member connected to two workers has one on each)."""

    def __init__(self, limits: Mapping[str, SignalLimit], prune_every: int = PRUNE_EVERY) -> None:
        if prune_every < 1:
            raise ValueError("prune_every must be at least 1")
        self._limits = dict(limits)
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._prune_every = prune_every
        self._checks_until_prune = prune_every

    @property
    def tracked_count(self) -> int:
        return len(self._buckets)

    def check(
        self, kind: str, room: str, user_id: str, now: float, on: bool | None = None
    ) -> SignalDecision:
        """May this signal go out? ``on``: True turns it on, False off, None a one-off."""
        limit = self._limits[kind]
        self._checks_until_prune -= 1
        if self._checks_until_prune <= 0:
            self.prune(now)
        key = (kind, room, user_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
        else:
            # max(): a clock that steps back must not drain or overfill the bucket.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed / limit.refill_s)
            bucket.updated = max(bucket.updated, now)
        if on is False and bucket.shown:
            bucket.shown = False
            return SEND
        if on is True and bucket.shown and now - bucket.shown_at < limit.coalesce_s:
            return SKIP
        if bucket.tokens >= 1 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1)
            if on is True:
                bucket.shown, bucket.shown_at = True, now
            return SEND
        # A refused signal spends nothing, so retrying does not push the wait back.
        wait = math.ceil((1 - bucket.tokens) * limit.refill_s * 1000) / 1000
        return SignalDecision(False, Refusal(RATE_LIMITED, limit.message, max(wait, 0.001)))

    def prune(self, now: float) -> None:
        """Forget buckets indistinguishable from new ones (full, showing nothing)."""
        for key, bucket in list(self._buckets.items()):
            limit = self._limits[key[0]]
            full_at = bucket.updated + (limit.burst - bucket.tokens) * limit.refill_s
            if now < full_at:
                continue
            if bucket.shown and now - bucket.shown_at < FORGET_SHOWN_S:
                continue
            del self._buckets[key]
        left = len(self._buckets)
        self._checks_until_prune = max(self._prune_every, left)
