"""Who may do what in a meeting: pure functions of the actor, their role and the meeting
(rooms/meeting.py), each returning a refusal with its protocol code or None, as
rooms/policy.py does for the room's controls.

Posting during a session is decided by the post guard (``rooms.policy.post_rule``: an
ended session, the group agreement, whose turn it is); these rules are for the meeting's
own requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from rooms.codes import FORBIDDEN, NO_SESSION, NOT_REACTABLE, NOT_YOUR_TURN
from rooms.meeting import Meeting, is_live
from rooms.policy import Refusal, is_facilitator


def check_runs_meeting(role: str) -> Refusal | None:
    """Sessions, phases, the agenda, the agreement's text and rounds are the
    facilitator's to run."""
    if not is_facilitator(role):
        return Refusal(FORBIDDEN, "Only facilitators can run the session.")
    return None


def check_live(m: Meeting) -> Refusal | None:
    if not is_live(m):
        return Refusal(NO_SESSION, "No session is running right now.")
    return None


def check_agree(m: Meeting) -> Refusal | None:
    """The agreement is accepted for a session, so there must be one."""
    if not is_live(m):
        return Refusal(NO_SESSION, "There is no session to join yet: the agreement opens with it.")
    return None


def check_round_start(m: Meeting, speakers: int) -> Refusal | None:
    refusal = check_live(m)
    if refusal is not None:
        return refusal
    rnd = m["round"]
    if rnd is not None and not rnd["over"]:
        return Refusal(FORBIDDEN, "A round is already going: end it before starting another.")
    if speakers == 0:
        return Refusal(FORBIDDEN, "There is nobody here to take a turn yet.")
    return None


def check_round_going(m: Meeting) -> Refusal | None:
    rnd = m["round"]
    if rnd is None or rnd["over"]:
        return Refusal(FORBIDDEN, "There is no round going right now.")
    return None


def check_turn_over(m: Meeting, user_id: str, role: str, outcome: str) -> Refusal | None:
    """ "done" ends the current turn: the speaker's own, or a facilitator moving the round
    on. "pass" is the speaker's alone: nobody passes for someone else."""
    refusal = check_round_going(m)
    if refusal is not None:
        return refusal
    if m["turn"] == user_id:
        return None
    if outcome == "done" and is_facilitator(role):
        return None
    return Refusal(NOT_YOUR_TURN, "It isn't your turn in the round.")


def check_reactable(*, held_or_gone: bool, crisis: bool) -> Refusal | None:
    """Support reactions are for messages everyone can see; not on a held or deleted one,
    and not on one flagged for crisis language: that gets a facilitator, not an emoji."""
    if held_or_gone:
        return Refusal(NOT_REACTABLE, "That message is not in the room's history.")
    if crisis:
        return Refusal(
            NOT_REACTABLE,
            "A facilitator is looking after this one, so reactions are off for it.",
        )
    return None


def check_win(user_id: str, role: str, author_id: str) -> Refusal | None:
    """A member marks their own message as a win; a facilitator may highlight any."""
    if author_id != user_id and not is_facilitator(role):
        return Refusal(FORBIDDEN, "You can mark your own messages as wins.")
    return None


def may_see(entry: Mapping[str, object], user_id: str, role: str) -> bool:
    """Whether this person may see a log entry: everything but a private check-in's
    (``thread``: the member it is with), which only that member and the facilitators
    see, and what is for facilitators alone (``audience``)."""
    if entry.get("audience") == "facilitators":
        return is_facilitator(role)
    thread = entry.get("thread")
    return not thread or thread == user_id or is_facilitator(role)


def check_checkin(role: str, target_role: str | None) -> Refusal | None:
    """A private check-in is opened (and closed) by a facilitator, with one member who
    is in the room; members cannot open one with each other."""
    if not is_facilitator(role):
        return Refusal(FORBIDDEN, "Only a facilitator can open a private check-in.")
    if target_role is None:
        return Refusal(FORBIDDEN, "That member is not in the room right now.")
    if is_facilitator(target_role):
        return Refusal(FORBIDDEN, "A private check-in is between a facilitator and one member.")
    return None


def check_thread_post(user_id: str, role: str, thread: str, open_with: Set[str]) -> Refusal | None:
    """Posting in a private check-in: a facilitator in any open one, a member only in
    their own (members cannot write to each other privately)."""
    if not is_facilitator(role) and thread != user_id:
        return Refusal(FORBIDDEN, "Members cannot message each other privately here.")
    if thread not in open_with:
        return Refusal(FORBIDDEN, "That private check-in is closed.")
    return None
