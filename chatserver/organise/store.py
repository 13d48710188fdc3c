"""The organiser's storage contract, kept by a SQLite file (embedded default) or Redis."""

from __future__ import annotations

from typing import Protocol

from chatserver.organise.records import (
    AuditEntry,
    Group,
    Invitation,
    Member,
    Redemption,
    Revocation,
)


class OrganiserStore(Protocol):
    async def credential_get(self, name: str) -> str | None:
        """A stored hash by name (``passphrase``, ``setup``); None if never set."""
        ...

    async def credential_set(self, name: str, value: str | None) -> None: ...

    async def group_put(self, group: Group) -> None: ...

    async def group_get(self, room: str) -> Group | None: ...

    async def groups(self) -> list[Group]:
        """Every group, by display name."""
        ...

    async def invitation_add(self, invitation: Invitation) -> None: ...

    async def invitation_get(self, invitation_id: str) -> Invitation | None: ...

    async def invitation_by_code(self, code_hash: str) -> Invitation | None: ...

    async def invitations(self, room: str) -> list[Invitation]:
        """A group's invitations, newest first."""
        ...

    async def invitation_revoke(self, invitation_id: str, now_ms: int) -> Invitation | None:
        """Mark it revoked (once; a second revoke changes nothing). None if unknown."""
        ...

    async def redeem(self, code_hash: str, member: Member, now_ms: int) -> Redemption:
        """In one atomic step: if the invitation is usable, count one use and keep
        ``member`` (its ``invitation_id``, ``room`` and ``role`` are set from it)."""
        ...

    async def member_get(self, member_id: str) -> Member | None: ...

    async def members(self, room: str) -> list[Member]:
        """A group's members (removed ones included), in joining order."""
        ...

    async def member_seen(self, member_id: str, now_ms: int) -> None: ...

    async def member_remove(self, member_id: str, now_ms: int) -> Member | None:
        """Mark removed and add to the revocation list; None if unknown or removed."""
        ...

    async def member_forget(self, member_id: str) -> Member | None:
        """A removed member's name replaced by ``FORGOTTEN`` (their place stays, for the
        audit and the revocation list); None unless they were removed."""
        ...

    async def revocations_since(self, after_ms: int) -> list[Revocation]:
        """Revoked memberships at or after ``after_ms`` (what every worker polls)."""
        ...

    async def audit_add(self, entry: AuditEntry) -> None: ...

    async def audit(self, room: str | None, limit: int) -> list[AuditEntry]:
        """Newest first; one group's or all."""
        ...

    async def close(self) -> None: ...
