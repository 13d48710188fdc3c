"""plan_read: every missed entry, or recovered false and the latest page; never a gap."""

import pytest

from rooms.recovery import LOST, ROLLED_BACK, TRIMMED, ReadPlan, Since, history_gap, plan_read

LATEST = ReadPlan(recovered=False, after=None)


def plan(since: Since | None, *, offset: int = 10, first: int = 1, epoch: str = "e1") -> ReadPlan:
    return plan_read(since, epoch=epoch, offset=offset, first_offset=first)


def test_first_join_gets_the_latest_page_not_recovered() -> None:
    assert plan(None) == LATEST


def test_same_epoch_inside_the_log_recovers_after_the_client_offset() -> None:
    assert plan(Since(4, "e1")) == ReadPlan(recovered=True, after=4)


def test_client_already_up_to_date_recovers_nothing_missing() -> None:
    assert plan(Since(10, "e1")) == ReadPlan(recovered=True, after=10)


def test_another_epoch_means_start_over() -> None:
    assert plan(Since(4, "old-epoch")) == LATEST


def test_client_ahead_of_the_log_is_not_trusted() -> None:
    assert plan(Since(11, "e1")) == LATEST


@pytest.mark.parametrize(("since", "recovered"), [(4, True), (3, False), (0, False)])
def test_trimmed_start_boundary(since: int, recovered: bool) -> None:
    # Offsets 5..10 retained: a client at 4 misses nothing trimmed, one at 3 missed offset 4.
    result = plan(Since(since, "e1"), first=5)
    assert result.recovered is recovered
    assert result.after == (since if recovered else None)


def test_empty_log_of_the_same_epoch_recovers_from_zero() -> None:
    assert plan(Since(0, "e1"), offset=0, first=1) == ReadPlan(recovered=True, after=0)


def test_empty_but_trimmed_log() -> None:
    # Everything up to 10 was written and trimmed away; a client at 10 missed nothing.
    assert plan(Since(10, "e1"), offset=10, first=11) == ReadPlan(recovered=True, after=10)
    assert plan(Since(9, "e1"), offset=10, first=11) == LATEST


# -- why a rejoin starts afresh (issue 12, item 13) ---------------------------------------


def gap(since: Since | None, *, recovered: bool, epoch: str = "e2", offset: int = 10) -> str | None:
    return history_gap(since, epoch=epoch, offset=offset, recovered=recovered)


def test_a_first_join_or_a_recovery_has_no_gap() -> None:
    assert gap(None, recovered=False) is None
    assert gap(Since(4, "e2"), recovered=True) is None


def test_another_epoch_means_the_earlier_history_is_lost() -> None:
    """Redis restarted empty, the room expired, the embedded backend's process restarted:
    the room's log is a new one and what came before is gone."""
    assert gap(Since(4, "e1"), recovered=False) == LOST == "lost"


def test_a_log_that_ends_before_what_the_client_saw_lost_entries() -> None:
    assert gap(Since(11, "e2"), recovered=False) == LOST


def test_same_log_but_away_too_long_is_trimmed() -> None:
    assert gap(Since(1, "e2"), recovered=False) == TRIMMED == "trimmed"


def test_a_log_rolled_back_by_a_failover_says_so_to_its_old_readers_only() -> None:
    """A Redis Cluster failover lost the last few entries: the room goes on under a new
    epoch, and a client of the old one is told its history was rolled back (not lost)."""
    rolled = history_gap(
        Since(12, "e1"), epoch="e2", offset=10, recovered=False, rolled_back_from="e1"
    )
    assert rolled == ROLLED_BACK == "rolled_back"
    older = history_gap(
        Since(3, "e0"), epoch="e2", offset=10, recovered=False, rolled_back_from="e1"
    )
    assert older == LOST
