"""The shape of a support-group meeting: a session, its agenda and phases, rounds, quiet
statuses and the session's wins, as one value folded from logged room events.

Every change to it is a room event that carries the meeting as it is after the change
(``meeting``) and the offset of the meeting event it was computed from (``after``). The
backend appends it only if the room's meeting is still at ``after`` (compare and set, in
one atomic step on every backend), so two workers, or a facilitator and a timer, never
both move a turn on: the loser computes again from the new state and finds nothing due.
The fold is therefore one assignment (``rooms/state.py``), and every rule of how the
meeting changes is written once, here, as pure functions of the meeting and the time.

Timers are deadlines in the meeting (``phase_ends_ms``, a round's ``turn_ends_ms``, the
session's timed end): ``due`` says what is due at a moment, and whichever worker sees it
first appends it; so a timer outlives the worker that set it.

Pure: no I/O; time is an argument (ms since the epoch).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Final, NotRequired, TypedDict

from rooms.entries import MessageEntry, UserInfo


class Phase(TypedDict):
    """One step of a session's agenda: its name, the prompt members see, and its length
    in seconds (0: it lasts until the facilitator moves on)."""

    name: str
    prompt: str
    length_s: int


class Speaker(TypedDict):
    id: str
    name: str


class Round(TypedDict):
    """A round: everyone in ``order`` speaks in turn (``index``), for ``share_s`` each."""

    name: str
    order: list[Speaker]
    shuffled: bool
    index: int
    """The current speaker's place in ``order``; ``len(order)`` once the round is over."""
    share_s: int
    turn_ends_ms: int
    """When the current turn times out (0: no time limit, or the round is over)."""
    outcomes: dict[str, str]
    """user id -> how their turn went: done, passed, timed_out, left."""
    over: bool


class Win(TypedDict):
    """A message marked as a small victory: by its author, or highlighted by a facilitator."""

    id: str
    entry: MessageEntry
    by: UserInfo


class Meeting(TypedDict):
    """What every member sees of the room's meeting (the join ack's ``meeting``)."""

    session_id: str
    status: str
    """none (no session yet: a plain room), live, ended (posting closed until the next)."""
    started_ms: int
    ended_ms: int
    agenda: list[Phase]
    """The room's agenda template; a session runs through it."""
    phase: int
    """Index of the current phase in ``agenda``; -1 when no session is live."""
    phase_ends_ms: int
    """When the current phase ends on its timer (0: untimed)."""
    ends_ms: int
    """When the session ends on its timers (0: not timed to the end)."""
    warned: bool
    """The "5 minutes left" notice was given for this session."""
    guidelines: str
    """The group agreement members accept once per session before posting."""
    round: Round | None
    turn: str
    """Who may post now in a round ("" when no round is in progress): the post guard."""
    statuses: dict[str, str]
    """user id -> quiet status (``STATUSES``), until cleared or they leave."""
    wins: list[Win]
    history: NotRequired[str]
    """What becomes of the conversation between sessions (``HISTORY``): the room's own
    retention setting. Absent in meetings kept before it existed: ``KEPT``."""


KEPT: Final = "kept"
EACH_SESSION: Final = "each_session"
HISTORY: Final = {
    KEPT: "Kept between sessions, until a week passes with no message",
    EACH_SESSION: "Cleared when each session starts",
}
"""A room's history setting, with the words a client shows. The default keeps the last
session readable until the next one for a weekly group only if people keep talking: the
deployment's retention (HUDDLE_RETENTION_S, a week) forgets a room a week after its last
message. A group that wants less picks EACH_SESSION: every session starts with nothing
of the last one's conversation kept (its recap is each member's own)."""

LIVE: Final = "live"
ENDED: Final = "ended"
NONE: Final = "none"

WARN_BEFORE_MS: Final = 5 * 60 * 1000
"""The notice before a session's timed end."""
MAX_PHASES: Final = 12
MAX_NAME_CHARS: Final = 60
MAX_PROMPT_CHARS: Final = 300
MAX_PHASE_S: Final = 4 * 3600
MAX_SHARE_S: Final = 30 * 60
MAX_GUIDELINES_CHARS: Final = 4000
"""As long as the organiser console lets a group agreement be."""
MAX_WINS: Final = 30
MAX_ROUND_NAME_CHARS: Final = 40

STATUSES: Final = {
    "away": "Stepping away",
    "flare": "In a flare, listening",
    "moment": "Needs a moment",
}
"""Quiet statuses a member may show beside their name, with the words shown."""

ROUND_NAMES: Final = {"check_in": "Check-in", "check_out": "Check-out"}

DEFAULT_AGENDA: Final[tuple[Phase, ...]] = (
    {"name": "Welcome", "prompt": "Settle in. Read the group agreement.", "length_s": 300},
    {
        "name": "Check-in round",
        "prompt": "In a sentence or two: how is your pain, and how are you, today?",
        "length_s": 900,
    },
    {
        "name": "Open sharing",
        "prompt": "What has helped this week, and what has been hard? Small wins count.",
        "length_s": 2400,
    },
    {
        "name": "Check-out round",
        "prompt": "One thing you take away, or one small plan for the week.",
        "length_s": 600,
    },
    {"name": "Close", "prompt": "Thank you for being here. Look after yourself.", "length_s": 300},
)

DEFAULT_GUIDELINES: Final = (
    "What is shared here stays here. "
    "No contact details, and no moving the chat elsewhere. "
    "We share what works for us; we don't give medical advice or dosing. "
    "This group is not a crisis service: if you are in danger, call 999 or 112 "
    "(UK and Ireland: Samaritans 116 123; US: 988)."
)


def new_meeting() -> Meeting:
    """A room's meeting before any session: the default agenda and agreement."""
    return {
        "session_id": "",
        "status": NONE,
        "started_ms": 0,
        "ended_ms": 0,
        "agenda": [dict(p) for p in DEFAULT_AGENDA],  # type: ignore[misc]
        "phase": -1,
        "phase_ends_ms": 0,
        "ends_ms": 0,
        "warned": False,
        "guidelines": DEFAULT_GUIDELINES,
        "round": None,
        "turn": "",
        "statuses": {},
        "wins": [],
        "history": KEPT,
    }


def history_of(m: Meeting) -> str:
    return m.get("history", KEPT)


def set_history(m: Meeting, mode: str) -> Meeting:
    out = _copy(m)
    out["history"] = mode
    return out


def is_live(m: Meeting) -> bool:
    return m["status"] == LIVE


def _copy(m: Meeting) -> Meeting:
    return copy.deepcopy(m)


# -- the session and its phases ---------------------------------------------------------


def start_session(m: Meeting, session_id: str, now_ms: int, agenda: list[Phase] | None) -> Meeting:
    """A new session: everyone accepts the agreement again, the wins strip starts empty,
    and the first phase begins."""
    out = _copy(m)
    if agenda is not None:
        out["agenda"] = agenda
    out.update(
        {
            "session_id": session_id,
            "status": LIVE,
            "started_ms": now_ms,
            "ended_ms": 0,
            "warned": False,
            "round": None,
            "turn": "",
            "wins": [],
        }
    )
    return _enter_phase(out, 0, now_ms)


def end_session(m: Meeting, now_ms: int) -> Meeting:
    out = _copy(m)
    out.update(
        {
            "status": ENDED,
            "ended_ms": now_ms,
            "phase": -1,
            "phase_ends_ms": 0,
            "ends_ms": 0,
            "round": None,
            "turn": "",
        }
    )
    return out


def advance_phase(m: Meeting, now_ms: int) -> Meeting:
    """The next phase; after the last one the session ends."""
    if m["phase"] + 1 >= len(m["agenda"]):
        return end_session(m, now_ms)
    return _enter_phase(_copy(m), m["phase"] + 1, now_ms)


def _enter_phase(out: Meeting, index: int, now_ms: int) -> Meeting:
    out["phase"] = index
    if not out["agenda"]:
        out["phase_ends_ms"] = out["ends_ms"] = 0
        return out
    length = out["agenda"][index]["length_s"]
    out["phase_ends_ms"] = now_ms + length * 1000 if length else 0
    out["ends_ms"] = _timed_end(out)
    return out


def _timed_end(m: Meeting) -> int:
    """When the session ends if every phase runs its time (0 if any left is untimed)."""
    if not m["phase_ends_ms"]:
        return 0
    end = m["phase_ends_ms"]
    for phase in m["agenda"][m["phase"] + 1 :]:
        if not phase["length_s"]:
            return 0
        end += phase["length_s"] * 1000
    return end


def set_agenda(m: Meeting, agenda: list[Phase], now_ms: int) -> Meeting:
    """A new agenda template. In a live session the current phase keeps going (its place
    clamped to the new list) and the timed end is worked out again."""
    out = _copy(m)
    out["agenda"] = agenda
    if is_live(out):
        out["phase"] = min(out["phase"], len(agenda) - 1)
        out["ends_ms"] = _timed_end(out)
    return out


def set_guidelines(m: Meeting, text: str) -> Meeting:
    out = _copy(m)
    out["guidelines"] = text
    return out


def warn(m: Meeting) -> Meeting:
    out = _copy(m)
    out["warned"] = True
    return out


# -- rounds -------------------------------------------------------------------------------


def start_round(
    m: Meeting, name: str, order: list[Speaker], share_s: int, shuffled: bool, now_ms: int
) -> Meeting:
    out = _copy(m)
    rnd: Round = {
        "name": name,
        "order": order,
        "shuffled": shuffled,
        "index": 0,
        "share_s": share_s,
        "turn_ends_ms": 0,
        "outcomes": {},
        "over": False,
    }
    out["round"] = rnd
    return _settle_turn(out, now_ms)


def next_turn(m: Meeting, outcome: str, now_ms: int) -> Meeting:
    """The current speaker is finished (done, passed, timed_out, left): the next one's
    turn, or the round is over."""
    out = _copy(m)
    rnd = out["round"]
    if rnd is None or rnd["over"]:
        return out
    rnd["outcomes"][rnd["order"][rnd["index"]]["id"]] = outcome
    rnd["index"] += 1
    return _settle_turn(out, now_ms)


def end_round(m: Meeting) -> Meeting:
    out = _copy(m)
    rnd = out["round"]
    if rnd is not None:
        rnd.update({"over": True, "index": len(rnd["order"]), "turn_ends_ms": 0})
    out["turn"] = ""
    return out


def join_round(m: Meeting, who: Speaker) -> Meeting | None:
    """Someone joining mid-round goes to the end of the order (None: no change)."""
    rnd = m["round"]
    if rnd is None or rnd["over"] or any(s["id"] == who["id"] for s in rnd["order"]):
        return None
    out = _copy(m)
    out_rnd = out["round"]
    assert out_rnd is not None
    out_rnd["order"].append(who)
    return out


def leave_round(m: Meeting, user_id: str, now_ms: int) -> Meeting | None:
    """Someone who left is skipped: now if it is their turn, later if it is still to come
    (None: they were not waiting to speak)."""
    rnd = m["round"]
    if rnd is None or rnd["over"]:
        return None
    place = next((i for i, s in enumerate(rnd["order"]) if s["id"] == user_id), None)
    if place is None or place < rnd["index"] or user_id in rnd["outcomes"]:
        return None
    if place == rnd["index"]:
        return next_turn(m, "left", now_ms)
    out = _copy(m)
    out_rnd = out["round"]
    assert out_rnd is not None
    out_rnd["outcomes"][user_id] = "left"
    return out


def _settle_turn(out: Meeting, now_ms: int) -> Meeting:
    """Skip those who left before their turn; set the turn and its deadline."""
    rnd = out["round"]
    if rnd is None:
        out["turn"] = ""
        return out
    while rnd["index"] < len(rnd["order"]) and rnd["order"][rnd["index"]]["id"] in rnd["outcomes"]:
        rnd["index"] += 1
    if rnd["index"] >= len(rnd["order"]):
        rnd.update({"over": True, "turn_ends_ms": 0})
        out["turn"] = ""
        return out
    rnd["turn_ends_ms"] = now_ms + rnd["share_s"] * 1000 if rnd["share_s"] else 0
    out["turn"] = rnd["order"][rnd["index"]]["id"]
    return out


def join_order(
    speakers: list[Speaker], entries: Iterable[Mapping[str, object]], session_id: str
) -> list[Speaker]:
    """A round's order "as people joined the session": those who accepted this session's
    agreement, in the order they did (its ``agreed`` events in the log), then anyone else
    present, in the order given."""
    joined: dict[str, int] = {}
    for entry in entries:
        if entry.get("kind") == "agreed" and entry.get("session_id") == session_id:
            joined.setdefault(str(entry.get("user_id")), len(joined))
    late = len(joined)
    ranked = sorted(enumerate(speakers), key=lambda p: (joined.get(p[1]["id"], late), p[0]))
    return [speaker for _, speaker in ranked]


def up_next(m: Meeting) -> str:
    """Who speaks after the current speaker ("" if nobody)."""
    rnd = m["round"]
    if rnd is None or rnd["over"]:
        return ""
    for speaker in rnd["order"][rnd["index"] + 1 :]:
        if speaker["id"] not in rnd["outcomes"]:
            return speaker["id"]
    return ""


# -- statuses and wins ----------------------------------------------------------------------


def set_status(m: Meeting, user_id: str, status: str | None) -> Meeting | None:
    """Show or clear a quiet status (None: no change)."""
    if m["statuses"].get(user_id) == status:
        return None
    out = _copy(m)
    if status is None:
        out["statuses"].pop(user_id, None)
    else:
        out["statuses"][user_id] = status
    return out


def mark_win(m: Meeting, entry: MessageEntry, by: UserInfo) -> Meeting | None:
    if any(w["id"] == entry["id"] for w in m["wins"]):
        return None
    out = _copy(m)
    out["wins"].append({"id": entry["id"], "entry": entry, "by": by})
    del out["wins"][:-MAX_WINS]
    return out


def unmark_win(m: Meeting, msg_id: str) -> Meeting | None:
    if not any(w["id"] == msg_id for w in m["wins"]):
        return None
    out = _copy(m)
    out["wins"] = [w for w in out["wins"] if w["id"] != msg_id]
    return out


# -- timers ---------------------------------------------------------------------------------

TURN_TIMEOUT: Final = "turn_timeout"
PHASE_END: Final = "phase_end"
WARNING: Final = "warning"


def due(m: Meeting, now_ms: int) -> str | None:
    """The timer that is due at ``now_ms``, if any (the earliest kind first)."""
    rnd = m["round"]
    if (
        rnd is not None
        and not rnd["over"]
        and rnd["turn_ends_ms"]
        and now_ms >= rnd["turn_ends_ms"]
    ):
        return TURN_TIMEOUT
    if not is_live(m):
        return None
    if m["phase_ends_ms"] and now_ms >= m["phase_ends_ms"]:
        return PHASE_END
    long_enough = m["ends_ms"] - m["started_ms"] > WARN_BEFORE_MS
    if not m["warned"] and m["ends_ms"] and long_enough:
        return WARNING if now_ms >= m["ends_ms"] - WARN_BEFORE_MS else None
    return None


def on_timer(m: Meeting, timer: str, now_ms: int) -> Meeting:
    if timer == TURN_TIMEOUT:
        return next_turn(m, "timed_out", now_ms)
    if timer == PHASE_END:
        return advance_phase(m, now_ms)
    return warn(m)


def user_of(speaker: Speaker, role: str) -> UserInfo:
    return {"id": speaker["id"], "name": speaker["name"], "role": role}
