"""The per-member limit on signals that reach everyone without a log entry (rooms/signals.py):
typing, hands, reports. Time is an argument; no clock is read."""

from __future__ import annotations

import pytest

from rooms.codes import RATE_LIMITED
from rooms.signals import (
    FORGET_SHOWN_S,
    HAND,
    REPORT,
    SKIP,
    TYPING,
    SignalLimit,
    SignalLimiter,
    default_limits,
)


def limiter(burst: int = 3, refill_s: float = 1.0, **kw: object) -> SignalLimiter:
    return SignalLimiter(
        default_limits(burst=burst, refill_s=refill_s, report_burst=2, report_refill_s=10.0),
        **kw,  # type: ignore[arg-type]
    )


def sent(lim: SignalLimiter, kind: str, now: float, on: bool | None, user: str = "alex") -> bool:
    decision = lim.check(kind, "r1", user, now, on)
    assert decision.send or decision.refusal is None or decision.refusal.code == RATE_LIMITED
    return decision.send


def test_an_alternating_flood_reaches_the_room_as_at_most_twice_the_allowance() -> None:
    for kind in (TYPING, HAND):
        lim = limiter(burst=3, refill_s=1.0)
        # 1,000 alternating signals within half a second: three "on" and their "off".
        count = sum(sent(lim, kind, i * 0.0005, i % 2 == 0) for i in range(1000))
        assert count == 6, kind
        # One more "on" per refill after that, and its "off".
        count = sum(sent(lim, kind, 1.5 + i * 0.0005, i % 2 == 0) for i in range(1000))
        assert count == 2, kind


def test_refused_with_rate_limited_and_when_to_retry() -> None:
    lim = limiter(burst=2, refill_s=4.0)
    assert sent(lim, HAND, 0.0, True) and sent(lim, HAND, 0.0, False)
    assert sent(lim, HAND, 0.0, True) and sent(lim, HAND, 0.0, False)
    refused = lim.check(HAND, "r1", "alex", 1.0, True)
    assert not refused.send and refused.refusal is not None
    assert refused.refusal.code == RATE_LIMITED and refused.refusal.message
    assert refused.refusal.retry_after_s == pytest.approx(3.0)
    # Retrying does not push the wait back; waiting as told is enough.
    assert not sent(lim, HAND, 2.0, True)
    assert sent(lim, HAND, 4.0, True)


def test_stopping_or_lowering_what_the_room_saw_is_never_refused() -> None:
    for kind in (TYPING, HAND):
        lim = limiter(burst=1, refill_s=60.0)
        assert sent(lim, kind, 0.0, True)
        # The bucket is empty: another "on" is refused ...
        assert lim.check(kind, "r1", "alex", 1.5, True).refusal is not None
        # ... but the "off" that ends what the room shows always goes out.
        decision = lim.check(kind, "r1", "alex", 1.5, False)
        assert decision.send and decision.refusal is None, kind


def test_legitimate_use_passes() -> None:
    lim = limiter(burst=10, refill_s=1.0)
    # Raise then lower a hand, a few times in a meeting; start and stop typing around
    # each message, with the web client's refresh every 2 s while typing.
    now = 0.0
    for _ in range(30):
        assert lim.check(HAND, "r1", "alex", now, True).send
        assert lim.check(HAND, "r1", "alex", now + 0.3, False).send
        for refresh in range(3):
            assert lim.check(TYPING, "r1", "alex", now + 2 * refresh, True).refusal is None
        assert lim.check(TYPING, "r1", "alex", now + 7, False).send
        now += 8


def test_typing_repeated_within_a_second_sends_nothing_and_costs_nothing() -> None:
    lim = limiter(burst=2, refill_s=60.0)
    assert sent(lim, TYPING, 0.0, True)
    # "on" again within a second of the last one the room saw: already shown.
    assert all(lim.check(TYPING, "r1", "alex", 0.5, True) == SKIP for _ in range(100))
    assert sent(lim, TYPING, 0.6, False)
    assert sent(lim, TYPING, 0.8, True)  # the second token is still there


def test_stray_stops_and_lowered_hands_spend_a_token() -> None:
    # A hand may have been raised through another worker, so a lowering goes to the
    # backend and out; a flood of them is limited like raising.
    for kind in (TYPING, HAND):
        lim = limiter(burst=2, refill_s=60.0)
        assert sent(lim, kind, 0.0, False) and sent(lim, kind, 0.0, False)
        assert lim.check(kind, "r1", "alex", 0.0, False).refusal is not None


def test_reports_and_one_off_signals_each_spend_a_token() -> None:
    lim = limiter()
    assert sent(lim, REPORT, 0.0, None) and sent(lim, REPORT, 0.0, None)
    refused = lim.check(REPORT, "r1", "alex", 0.0, None)
    assert refused.refusal is not None and refused.refusal.retry_after_s == pytest.approx(10.0)


def test_buckets_are_per_member_per_room_per_kind() -> None:
    lim = limiter(burst=1, refill_s=60.0)
    assert sent(lim, HAND, 0.0, True)
    assert not sent(lim, HAND, 0.0, True)
    assert sent(lim, HAND, 0.0, True, user="bea")
    assert sent(lim, TYPING, 0.0, True)
    assert lim.check(HAND, "r2", "alex", 0.0, True).send


def test_a_clock_stepping_back_neither_drains_nor_overfills() -> None:
    lim = limiter(burst=2, refill_s=1.0)
    assert sent(lim, REPORT, 100.0, None)
    assert sent(lim, REPORT, 50.0, None)
    assert not sent(lim, REPORT, 50.0, None)


def test_forgotten_buckets_keep_the_table_bounded() -> None:
    lim = limiter(burst=2, refill_s=1.0, prune_every=10)
    for i in range(1000):
        # Each member sends once and goes quiet; a second later their bucket is full.
        lim.check(HAND, "r1", f"u{i}", float(i), None)
    assert lim.tracked_count < 50
    # One still shown "on" is kept a while, so its "off" stays free ...
    lim = limiter(burst=1, refill_s=60.0)
    assert sent(lim, HAND, 0.0, True)
    lim.prune(100.0)
    assert sent(lim, HAND, 100.0, False) and sent(lim, HAND, 100.0, True)
    # ... and forgotten after FORGET_SHOWN_S.
    lim.prune(100.0 + FORGET_SHOWN_S)
    assert lim.tracked_count == 0


def test_a_limit_must_allow_something() -> None:
    with pytest.raises(ValueError):
        SignalLimit(0, 1.0)
    with pytest.raises(ValueError):
        SignalLimit(1, 0.0)
    with pytest.raises(ValueError):
        SignalLimiter(default_limits(), prune_every=0)
