"""The shared rule fixtures (tests/fixtures/, format in its README) against the pure rules
in rooms/ and the moderation gate. The backends are held to the same files in
tests/contract/test_backend_rule_fixtures.py, the web client in its node tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moderation.context import MessageContext
from moderation.gate import GateStage, room_gate
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy
from moderation.verdict import Action
from rooms.entries import EVENT_KINDS
from rooms.policy import POST_RULES, check_post
from rooms.state import RoomState, apply_event, mutes_in_force

FIXTURES = Path(__file__).parent.parent / "fixtures"
STATE_CASES: list[dict[str, Any]] = json.loads((FIXTURES / "room_state_cases.json").read_text())
GUARD_CASES: list[dict[str, Any]] = json.loads((FIXTURES / "post_guard_cases.json").read_text())


def by_name(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c["name"] for c in cases])


def fold(events: list[dict[str, Any]]) -> RoomState:
    """Each event folded at its own time, as a backend appends it."""
    state = RoomState()
    for entry in events:
        apply_event(state, entry, entry["ts"])
    return state


def observed(state: RoomState, now_ms: int) -> dict[str, Any]:
    """The fixture's `expected` fields, read from a RoomState at now_ms."""
    return {
        "locked": state.locked,
        "paused": state.paused,
        "slow_mode_s": state.slow_mode_s,
        "floor": state.floor,
        "mutes": mutes_in_force(state, now_ms),
        "pinned_ids": list(state.pins),
        "removed": sorted(state.removed),
        "last_post_ms": state.last_post_ms,
        **meeting_fields(state),
    }


def meeting_fields(state: RoomState) -> dict[str, Any]:
    """The fixture's meeting fields (rooms/meeting.py), read from a RoomState."""
    return {
        "session": state.meeting["status"],
        "phase": state.meeting["phase"],
        "turn": state.meeting["turn"],
        "meeting_at": state.meeting_at,
        "agreed": sorted(u for u in state.agreed if state.has_agreed(u)),
        "reactions": state.reactions,
        "checkins": sorted(state.checkins),
        "no_reactions": sorted(state.no_reactions),
    }


@by_name(STATE_CASES)
def test_room_state_fold(case: dict[str, Any]) -> None:
    state = fold(case["events"])
    assert observed(state, case["now_ms"]) == case["expected"]
    # A pin shows the message as it was when pinned: the copy its event carries.
    pinned = {e["id"]: e["entry"] for e in case["events"] if e.get("kind") == "pinned"}
    assert state.pins == {msg_id: pinned[msg_id] for msg_id in case["expected"]["pinned_ids"]}


@by_name(GUARD_CASES)
def test_post_guard(case: dict[str, Any]) -> None:
    req = case["request"]
    refusal = check_post(fold(case["events"]), req["user_id"], req["role"], case["now_ms"])
    assert (refusal and refusal.code) == case["expected"]
    if refusal is not None:
        wait = case["wait_ms"]
        assert refusal.retry_after_s == (None if wait is None else pytest.approx(wait / 1000))


@by_name(GUARD_CASES)
def test_moderation_gate(case: dict[str, Any]) -> None:
    """The pipeline's first stage refuses exactly what the backends' guard refuses, with
    the same rule, code and wait, from the state a worker has cached."""
    req, now_ms = case["request"], case["now_ms"]
    state = fold(case["events"])
    ctx = MessageContext(
        room="r1",
        sender_id=req["user_id"],
        role=req["role"],
        text=req["text"],
        now=now_ms / 1000,
        policy=ModerationPolicy(),
        gate=room_gate(state, req["user_id"], now_ms),
    )
    verdict = GateStage().check(ctx)
    if case["expected"] is None:
        assert verdict.action is Action.ALLOW
        # ... and nothing later in the pipeline refuses a plain message either.
        assert default_pipeline().run(ctx).action is Action.ALLOW
        return
    assert (verdict.action, verdict.code, verdict.rule) == (
        Action.BLOCK,
        case["expected"],
        f"gate.{case['rule']}",
    )
    wait = case["wait_ms"]
    assert verdict.retry_after_s == (None if wait is None else pytest.approx(wait / 1000))
    # The member reads the same words whichever check refused them first.
    refusal = check_post(state, req["user_id"], req["role"], now_ms)
    assert refusal is not None and verdict.reason == refusal.message


def test_the_fixtures_cover_every_event_kind_and_every_refusal() -> None:
    kinds = {e["kind"] for c in STATE_CASES for e in c["events"] if "kind" in e}
    assert kinds == EVENT_KINDS
    assert any("kind" not in e for c in STATE_CASES for e in c["events"])  # messages
    assert {c["rule"] for c in GUARD_CASES if c["rule"]} == set(POST_RULES)
    assert any(c["expected"] is None for c in GUARD_CASES)
    # Each rule both refuses and, once over, lets the post through.
    assert {c["expected"] for c in GUARD_CASES} == {
        None,
        "muted",
        "room_locked",
        "slow_mode",
        "session_ended",
        "agreement_required",
        "not_your_turn",
    }


def test_the_fixture_events_are_logged_entries() -> None:
    """Events carry the offsets a fresh log gives them, so a backend replaying them gets
    the same offsets back, and times that only move forward."""
    for case in STATE_CASES + GUARD_CASES:
        events = case["events"]
        assert [e["offset"] for e in events] == list(range(1, len(events) + 1)), case["name"]
        assert all(e["ts"] <= case["now_ms"] for e in events), case["name"]
        assert [e["ts"] for e in events] == sorted(e["ts"] for e in events), case["name"]
