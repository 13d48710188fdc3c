"""RoomLog: offsets, trimming, pages, recovery, deleted messages and client_id dedupe."""

from typing import Any

import pytest

from rooms.entries import Entry, message_entry, room_event, user_info
from rooms.log import ReadResult, RoomLog
from rooms.recovery import Since

ALEX = user_info("u1", "Alex", "member")
SAM = user_info("f1", "Sam", "facilitator")


def msg(n: int, client_id: str | None = None) -> Entry:
    return message_entry(
        room="r1",
        msg_id=f"m{n}",
        user=ALEX,
        text=f"text {n}",
        ts=1000 + n,
        client_id=client_id or f"c{n}",
    )


def event(kind: str, **fields: Any) -> Entry:
    return room_event(room="r1", kind=kind, by=SAM, ts=5000, **fields)


def filled(count: int, *, max_entries: int = 100, **kw: Any) -> RoomLog:
    log = RoomLog("e1", max_entries=max_entries, **kw)
    for n in range(1, count + 1):
        log.append(msg(n))
    return log


def offsets(result: ReadResult) -> list[int]:
    return [e["offset"] for e in result.entries]


def test_offsets_are_contiguous_from_one_and_the_input_is_not_mutated() -> None:
    log = RoomLog("e1", max_entries=100)
    assert log.offset == 0
    assert log.first_offset == 1
    original = msg(1)
    stored = log.append(original)
    assert stored["offset"] == 1
    assert original["offset"] == 0
    assert [log.append(msg(n))["offset"] for n in range(2, 6)] == [2, 3, 4, 5]
    log.append(event("locked", locked=True))
    assert log.offset == 6
    assert offsets(log.read(None, 100)) == [1, 2, 3, 4, 5, 6]


def test_stored_entry_is_the_input_plus_its_offset() -> None:
    log = RoomLog("e1", max_entries=10)
    stored = log.append(msg(1))
    assert stored == {**msg(1), "offset": 1}


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RoomLog("e1", max_entries=0)


def test_trimming_keeps_only_the_newest_max_entries() -> None:
    log = filled(8, max_entries=5)
    assert log.offset == 8
    assert log.first_offset == 4
    assert offsets(log.read(None, 100)) == [4, 5, 6, 7, 8]
    assert log.get_message("m3") is None
    assert log.get_message("m4") is not None


def test_read_without_since_gives_the_latest_page_in_order() -> None:
    log = filled(10)
    result = log.read(None, 3)
    assert result == ReadResult("e1", 10, False, result.entries)
    assert offsets(result) == [8, 9, 10]
    assert [e["text"] for e in result.entries] == ["text 8", "text 9", "text 10"]


def test_page_larger_than_the_log_gives_everything() -> None:
    assert offsets(filled(3).read(None, 50)) == [1, 2, 3]


def test_empty_log_reads_empty() -> None:
    log = RoomLog("e1", max_entries=10)
    assert log.read(None, 50) == ReadResult("e1", 0, False, [])
    assert log.read(Since(0, "e1"), 50) == ReadResult("e1", 0, True, [])


def test_recovery_gives_exactly_the_entries_after_since_in_order() -> None:
    log = filled(10)
    result = log.read(Since(6, "e1"), 2)
    assert result.recovered is True
    assert (result.epoch, result.offset) == ("e1", 10)
    # Recovery is never cut to a page: the client gets every missed entry.
    assert offsets(result) == [7, 8, 9, 10]
    assert [e["id"] for e in result.entries] == ["m7", "m8", "m9", "m10"]


def test_recovery_from_zero_gives_the_whole_untrimmed_log() -> None:
    result = filled(4).read(Since(0, "e1"), 2)
    assert result.recovered is True
    assert offsets(result) == [1, 2, 3, 4]


def test_up_to_date_client_recovers_with_no_entries() -> None:
    result = filled(5).read(Since(5, "e1"), 50)
    assert result.recovered is True
    assert result.entries == []


def test_another_epoch_gets_the_latest_page_not_recovered() -> None:
    result = filled(10).read(Since(6, "other"), 3)
    assert result.recovered is False
    assert offsets(result) == [8, 9, 10]


def test_since_ahead_of_the_log_gets_the_latest_page_not_recovered() -> None:
    result = filled(10).read(Since(11, "e1"), 3)
    assert result.recovered is False
    assert offsets(result) == [8, 9, 10]


def test_since_older_than_the_trimmed_start_is_never_a_partial_recovery() -> None:
    log = filled(12, max_entries=5)  # offsets 8..12 retained
    result = log.read(Since(6, "e1"), 2)
    assert result.recovered is False
    assert offsets(result) == [11, 12]
    # One before the first retained offset: nothing was lost, so it recovers fully.
    full = log.read(Since(7, "e1"), 2)
    assert full.recovered is True
    assert offsets(full) == [8, 9, 10, 11, 12]


def test_deleted_messages_are_left_out_of_the_page_and_recovery_but_the_event_stays() -> None:
    log = filled(4)
    deleted = log.append(event("deleted", id="m2"))
    assert deleted["offset"] == 5
    log.append(msg(6))

    page = log.read(None, 50)
    assert [e.get("id") for e in page.entries] == ["m1", "m3", "m4", "m2", "m6"]
    assert page.entries[3]["kind"] == "deleted"
    assert all(e.get("text") != "text 2" for e in page.entries)

    recovered = log.read(Since(1, "e1"), 50)
    assert recovered.recovered is True
    assert offsets(recovered) == [3, 4, 5, 6]
    assert recovered.entries[2]["kind"] == "deleted"

    assert log.get_message("m2") is None
    assert log.get_message("m3") is not None


def test_a_page_counts_visible_entries_after_a_delete() -> None:
    log = filled(3)
    log.append(event("deleted", id="m3"))
    assert [e.get("kind", "message") for e in log.read(None, 2).entries] == ["message", "deleted"]
    assert offsets(log.read(None, 2)) == [2, 4]


def test_deleted_event_still_hides_its_message_after_more_traffic_and_trimming() -> None:
    log = RoomLog("e1", max_entries=4)
    log.append(msg(1))
    log.append(msg(2))
    log.append(event("deleted", id="m2"))
    log.append(msg(4))
    assert offsets(log.read(None, 10)) == [1, 3, 4]
    log.append(msg(5))  # trims offset 1; m2 still retained and still hidden
    assert offsets(log.read(None, 10)) == [3, 4, 5]
    assert log.get_message("m2") is None


def test_other_room_events_are_kept_in_history() -> None:
    log = filled(1)
    log.append(event("locked", locked=True))
    log.append(event("pinned", id="m1", entry=log.get_message("m1")))
    kinds = [e.get("kind") for e in log.read(Since(1, "e1"), 10).entries]
    assert kinds == ["locked", "pinned"]


def test_client_id_dedupe_finds_the_first_stored_entry() -> None:
    log = RoomLog("e1", max_entries=100)
    first = log.append(msg(1, client_id="abc"))
    log.append(msg(2))
    log.append(msg(3))
    found = log.find_client_id("u1", "abc")
    assert found == first
    assert found is not None and found["offset"] == 1 and found["id"] == "m1"
    assert log.find_client_id("u1", "never-sent") is None


def test_client_id_dedupe_is_per_sender() -> None:
    """client_ids are visible in every message event: another member sending one again
    must not find (or be answered with) the first sender's message."""
    log = RoomLog("e1", max_entries=100)
    first = log.append(msg(1, client_id="abc"))
    bea = log.append({**msg(2, client_id="abc"), "user": user_info("u2", "Bea", "member")})
    assert log.find_client_id("u1", "abc") == first
    assert log.find_client_id("u2", "abc") == bea
    assert log.find_client_id("u3", "abc") is None


def test_room_events_without_client_id_are_not_indexed() -> None:
    log = RoomLog("e1", max_entries=100)
    log.append(event("locked", locked=True))
    assert log.find_client_id("", "") is None


def test_dedupe_index_is_bounded_and_forgets_the_oldest() -> None:
    log = filled(5, max_entries=100, dedupe_size=3)
    assert log.find_client_id("u1", "c1") is None
    assert log.find_client_id("u1", "c2") is None
    assert [log.find_client_id("u1", f"c{n}")["offset"] for n in (3, 4, 5)] == [3, 4, 5]  # type: ignore[index]
    assert len(log._by_client_id) == 3


def test_dedupe_index_defaults_to_the_history_size() -> None:
    log = filled(7, max_entries=4)
    assert log.find_client_id("u1", "c3") is None
    assert log.find_client_id("u1", "c4") is not None
    assert len(log._by_client_id) == 4


def test_get_message_returns_the_stored_message_and_ignores_events() -> None:
    log = filled(3)
    log.append(event("pinned", id="m2", entry={}))
    found = log.get_message("m2")
    assert found is not None
    assert (found["offset"], found["text"]) == (2, "text 2")
    assert "kind" not in found
    assert log.get_message("m99") is None
