"""Access tokens: HS256 JWTs naming the user, their pseudonym and their role per room.

The role comes only from here, never from an event payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from rooms.entries import ROLES, UserInfo, user_info

ROOM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
"""Room ids: safe in Redis keys and URLs."""

MAX_NAME_LENGTH = 64


class AuthError(Exception):
    """The token cannot be accepted; ``str(exc)`` is the reason given to the client."""


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    name: str
    rooms: Mapping[str, str]
    expires_at: int
    membership: str | None = None
    """A server-issued session credential's membership id (``mid``; chatserver/organise/):
    checked at connect and revocable. External tokens have none."""

    def expired(self, now_ms: int) -> bool:
        return self.expires_at * 1000 <= now_ms

    def user(self, room: str) -> UserInfo:
        return user_info(self.user_id, self.name, self.rooms[room])


def issue_token(
    secret: str,
    *,
    user_id: str,
    name: str,
    rooms: Mapping[str, str],
    now: int,
    ttl_s: int,
    membership: str | None = None,
    group: str | None = None,
) -> str:
    for room, role in rooms.items():
        if role not in ROLES:
            raise ValueError(f"role for room {room!r} must be member or facilitator, not {role!r}")
    payload: dict[str, object] = {
        "sub": user_id,
        "name": name,
        "rooms": dict(rooms),
        "iat": now,
        "exp": now + ttl_s,
    }
    if membership is not None:
        payload["mid"] = membership
    if group is not None:
        payload["group"] = group  # the group's display name, for the page's heading only
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_token(token: Any, secret: str, now: int) -> Claims:
    if not isinstance(token, str) or not token:
        raise AuthError("token missing")
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_iat": False},
            # PyJWT checks exp against the wall clock; the check below applies the
            # caller's `now` as well, so tests and the service agree on time.
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidSignatureError:
        raise AuthError("token signature invalid") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token missing claim {exc.claim}") from None
    except jwt.InvalidTokenError:
        raise AuthError("token malformed") from None
    if int(payload["exp"]) <= now:
        raise AuthError("token expired")
    return _claims(payload)


def _claims(payload: Mapping[str, Any]) -> Claims:
    sub, name, rooms = payload.get("sub"), payload.get("name"), payload.get("rooms")
    if not isinstance(sub, str) or not sub or len(sub) > 128:
        raise AuthError("token has an invalid sub")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise AuthError("token has an invalid name")
    # The user id and the name travel everywhere: in Redis keys, presence records, audience
    # names on the room channel, events to every member. Printable text only: no newline,
    # tab or other control character, no invisible format character, no lone surrogate
    # (str.isprintable() refuses each), so no framing can be broken by a token's claims.
    if not sub.isprintable():
        raise AuthError("token has an invalid sub (control or invisible characters)")
    if not name.isprintable():
        raise AuthError("token has an invalid name (control or invisible characters)")
    if not isinstance(rooms, dict) or not rooms:
        raise AuthError("token names no rooms")
    for room, role in rooms.items():
        if not isinstance(room, str) or not ROOM_ID.fullmatch(room):
            raise AuthError("token has an invalid room id")
        if role not in ROLES:
            raise AuthError(f"token has an invalid role for room {room}")
    membership = payload.get("mid")
    if membership is not None and (
        not isinstance(membership, str) or not 0 < len(membership) <= 64 or not membership.isalnum()
    ):
        raise AuthError("token has an invalid mid")
    return Claims(
        user_id=sub,
        name=name.strip(),
        rooms=dict(rooms),
        expires_at=int(payload["exp"]),
        membership=membership,
    )
