"""Rate: a token bucket per member per room, so no one can drown out a group.

Each member may send `rate_burst` messages back to back, then one more every
1 / `rate_refill_per_s` seconds. Facilitators are exempt: they may need to post several
messages quickly to steady a room. Slow mode (a room setting) is not this stage's: it is
a room rule, refused by the gate stage before this one runs (moderation/gate.py), so a
slow-mode refusal spends no token.

The stage keeps state (the buckets) but never reads the clock: time is `ctx.now`.
"""

import math
from collections import deque

from moderation.context import MessageContext
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Verdict, block

# Float slack so a client that waits exactly `retry_after_s` is let through.
_EPSILON = 1e-9

# Look for forgettable buckets at least this often (in checks). After a prune that leaves
# more buckets than this, the next one waits as many checks as buckets were left, so a
# prune's full scan costs O(1) per message and the table at most doubles in between.
PRUNE_EVERY = 1024


class _Bucket:
    __slots__ = ("flood_at", "forget_at", "refusals", "tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens  # as of `updated`
        self.updated = now
        self.refusals: deque[float] | None = None  # times of the latest refusals
        self.flood_at: float | None = None  # when facilitators were last alerted
        # From this time on the bucket is indistinguishable from a new one (full, and no
        # refusal or alert inside the flag window), so it can be dropped.
        self.forget_at = now


class RateStage:
    name = "rate"

    def __init__(self, prune_every: int = PRUNE_EVERY) -> None:
        if prune_every < 1:
            raise ValueError("prune_every must be at least 1")
        self._prune_every = prune_every
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._checks_until_prune = prune_every

    @property
    def tracked_count(self) -> int:
        """How many (room, member) buckets are held in memory."""
        return len(self._buckets)

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator:
            return ALLOW
        now, policy = ctx.now, ctx.policy
        self._checks_until_prune -= 1
        if self._checks_until_prune <= 0:
            self.prune(now)

        key = (ctx.room, ctx.sender_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(policy.rate_burst), now)
        else:
            # max(): a clock that steps back must not drain or overfill the bucket.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(
                float(policy.rate_burst), bucket.tokens + elapsed * policy.rate_refill_per_s
            )
            bucket.updated = max(bucket.updated, now)

        if bucket.tokens >= 1 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1)
            verdict = ALLOW
        else:
            # A refused message spends nothing, so retrying does not push the wait back.
            verdict = _refuse(bucket, policy, now)
        bucket.forget_at = _forget_at(bucket, policy)
        return verdict

    def prune(self, now: float) -> int:
        """Forget buckets that a fresh bucket would replace exactly; returns how many."""
        stale = [key for key, bucket in self._buckets.items() if bucket.forget_at <= now]
        for key in stale:
            del self._buckets[key]
        # Fixed here, not compared with the live size on each check: a threshold that
        # grows with the table would never be reached once the table outgrows it.
        self._checks_until_prune = max(self._prune_every, len(self._buckets))
        return len(stale)


def _refuse(bucket: _Bucket, policy: ModerationPolicy, now: float) -> Verdict:
    retry_after_s = (1 - bucket.tokens) / policy.rate_refill_per_s
    # Only the latest rate_flag_after + 1 refusals matter, so that is all we keep.
    keep = policy.rate_flag_after + 1
    if bucket.refusals is None or bucket.refusals.maxlen != keep:
        bucket.refusals = deque(bucket.refusals or (), maxlen=keep)
    bucket.refusals.append(now)

    window = policy.rate_flag_window_s
    flooding = len(bucket.refusals) == keep and now - bucket.refusals[0] < window
    # Alert facilitators once per window, not on every refused message.
    alerted_recently = bucket.flood_at is not None and now - bucket.flood_at < window
    reason = _reason(retry_after_s)
    if flooding and not alerted_recently:
        bucket.flood_at = now
        return block(
            "rate.flood",
            "rate_limited",
            reason,
            retry_after_s=retry_after_s,
            alert="flood",
            alert_reason=(
                f"Kept sending faster than the room allows: {len(bucket.refusals)} messages "
                f"refused within {round(window)} s."
            ),
        )
    return block("rate.limited", "rate_limited", reason, retry_after_s=retry_after_s)


def _forget_at(bucket: _Bucket, policy: ModerationPolicy) -> float:
    full_at = bucket.updated + (policy.rate_burst - bucket.tokens) / policy.rate_refill_per_s
    window = policy.rate_flag_window_s
    last_refusal = bucket.refusals[-1] if bucket.refusals else -math.inf
    last_alert = bucket.flood_at if bucket.flood_at is not None else -math.inf
    return max(full_at, last_refusal + window, last_alert + window)


def _reason(retry_after_s: float) -> str:
    # Kind, and concrete about the wait: a vague "slow down" reads as a telling-off.
    return f"You're sending messages quickly — please wait {_wait(retry_after_s)}, then send again."


def _wait(retry_after_s: float) -> str:
    seconds = max(1, math.ceil(retry_after_s))
    if seconds < 90:
        return "about 1 second" if seconds == 1 else f"about {seconds} seconds"
    return f"about {math.ceil(seconds / 60)} minutes"
