"""What an organiser can do, the same from the console and the API: make and edit groups,
invite facilitators and members, take invitations back, remove members; and what opening
an invitation or coming back does for a member. Every change is audited (who, what, which
group — never message text) and every removal ends access at once (``access``)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from chatserver.auth import MAX_NAME_LENGTH, ROOM_ID, Claims
from chatserver.organise.credentials import code_hash, new_code, new_id, session_credential
from chatserver.organise.crisis import LOCALES
from chatserver.organise.records import (
    Group,
    Invitation,
    Member,
    Redemption,
    Role,
    invitation_state,
)
from chatserver.organise.store import OrganiserStore

MAX_USES: Final = 500
MAX_EXPIRY_HOURS: Final = 90 * 24
GROUP_TEXT_LIMITS: Final = {
    "name": 80,
    "agreement": 4000,
    "schedule": 200,
    "contact": 200,
}
GROUP_FIELDS: Final = (
    "name",
    "time_zone",
    "agreement",
    "crisis_locale",
    "policy",
    "schedule",
    "contact",
)


class OrganiseError(Exception):
    """A request that cannot be done; ``str(exc)`` says why in plain words."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Made:
    """An invitation just made: the only moment its code exists outside the invitee's link."""

    invitation: Invitation
    code: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """What opening an invitation came to."""

    outcome: Redemption
    invitation: Invitation | None
    group: Group | None
    member: Member | None = None
    credential: str | None = None


class Organiser:
    def __init__(
        self,
        store: OrganiserStore,
        *,
        secret: str,
        session_ttl_s: int,
        policies: frozenset[str],
        end_access: Callable[[Member], None],
        clock: Callable[[], int],
        group_changed: Callable[[Group], None] = lambda group: None,
    ) -> None:
        self.store = store
        self._secret = secret
        self.session_ttl_s = session_ttl_s
        self._policies = policies
        self._end_access = end_access
        self._group_changed = group_changed
        self._clock = clock

    def now_ms(self) -> int:
        return self._clock()

    async def audit(self, actor: str, action: str, room: str, target: str = "") -> None:
        await self.store.audit_add(
            {"ts": self._clock(), "actor": actor, "action": action, "room": room, "target": target}
        )

    # -- groups ------------------------------------------------------------------------

    async def group(self, room: str) -> Group:
        found = await self.store.group_get(room)
        if found is None:
            raise OrganiseError(f"There is no group {room!r}.", 404)
        return found

    async def create_group(self, fields: Mapping[str, object], actor: str) -> Group:
        room = fields.get("room")
        if not isinstance(room, str) or not ROOM_ID.fullmatch(room):
            raise OrganiseError(
                "The room id must be 1-64 letters, digits or _ . : -, "
                "starting with a letter or digit."
            )
        if await self.store.group_get(room) is not None:
            raise OrganiseError(f"There is already a group with room id {room!r}.", 409)
        now = self._clock()
        group: Group = {
            "room": room,
            "name": room,
            "time_zone": "Europe/London",
            "agreement": "",
            "crisis_locale": "en-GB",
            "policy": "default",
            "schedule": "",
            "contact": "",
            "created_ms": now,
            "updated_ms": now,
        }
        self._apply(group, fields, require_name=True)
        await self.store.group_put(group)
        self._group_changed(group)
        await self.audit(actor, "group_created", room, group["name"])
        return group

    async def update_group(self, room: str, fields: Mapping[str, object], actor: str) -> Group:
        group = await self.group(room)
        if "room" in fields and fields["room"] != room:
            raise OrganiseError("A group's room id cannot change (its members' links name it).")
        self._apply(group, fields, require_name=False)
        group["updated_ms"] = self._clock()
        await self.store.group_put(group)
        self._group_changed(group)
        await self.audit(actor, "group_updated", room, group["name"])
        return group

    def _apply(self, group: Group, fields: Mapping[str, object], *, require_name: bool) -> None:
        unknown = set(fields) - {*GROUP_FIELDS, "room"}
        if unknown:
            raise OrganiseError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        if require_name and not fields.get("name"):
            raise OrganiseError("A group needs a display name.")
        for key in GROUP_FIELDS:
            if key not in fields:
                continue
            value = fields[key]
            if not isinstance(value, str):
                raise OrganiseError(f"{key} must be text.")
            value = value.strip()
            limit = GROUP_TEXT_LIMITS.get(key)
            if limit is not None and len(value) > limit:
                raise OrganiseError(f"{key} can be at most {limit} characters.")
            if key == "name" and (not value or not value.isprintable()):
                raise OrganiseError("The display name must be printable text, not empty.")
            if key == "time_zone" and not _is_time_zone(value):
                raise OrganiseError(f"{value!r} is not a time zone (e.g. Europe/London).")
            if key == "crisis_locale" and value not in LOCALES:
                raise OrganiseError(f"crisis_locale must be one of {', '.join(LOCALES)}.")
            if key == "policy" and value not in self._policies:
                raise OrganiseError(f"policy must be one of {', '.join(sorted(self._policies))}.")
            group[key] = value

    # -- invitations -------------------------------------------------------------------

    async def invite(
        self, room: str, *, role: object, uses: object, hours: object, label: object, actor: str
    ) -> Made:
        await self.group(room)
        if role not in ("member", "facilitator"):
            raise OrganiseError("role must be member or facilitator.")
        if not isinstance(uses, int) or isinstance(uses, bool) or not 1 <= uses <= MAX_USES:
            raise OrganiseError(f"uses must be a whole number from 1 to {MAX_USES}.")
        if (
            not isinstance(hours, int | float)
            or isinstance(hours, bool)
            or not 0 < hours <= MAX_EXPIRY_HOURS
        ):
            raise OrganiseError(
                f"expires_in_hours must be more than 0 and at most {MAX_EXPIRY_HOURS}."
            )
        if (
            not isinstance(label, str)
            or len(label) > 80
            or not (label == "" or label.isprintable())
        ):
            raise OrganiseError("label must be printable text of at most 80 characters.")
        now = self._clock()
        code = new_code()
        chosen: Role = "facilitator" if role == "facilitator" else "member"
        invitation: Invitation = {
            "id": new_id("inv"),
            "room": room,
            "role": chosen,
            "label": label.strip(),
            "code_hash": code_hash(code),
            "uses_allowed": uses,
            "uses": 0,
            "expires_ms": now + int(hours * 3_600_000),
            "revoked_ms": None,
            "created_ms": now,
            "created_by": actor,
        }
        await self.store.invitation_add(invitation)
        await self.audit(actor, f"invited_{chosen}", room, invitation["id"])
        return Made(invitation, code)

    async def revoke_invitation(self, invitation_id: str, actor: str) -> tuple[Invitation, int]:
        """Take an invitation back; everyone who came in through it is out. Returns the
        invitation and how many places ended."""
        invitation = await self.store.invitation_revoke(invitation_id, self._clock())
        if invitation is None:
            raise OrganiseError("There is no such invitation.", 404)
        await self.audit(actor, "invitation_revoked", invitation["room"], invitation_id)
        ended = 0
        for member in await self.store.members(invitation["room"]):
            ours = member["invitation_id"] == invitation_id and member["removed_ms"] is None
            if ours and await self._remove(member["id"], actor) is not None:
                ended += 1
        return invitation, ended

    # -- members -----------------------------------------------------------------------

    async def remove_member(self, member_id: str, actor: str) -> Member:
        removed = await self._remove(member_id, actor)
        if removed is None:
            raise OrganiseError("There is no such member, or they were removed already.", 404)
        return removed

    async def forget_member(self, member_id: str, actor: str) -> Member:
        """Forget a removed member's name (asked by them, or the group's own rule): their
        place stays, so the audit still says a place was removed and when."""
        forgotten = await self.store.member_forget(member_id)
        if forgotten is None:
            raise OrganiseError("Only a removed member's name can be forgotten.", 404)
        await self.audit(actor, "member_forgotten", forgotten["room"], member_id)
        return forgotten

    async def _remove(self, member_id: str, actor: str) -> Member | None:
        removed = await self.store.member_remove(member_id, self._clock())
        if removed is not None:
            self._end_access(removed)
            await self.audit(actor, "member_removed", removed["room"], member_id)
        return removed

    async def add_member(
        self, room: str, *, name: object, role: object, actor: str
    ) -> tuple[Member, str]:
        """A place made directly (an organisation's own sign-up, through the API): a
        single-use invitation made and opened at once, so it is audited and revocable
        like any other."""
        made = await self.invite(room, role=role, uses=1, hours=1, label="direct", actor=actor)
        welcome = await self.redeem(made.code, name)
        assert welcome.member is not None and welcome.credential is not None
        return welcome.member, welcome.credential

    async def opened(self, code: str) -> tuple[Redemption, Invitation | None, Group | None]:
        """What an invitation link is now, before anyone picks a name."""
        invitation = await self.store.invitation_by_code(code_hash(code))
        if invitation is None:
            return "unknown", None, None
        group = await self.store.group_get(invitation["room"])
        return invitation_state(invitation, self._clock()), invitation, group

    async def redeem(self, code: str, name: object) -> Welcome:
        pseudonym = check_pseudonym(name)
        now = self._clock()
        outcome, invitation, group = await self.opened(code)
        if invitation is None or outcome != "ok":
            return Welcome(outcome, invitation, group)
        member: Member = {
            "id": new_id("m"),
            "room": invitation["room"],
            "user_id": new_id("u"),
            "name": pseudonym,
            "role": invitation["role"],
            "invitation_id": invitation["id"],
            "joined_ms": now,
            "last_seen_ms": now,
            "removed_ms": None,
        }
        outcome = await self.store.redeem(code_hash(code), member, now)
        if outcome != "ok":
            return Welcome(outcome, invitation, group)
        await self.audit(
            f"member:{member['id']}", "invitation_opened", member["room"], invitation["id"]
        )
        credential = session_credential(
            self._secret,
            member,
            now=now // 1000,
            ttl_s=self.session_ttl_s,
            group=group["name"] if group is not None else None,
        )
        return Welcome("ok", invitation, group, member, credential)

    async def refresh(self, claims: Claims) -> tuple[Member, str]:
        """A new session credential for someone who keeps coming; refused once removed."""
        member = await self.admitted(claims)
        now = self._clock()
        await self.store.member_seen(member["id"], now)
        group = await self.store.group_get(member["room"])  # its name may have changed
        return member, session_credential(
            self._secret,
            member,
            now=now // 1000,
            ttl_s=self.session_ttl_s,
            group=group["name"] if group is not None else None,
        )

    async def admitted(self, claims: Claims) -> Member:
        """The member a server-issued credential belongs to, if their place goes on."""
        if claims.membership is None:
            raise OrganiseError("This sign-in was not issued by this server.", 401)
        member = await self.store.member_get(claims.membership)
        if member is None or member["removed_ms"] is not None or member["room"] not in claims.rooms:
            raise OrganiseError(ENDED, 403)
        return member


ENDED: Final = (
    "Your place in this group has ended: the organiser removed it or took back the "
    "invitation you used. If you think this is a mistake, please contact the group's organiser."
)


def check_pseudonym(name: object) -> str:
    if not isinstance(name, str):
        raise OrganiseError("Please choose a name for the group to see.")
    chosen = " ".join(name.split())
    if not chosen or len(chosen) > MAX_NAME_LENGTH or not chosen.isprintable():
        raise OrganiseError(
            f"Please choose a name of 1 to {MAX_NAME_LENGTH} letters, digits or spaces."
        )
    return chosen


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
