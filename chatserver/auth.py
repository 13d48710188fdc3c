"""Access tokens: HS256 JWTs naming the user, their pseudonym and their role per room.

The role comes only from here, never from an event payload.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

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
    payload = _VERIFIER.payload(token, secret)
    if payload is None:
        payload = _pyjwt_payload(token, secret)
        _VERIFIER.accepted(secret)
    if int(payload["exp"]) <= now:
        raise AuthError("token expired")
    return _claims(payload)


def _pyjwt_payload(token: str, secret: str) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_iat": False},
            # PyJWT checks exp against the wall clock; decode_token applies the
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
    return payload


# A token of the one shape huddle issues, checked without PyJWT's general path.
_HS256_HEADER: Final = {"alg": "HS256", "typ": "JWT"}
_CHECKED_ELSEWHERE: Final = frozenset({"nbf", "aud", "iss", "jti"})
_MAX_KNOWN = 16


class _Verifier:
    """HS256 tokens of the shape huddle issues, verified with hmac directly.

    PyJWT's decode is most of a connection's token check and several percent of a
    connect + join (docs/benchmarks.md): here a token whose header is exactly
    ``{"alg":"HS256","typ":"JWT"}``, signed with a secret PyJWT has already accepted a
    token with, is checked with ``hmac`` and ``json`` alone; it is accepted only if
    PyJWT would accept it too (signature, ``exp`` an integer in the future by the
    wall clock, ``sub`` a string, none of the claims PyJWT checks further). Anything
    else — a bad signature, another header, an ``aud`` or ``nbf`` — goes to PyJWT,
    whose answer (and error) stands."""

    def __init__(self) -> None:
        self._headers: dict[str, bool] = {}
        self._keys: dict[str, bytes] = {}

    def payload(self, token: str, secret: str) -> dict[str, Any] | None:
        """The payload if this token is verified here, else None (ask PyJWT)."""
        key = self._keys.get(secret)
        if key is None or token.count(".") != 2:
            return None
        header, body, signature = token.split(".")
        if not self._header_ok(header):
            return None
        # hmac.digest: the one-shot C HMAC (hmac.new builds a Python object per call).
        expected = hmac.digest(key, f"{header}.{body}".encode("ascii"), "sha256")
        try:
            if not hmac.compare_digest(expected, _b64decode(signature)):
                return None
            payload = json.loads(_b64decode(body))
        except (ValueError, UnicodeError):
            return None
        if not isinstance(payload, dict) or _CHECKED_ELSEWHERE.intersection(payload):
            return None
        exp, sub = payload.get("exp"), payload.get("sub")
        if type(exp) is not int or not isinstance(sub, str) or exp <= time.time():
            return None
        return payload

    def accepted(self, secret: str) -> None:
        """PyJWT accepted a token signed with ``secret``: its key is good for the rest."""
        if secret not in self._keys and len(self._keys) < _MAX_KNOWN:
            self._keys[secret] = secret.encode("utf-8")

    def _header_ok(self, header: str) -> bool:
        known = self._headers.get(header)
        if known is None:
            try:
                known = json.loads(_b64decode(header)) == _HS256_HEADER
            except (ValueError, UnicodeError):
                known = False
            if len(self._headers) < _MAX_KNOWN:
                self._headers[header] = known
        return known


def _b64decode(part: str) -> bytes:
    """base64url without padding, strictly (anything else is left to PyJWT)."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_VERIFIER: Final = _Verifier()


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
