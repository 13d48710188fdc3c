"""The group space's storage contract: what the service asks of either store."""

from __future__ import annotations

from typing import Protocol

from chatserver.space.records import Goal, KeptWin, MemberData, NextSession, Resource


class GroupSpace(Protocol):
    """Durable per-room records. Every method is one room's; nothing expires."""

    async def goal_add(self, goal: Goal) -> None:
        """Keep a new goal; past ``GOALS_PER_MEMBER`` the member's oldest goes."""
        ...

    async def goal_get(self, room: str, goal_id: str) -> Goal | None: ...

    async def goal_update(self, goal: Goal) -> None:
        """Replace a kept goal (its answer); a goal no longer kept stays gone."""
        ...

    async def goals_of(self, room: str, user_id: str) -> list[Goal]:
        """A member's goals, newest first."""
        ...

    async def goals_shared(self, room: str) -> list[Goal]:
        """Every member's shared goals, newest first."""
        ...

    async def win_add(self, win: KeptWin) -> bool:
        """Keep a win; False (nothing changed) when that message is on the wall already.
        Past ``WINS_PER_ROOM`` the oldest goes."""
        ...

    async def win_get(self, room: str, win_id: str) -> KeptWin | None: ...

    async def win_remove(self, room: str, win_id: str) -> bool: ...

    async def wins(self, room: str) -> list[KeptWin]:
        """The wall, newest first."""
        ...

    async def resource_put(self, resource: Resource) -> None:
        """Add or replace an entry (a suggestion approved is the same id, shelved)."""
        ...

    async def resource_get(self, room: str, resource_id: str) -> Resource | None: ...

    async def resource_remove(self, room: str, resource_id: str) -> bool: ...

    async def resources(self, room: str) -> list[Resource]:
        """The shelf and the suggestions waiting, oldest first."""
        ...

    async def next_session_set(self, session: NextSession | None, room: str) -> None: ...

    async def next_session(self, room: str) -> NextSession | None: ...

    async def member_data(self, room: str, user_id: str) -> MemberData: ...

    async def member_erase(self, room: str, user_id: str) -> int:
        """Delete a member's goals and kept wins; returns how many records went."""
        ...

    async def purge(self, room: str) -> None:
        """Forget the room's whole space."""
        ...

    async def close(self) -> None: ...
