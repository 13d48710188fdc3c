"""The group space's records, as stored and as sent (docs/protocol.md, "Group space")."""

from __future__ import annotations

from typing import Final, Literal, NotRequired, TypeAlias, TypedDict

GoalAnswer: TypeAlias = Literal["done", "partly", "not_yet", "changed"]
GOAL_ANSWERS: Final = ("done", "partly", "not_yet", "changed")
RESOURCE_TAGS: Final = (
    "pacing",
    "sleep",
    "flare plan",
    "benefits",
    "work",
    "mood",
    "movement",
    "medication",
    "carers",
    "crisis",
)

# Bounds that keep one member or one room from growing a store without end: far above what
# a weekly group produces in years.
GOALS_PER_MEMBER: Final = 104
WINS_PER_ROOM: Final = 500
RESOURCES_PER_ROOM: Final = 200


class Goal(TypedDict):
    """A member's goal for the coming week; private unless ``shared``."""

    id: str
    room: str
    user_id: str
    name: str
    text: str
    shared: bool
    set_ms: int
    answer: GoalAnswer | None
    """What the member said of it at a later check-in; None until then."""
    answer_note: str
    answered_ms: int | None


class KeptWin(TypedDict):
    """A small victory kept on the group's wins wall, with its author's consent."""

    id: str
    room: str
    user_id: str
    name: str
    text: str
    msg_id: str
    """The message it came from (in the room's log when it was kept)."""
    kept_ms: int


class Resource(TypedDict):
    """An entry on the resource shelf: curated by facilitators, or suggested by a member
    and waiting for a facilitator (``status`` "suggested")."""

    id: str
    room: str
    title: str
    url: str
    note: str
    tags: list[str]
    status: Literal["shelved", "suggested"]
    by_user_id: str
    by_name: str
    created_ms: int
    off_list: NotRequired[bool]
    """The link's site is not on the room's list of trusted sites (the link rules)."""


class NextSession(TypedDict):
    room: str
    starts_at_ms: int
    time_zone: str
    """An IANA name ("Europe/London"), for showing the time as the group knows it."""


class MemberData(TypedDict):
    """What the group space holds about one member (their download)."""

    goals: list[Goal]
    wins: list[KeptWin]
