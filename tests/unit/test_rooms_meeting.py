"""The meeting's pure rules over time (rooms/meeting.py) and the change each timer makes
(chatserver/service/meeting_timers.py ``timer_change``): what a worker's sweep appends
when a share, a phase or a session runs out. Time is an argument; nothing waits."""

from __future__ import annotations

from chatserver.service.meeting_timers import timer_change
from rooms import meeting as m
from rooms.state import RoomState

T0 = 1_800_000_000_000
MIN = 60_000
AGENDA: list[m.Phase] = [
    {"name": "Welcome", "prompt": "", "length_s": 300},
    {"name": "Check-in round", "prompt": "", "length_s": 900},
    {"name": "Close", "prompt": "", "length_s": 300},
]
ORDER: list[m.Speaker] = [
    {"id": "alex", "name": "Alex"},
    {"id": "bea", "name": "Bea"},
    {"id": "cara", "name": "Cara"},
]
STATE = RoomState()


def test_a_timed_phase_ends_on_its_timer_into_the_next_and_the_last_ends_the_session() -> None:
    live = m.start_session(m.new_meeting(), "s1", T0, AGENDA)
    assert live["phase_ends_ms"] == T0 + 5 * MIN and live["ends_ms"] == T0 + 25 * MIN
    assert m.due(live, T0 + 5 * MIN - 1) is None and timer_change(live, STATE, T0) is None
    moved = timer_change(live, STATE, T0 + 5 * MIN)
    assert moved is not None and moved.kind == "phase" and moved.fields == {"timer": True}
    assert moved.meeting["phase"] == 1
    assert moved.meeting["phase_ends_ms"] == T0 + 20 * MIN  # its own length, from now
    # Five minutes before the timed end, once: the notice, then nothing until the end.
    warned = timer_change(moved.meeting, STATE, T0 + 20 * MIN)
    assert warned is not None and warned.kind == "phase"  # the phase's end comes first
    notice = timer_change(warned.meeting, STATE, T0 + 20 * MIN)
    assert notice is not None and notice.kind == "time_notice" and notice.meeting["warned"]
    assert timer_change(notice.meeting, STATE, T0 + 25 * MIN - 1) is None
    ended = timer_change(notice.meeting, STATE, T0 + 25 * MIN)
    assert ended is not None and ended.kind == "session_ended"
    assert ended.fields == {"reason": "time", "timer": True}
    assert ended.meeting["status"] == m.ENDED and m.due(ended.meeting, T0 + 99 * MIN) is None


def test_an_untimed_phase_waits_for_the_facilitator_and_the_session_has_no_timed_end() -> None:
    agenda: list[m.Phase] = [{"name": "Open sharing", "prompt": "", "length_s": 0}, AGENDA[2]]
    live = m.start_session(m.new_meeting(), "s1", T0, agenda)
    assert live["phase_ends_ms"] == 0 and live["ends_ms"] == 0
    assert timer_change(live, STATE, T0 + 600 * MIN) is None
    closing = m.advance_phase(live, T0 + 60 * MIN)
    assert closing["ends_ms"] == T0 + 65 * MIN
    # The closing phase is the session's last five minutes: the notice comes as it starts.
    assert m.due(closing, T0 + 60 * MIN) == m.WARNING
    # A session only five minutes long in all gets no "5 minutes left".
    short = m.start_session(m.new_meeting(), "s2", T0, [AGENDA[2]])
    assert short["ends_ms"] == T0 + 5 * MIN and m.due(short, T0) is None


def test_a_thirty_second_share_times_out_and_the_turn_moves_on_skipping_who_left() -> None:
    live = m.start_session(m.new_meeting(), "s1", T0, AGENDA)
    began = m.start_round(live, "Check-in", ORDER, 30, False, T0)
    assert began["turn"] == "alex" and began["round"] is not None
    assert began["round"]["turn_ends_ms"] == T0 + 30_000
    assert m.up_next(began) == "bea"
    gone = m.leave_round(began, "bea", T0 + 1_000)
    assert gone is not None and gone["round"] is not None
    assert gone["round"]["outcomes"] == {"bea": "left"} and m.up_next(gone) == "cara"
    assert timer_change(gone, STATE, T0 + 29_999) is None
    out = timer_change(gone, STATE, T0 + 30_000)
    assert out is not None and out.kind == "turn"
    assert out.fields == {"reason": "timed_out", "timer": True}
    assert out.meeting["turn"] == "cara" and out.meeting["round"] is not None
    assert out.meeting["round"]["turn_ends_ms"] == T0 + 60_000
    assert out.meeting["round"]["outcomes"] == {"alex": "timed_out", "bea": "left"}
    # A late arrival goes to the end, once; the last share over ends the round.
    dan: m.Speaker = {"id": "dan", "name": "Dan"}
    joined = m.join_round(out.meeting, dan)
    assert joined is not None and m.join_round(joined, dan) is None
    done = m.next_turn(m.next_turn(joined, "done", T0 + 40_000), "passed", T0 + 41_000)
    assert done["turn"] == "" and done["round"] is not None and done["round"]["over"]
    assert m.due(done, T0 + 99 * MIN) == m.PHASE_END  # only the phase's own timer is left


def test_a_share_with_no_limit_has_no_timer() -> None:
    live = m.start_session(m.new_meeting(), "s1", T0, [AGENDA[0] | {"length_s": 0}])
    began = m.start_round(live, "Check-out", ORDER, 0, True, T0)
    assert began["round"] is not None and began["round"]["turn_ends_ms"] == 0
    assert timer_change(began, STATE, T0 + 600 * MIN) is None
