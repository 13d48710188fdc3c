"""Groups, invitations, members and audit entries, as stored and as the API sends them.

No record holds a credential in the clear: an invitation keeps the SHA-256 of its code,
the organiser's passphrase is kept as a scrypt hash (``credentials``)."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, TypedDict

Role: TypeAlias = Literal["member", "facilitator"]
Redemption: TypeAlias = Literal["ok", "unknown", "expired", "revoked", "used_up"]
"""What opening an invitation came to: a place in the group, or why not."""

FORGOTTEN: Final = "(name forgotten)"
"""What a removed member's name becomes when an organiser forgets it."""

AUDIT_KEPT: Final = 2000
"""Audit entries kept (newest); years of a small charity's organising."""


class Group(TypedDict):
    room: str
    """The room id: what tokens name, unchangeable once made."""
    name: str
    time_zone: str
    agreement: str
    crisis_locale: str
    policy: str
    """A moderation policy's name (moderation/data/policy-<name>.json)."""
    schedule: str
    contact: str
    """Who a member can contact about their place (shown on the error pages)."""
    created_ms: int
    updated_ms: int


class Invitation(TypedDict):
    id: str
    room: str
    role: Role
    label: str
    code_hash: str
    uses_allowed: int
    uses: int
    expires_ms: int
    revoked_ms: int | None
    created_ms: int
    created_by: str


class Member(TypedDict):
    """One person's place in a group, made when they open an invitation."""

    id: str
    """The membership id: the ``mid`` claim of their session credential."""
    room: str
    user_id: str
    name: str
    role: Role
    invitation_id: str
    joined_ms: int
    last_seen_ms: int
    removed_ms: int | None


class AuditEntry(TypedDict):
    """Who did what to which group — names and ids only, never message text."""

    ts: int
    actor: str
    action: str
    room: str
    target: str


class Revocation(TypedDict):
    member_id: str
    room: str
    user_id: str
    ts: int


def invitation_state(invitation: Invitation, now_ms: int) -> Redemption:
    """Whether an invitation can let one more person in now."""
    if invitation["revoked_ms"] is not None:
        return "revoked"
    if invitation["expires_ms"] <= now_ms:
        return "expired"
    if invitation["uses"] >= invitation["uses_allowed"]:
        return "used_up"
    return "ok"


def public_invitation(invitation: Invitation, now_ms: int) -> dict[str, object]:
    """An invitation as the API and console show it: no code hash."""
    shown: dict[str, object] = {k: v for k, v in invitation.items() if k != "code_hash"}
    shown["state"] = invitation_state(invitation, now_ms)
    return shown
