"""The meeting (rooms/meeting.py) on every backend: a meeting event is appended only onto
the meeting it was worked out from (so a timer two workers see due moves the round on
once), and what a join or a snapshot reads of it — the meeting, who accepted this
session's agreement, the support reactions — is the same on memory and on Redis."""

from __future__ import annotations

import pytest

from chatserver.backend import Backend, JoinQuery, MeetingMoved
from rooms import meeting as m
from tests.contract.test_backend_contract import (  # noqa: F401  (the parametrized fixture)
    ALEX,
    NOW,
    SAM,
    append,
    backend,
    event,
    msg,
)

ORDER: list[m.Speaker] = [{"id": "alex", "name": "Alex"}, {"id": "bea", "name": "Bea"}]


async def test_a_meeting_event_on_a_meeting_that_moved_on_is_not_appended(
    backend: Backend,  # noqa: F811
) -> None:
    started = m.start_session(m.new_meeting(), "s1", NOW, None)
    first = await append(backend, event("session_started", after=0, meeting=started))
    in_round = m.start_round(started, "Check-in", ORDER, 60, False, NOW)
    await append(backend, event("round_started", after=first["offset"], meeting=in_round))
    # Two workers see the turn's time run out and both work out the next turn from the
    # meeting they know (offset 2): the first is appended, the second is refused.
    later = NOW + 61_000
    timed_out = m.on_timer(in_round, m.TURN_TIMEOUT, later)
    moved_on = await append(backend, event("turn", after=2, meeting=timed_out, timer=True))
    with pytest.raises(MeetingMoved):
        await append(backend, event("turn", after=2, meeting=timed_out, timer=True))
    # ... and one from before the session started is refused too.
    with pytest.raises(MeetingMoved):
        await append(backend, event("phase", after=0, meeting=started))
    snap = await backend.snapshot("r1", later)
    assert snap.offset == moved_on["offset"] == 3
    assert snap.state.meeting_at == 3
    assert snap.state.meeting["turn"] == "bea"
    assert m.due(snap.state.meeting, later) is None  # nothing left due: it fired once


async def test_a_join_reads_the_meeting_the_agreement_and_the_reactions(
    backend: Backend,  # noqa: F811
) -> None:
    started = m.start_session(m.new_meeting(), "s1", NOW, None)
    await append(backend, event("session_started", after=0, meeting=started, session_id="s1"))
    await append(backend, event("agreed", user_id="alex", session_id="s1"))
    shared = await append(backend, msg("A small win: I walked to the shop."))
    for who, reaction in (("bea", "heart"), ("sam", "heart"), ("bea", "celebrate")):
        await append(
            backend, event("reaction", id=shared["id"], reaction=reaction, user_id=who, on=True)
        )
    await append(
        backend, event("reaction", id=shared["id"], reaction="heart", user_id="sam", on=False)
    )
    view = await backend.enter("r1", JoinQuery(ALEX, "a1", None, 10, NOW))
    assert view.state.meeting == started
    assert view.state.meeting_at == 1
    assert view.state.has_agreed("alex") and not view.state.has_agreed("bea")
    assert view.state.reactions == {shared["id"]: {"celebrate": ["bea"], "heart": ["bea"]}}
    # Facilitators need nothing else to draw the room.
    view = await backend.enter("r1", JoinQuery(SAM, "s1", None, 10, NOW, keep_out_removed=False))
    assert view.state.summary()["meeting"]["session_id"] == "s1"
