"""Codes, hashes and the credentials the organiser's side hands out.

- Invitation and setup codes: 32 random bytes (256 bits), URL-safe; only their SHA-256 is
  stored, so a copy of the store lets nobody in. A fast hash is right for them: they are
  random, not chosen by a person, so there is nothing to guess.
- The organiser's passphrase (chosen by a person on the first-run setup page) is stored as
  scrypt with a random salt.
- A member's session credential is an HS256 token like any other (chatserver/auth.py) with
  their membership id in ``mid``, so a worker can refuse it once they are removed.
- The organiser's console cookie is a token for another audience (a chat token can never
  stand in for it, nor it for one) carrying the CSRF token the console's forms echo.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import jwt

from chatserver.auth import issue_token
from chatserver.organise.records import Member

CONSOLE_AUDIENCE: Final = "huddle-organise"
CONSOLE_TTL_S: Final = 12 * 3600
MIN_PASSPHRASE: Final = 12
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_code() -> str:
    return secrets.token_urlsafe(32)


def new_id(prefix: str) -> str:
    """An id shown in the console and the API (not a secret): letters and digits only."""
    return prefix + secrets.token_hex(8)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def hash_passphrase(passphrase: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        passphrase.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def passphrase_matches(passphrase: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        found = hashlib.scrypt(
            passphrase.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def session_credential(
    secret: str, member: Member, *, now: int, ttl_s: int, group: str | None = None
) -> str:
    """``group``: the group's display name, which the page shows as its heading."""
    return issue_token(
        secret,
        user_id=member["user_id"],
        name=member["name"],
        rooms={member["room"]: member["role"]},
        now=now,
        ttl_s=ttl_s,
        membership=member["id"],
        group=group,
    )


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    csrf: str
    expires_at: int


def console_cookie(secret: str, *, now: int) -> tuple[str, ConsoleSession]:
    session = ConsoleSession(csrf=secrets.token_urlsafe(24), expires_at=now + CONSOLE_TTL_S)
    payload: dict[str, object] = {"aud": CONSOLE_AUDIENCE, "sub": "organiser"}
    payload |= {"csrf": session.csrf, "iat": now, "exp": session.expires_at}
    return jwt.encode(payload, secret, algorithm="HS256"), session


def read_console_cookie(secret: str, raw: str | None, *, now: int) -> ConsoleSession | None:
    if not raw:
        return None
    try:
        payload = jwt.decode(
            raw,
            secret,
            algorithms=["HS256"],
            audience=CONSOLE_AUDIENCE,
            options={"require": ["exp", "aud", "csrf"], "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        return None
    csrf, exp = payload.get("csrf"), int(payload["exp"])
    if not isinstance(csrf, str) or exp <= now:
        return None
    return ConsoleSession(csrf=csrf, expires_at=exp)
