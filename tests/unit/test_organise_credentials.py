"""The organiser's credentials: hashes that verify and nothing else, a console cookie and a
chat token that can never stand in for each other, the rate limiter, and the rules for an
invitation's state and a chosen name."""

from __future__ import annotations

import pytest

from chatserver.auth import AuthError, decode_token, issue_token
from chatserver.organise.credentials import (
    code_hash,
    console_cookie,
    hash_passphrase,
    new_code,
    passphrase_matches,
    read_console_cookie,
    session_credential,
)
from chatserver.organise.organiser import OrganiseError, check_pseudonym
from chatserver.organise.ratelimit import Limiter
from chatserver.organise.records import Invitation, Member, invitation_state

SECRET = "s" * 40
NOW = 1_800_000_000


def test_a_passphrase_hash_verifies_only_its_passphrase() -> None:
    stored = hash_passphrase("a long passphrase here")
    assert stored.startswith("scrypt$") and "a long passphrase" not in stored
    assert passphrase_matches("a long passphrase here", stored)
    assert not passphrase_matches("a long passphrase her", stored)
    assert not passphrase_matches("anything", "not a hash")
    assert hash_passphrase("same") != hash_passphrase("same")  # salted


def test_codes_are_long_random_and_stored_as_hashes() -> None:
    codes = {new_code() for _ in range(100)}
    assert len(codes) == 100 and all(len(c) >= 43 for c in codes)
    code = codes.pop()
    assert code_hash(code) != code and len(code_hash(code)) == 64


def test_a_console_cookie_and_a_chat_token_never_stand_in_for_each_other() -> None:
    cookie, session = console_cookie(SECRET, now=NOW)
    assert read_console_cookie(SECRET, cookie, now=NOW) == session
    assert read_console_cookie(SECRET, cookie, now=session.expires_at) is None
    assert read_console_cookie("t" * 40, cookie, now=NOW) is None
    with pytest.raises(AuthError):
        decode_token(cookie, SECRET, NOW)
    chat = issue_token(SECRET, user_id="u", name="U", rooms={"r": "member"}, now=NOW, ttl_s=60)
    assert read_console_cookie(SECRET, chat, now=NOW) is None


def test_a_session_credential_names_its_membership() -> None:
    member: Member = {
        "id": "mabc123",
        "room": "tuesday",
        "user_id": "u1",
        "name": "Kit",
        "role": "member",
        "invitation_id": "inv1",
        "joined_ms": 0,
        "last_seen_ms": 0,
        "removed_ms": None,
    }
    token = session_credential(SECRET, member, now=NOW, ttl_s=60, group="Tuesday")
    claims = decode_token(token, SECRET, NOW)
    assert claims.membership == "mabc123" and claims.rooms == {"tuesday": "member"}
    bad = issue_token(
        SECRET, user_id="u", name="U", rooms={"r": "member"}, now=NOW, ttl_s=60, membership="a b"
    )
    with pytest.raises(AuthError, match="invalid mid"):
        decode_token(bad, SECRET, NOW)


def test_the_limiter_allows_a_burst_then_one_per_refill() -> None:
    now = [0.0]
    limiter = Limiter(burst=3, refill_s=2.0, clock=lambda: now[0])
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    wait = limiter.retry_after("a")
    assert wait is not None and 1.9 <= wait <= 2.0
    assert limiter.retry_after("b") is None  # each key its own bucket
    now[0] = 2.0
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") is not None


def test_an_invitations_state() -> None:
    inv: Invitation = {
        "id": "i",
        "room": "r",
        "role": "member",
        "label": "",
        "code_hash": "h",
        "uses_allowed": 2,
        "uses": 1,
        "expires_ms": 100,
        "revoked_ms": None,
        "created_ms": 0,
        "created_by": "organiser",
    }
    assert invitation_state(inv, 99) == "ok"
    assert invitation_state(inv, 100) == "expired"
    assert invitation_state({**inv, "uses": 2}, 0) == "used_up"
    assert invitation_state({**inv, "revoked_ms": 5}, 0) == "revoked"


@pytest.mark.parametrize("bad", [None, 7, "", "   ", "x" * 65, "bell\x07", "\u200b"])
def test_a_chosen_name_is_printable_and_short(bad: object) -> None:
    with pytest.raises(OrganiseError):
        check_pseudonym(bad)


def test_a_chosen_name_is_tidied() -> None:
    assert check_pseudonym("  Kit   (she/her) ") == "Kit (she/her)"
