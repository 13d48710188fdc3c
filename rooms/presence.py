"""Who is in a room: a person counts once however many tabs or devices they use.

Events are returned only when it matters to others: the first connection of a user
joining, and the last one leaving.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rooms.entries import UserInfo


@dataclass(slots=True)
class RoomPresence:
    _connections: dict[str, set[str]] = field(default_factory=dict)
    _users: dict[str, UserInfo] = field(default_factory=dict)

    def add(self, user: UserInfo, conn_id: str) -> bool:
        """Record a connection; True when this user was not present before."""
        conns = self._connections.setdefault(user["id"], set())
        first = not conns
        conns.add(conn_id)
        self._users[user["id"]] = user
        return first

    def remove(self, user_id: str, conn_id: str) -> bool:
        """Forget a connection; True when it was the user's last one here."""
        conns = self._connections.get(user_id)
        if not conns or conn_id not in conns:
            return False
        conns.discard(conn_id)
        if conns:
            return False
        del self._connections[user_id]
        del self._users[user_id]
        return True

    def members(self) -> list[UserInfo]:
        return in_member_order(self._users.values())

    def __len__(self) -> int:
        return len(self._users)


def in_member_order(users: Iterable[UserInfo]) -> list[UserInfo]:
    """How member lists are shown everywhere: facilitators first, then by name."""
    return sorted(users, key=lambda u: (u["role"] != "facilitator", u["name"]))
