"""Access tokens: what a member's browser presents, and the reasons it can be refused."""

import time
from typing import Any

import jwt
import pytest

from chatserver.auth import AuthError, Claims, decode_token, issue_token

SECRET = "a" * 40
OTHER_SECRET = "b" * 40


def now() -> int:
    return int(time.time())


def token(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "user_id": "u1",
        "name": "Alex",
        "rooms": {"r1": "member", "r2": "facilitator"},
        "now": now(),
        "ttl_s": 600,
    }
    args.update(overrides)
    return issue_token(SECRET, **args)


def raw_token(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def reason(tok: Any, secret: str = SECRET, at: int | None = None) -> str:
    with pytest.raises(AuthError) as info:
        decode_token(tok, secret, now() if at is None else at)
    return str(info.value)


def test_round_trip_gives_back_the_claims() -> None:
    t = now()
    claims = decode_token(token(now=t), SECRET, t)
    assert claims == Claims(
        user_id="u1",
        name="Alex",
        rooms={"r1": "member", "r2": "facilitator"},
        expires_at=t + 600,
    )
    assert claims.user("r1") == {"id": "u1", "name": "Alex", "role": "member"}
    assert claims.user("r2") == {"id": "u1", "name": "Alex", "role": "facilitator"}


def test_token_is_hs256_with_the_design_claims() -> None:
    t = now()
    tok = token(now=t)
    assert jwt.get_unverified_header(tok)["alg"] == "HS256"
    payload = jwt.decode(tok, SECRET, algorithms=["HS256"])
    assert payload["sub"] == "u1"
    assert payload["name"] == "Alex"
    assert payload["rooms"] == {"r1": "member", "r2": "facilitator"}
    assert payload["exp"] == t + 600


def test_name_is_trimmed() -> None:
    assert decode_token(token(name="  Alex  "), SECRET, now()).name == "Alex"


@pytest.mark.parametrize("tok", [None, "", 0, 123, b"abc", ["x"], {"token": "x"}])
def test_missing_empty_or_non_string_token(tok: Any) -> None:
    assert reason(tok) == "token missing"


@pytest.mark.parametrize("tok", ["garbage", "a.b.c", "not a jwt at all", "e30.e30.e30"])
def test_garbage_is_malformed(tok: str) -> None:
    assert reason(tok) == "token malformed"


def test_wrong_secret_is_a_bad_signature() -> None:
    assert reason(token(), secret=OTHER_SECRET) == "token signature invalid"


def test_tampered_payload_is_a_bad_signature() -> None:
    header, _, sig = token().split(".")
    forged = raw_token(
        {"sub": "u1", "name": "A", "rooms": {"r1": "facilitator"}, "exp": now() + 60}
    )
    assert reason(f"{header}.{forged.split('.')[1]}.{sig}") == "token signature invalid"


def test_unsigned_alg_none_token_is_refused() -> None:
    payload = {"sub": "u1", "name": "A", "rooms": {"r1": "facilitator"}, "exp": now() + 60}
    unsigned = jwt.encode(payload, None, algorithm="none")
    assert reason(unsigned) == "token malformed"


def test_expired_by_the_callers_clock() -> None:
    t = now()
    tok = token(now=t, ttl_s=60)
    assert reason(tok, at=t + 60) == "token expired"
    assert reason(tok, at=t + 3600) == "token expired"
    assert decode_token(tok, SECRET, t + 59).user_id == "u1"


def test_expired_by_the_wall_clock() -> None:
    t = now() - 7200
    assert reason(token(now=t, ttl_s=60), at=t) == "token expired"


def test_missing_exp_or_sub_is_refused() -> None:
    assert reason(raw_token({"sub": "u1", "name": "A", "rooms": {"r1": "member"}})) == (
        "token missing claim exp"
    )
    assert reason(raw_token({"name": "A", "rooms": {"r1": "member"}, "exp": now() + 60})) == (
        "token missing claim sub"
    )


def base(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sub": "u1",
        "name": "Alex",
        "rooms": {"r1": "member"},
        # A day: parametrize builds these at collection, and a long suite reaches this
        # test many minutes later (10 minutes expired in CI once).
        "exp": now() + 86_400,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not ...}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (base(rooms={}), "token names no rooms"),
        (base(rooms=...), "token names no rooms"),
        (base(rooms=["r1"]), "token names no rooms"),
        (base(rooms={"r1": "admin"}), "token has an invalid role for room r1"),
        (base(rooms={"r1": None}), "token has an invalid role for room r1"),
        (base(rooms={"": "member"}), "token has an invalid room id"),
        (base(rooms={"r" * 65: "member"}), "token has an invalid room id"),
        (base(name=""), "token has an invalid name"),
        (base(name="   "), "token has an invalid name"),
        (base(name=...), "token has an invalid name"),
        (base(name=42), "token has an invalid name"),
        (base(name="n" * 65), "token has an invalid name"),
        (base(sub=""), "token has an invalid sub"),
        (base(sub="u" * 129), "token has an invalid sub"),
    ],
)
def test_bad_claims_are_refused(payload: dict[str, Any], expected: str) -> None:
    assert reason(raw_token(payload)) == expected


def test_non_string_sub_is_refused() -> None:
    with pytest.raises(AuthError):
        decode_token(raw_token(base(sub=123)), SECRET, now())


@pytest.mark.parametrize("role", ["admin", "Member", "", "owner"])
def test_issue_token_refuses_a_bad_role(role: str) -> None:
    with pytest.raises(ValueError, match="must be member or facilitator"):
        token(rooms={"r1": "member", "r2": role})


# --- claims that could break a frame or a record (issue 12, item 9) ----------------------


@pytest.mark.parametrize(
    "sub",
    ["eve\nall", "eve\r", "eve\tx", "eve\x00", "eve\x1b[31m", "eve\u2028", "eve\u200b", "\ud800"],
)
def test_a_sub_with_control_or_invisible_characters_is_refused(sub: str) -> None:
    assert reason(raw_token(base(sub=sub))) == (
        "token has an invalid sub (control or invisible characters)"
    )


@pytest.mark.parametrize("name", ["Eve\nSam", "Eve\t", "Eve\u200b", "Eve\ud800"])
def test_a_name_with_control_or_invisible_characters_is_refused(name: str) -> None:
    assert reason(raw_token(base(name=name))) == (
        "token has an invalid name (control or invisible characters)"
    )


@pytest.mark.parametrize("sub", ["u1", "alex@example.org", "Zoë Smith", "org:42/user-7", "名前"])
def test_ordinary_ids_are_accepted(sub: str) -> None:
    assert decode_token(raw_token(base(sub=sub)), SECRET, now()).user_id == sub


def _variants() -> dict[str, str]:
    """Tokens of every shape the direct HS256 check must either read exactly as PyJWT
    does or leave to PyJWT."""
    t = now()
    good = {"sub": "u1", "name": "Alex", "rooms": {"r1": "member"}, "iat": t, "exp": t + 600}
    header, body, signature = token().split(".")
    other_header = jwt.encode(good, SECRET, algorithm="HS256", headers={"kid": "k1"})
    return {
        "issued": token(),
        "raw": raw_token(good),
        "expired": raw_token({**good, "exp": t - 1}),
        "expires now": raw_token({**good, "exp": t}),
        "float exp": raw_token({**good, "exp": t + 600.5}),
        "string exp": raw_token({**good, "exp": str(t + 600)}),
        "no exp": raw_token({k: v for k, v in good.items() if k != "exp"}),
        "int sub": raw_token({**good, "sub": 7}),
        "audience": raw_token({**good, "aud": "someone"}),
        "not yet": raw_token({**good, "nbf": t + 300}),
        "jti": raw_token({**good, "jti": 5}),
        "other secret": raw_token(good, OTHER_SECRET),
        "kid header": other_header,
        "alg none": jwt.encode(good, None, algorithm="none"),
        "hs512": jwt.encode(good, SECRET * 2, algorithm="HS512"),
        "tampered body": f"{header}.{raw_token({**good, 'sub': 'u2'}).split('.')[1]}.{signature}",
        "cut signature": f"{header}.{body}.{signature[:-2]}",
        "no signature": f"{header}.{body}.",
        "list payload": jwt.api_jws.encode(b"[1,2]", SECRET, algorithm="HS256"),
        "four parts": f"{header}.{body}.{signature}.x",
    }


@pytest.mark.parametrize("name", sorted(_variants()))
def test_the_direct_check_reads_a_token_as_pyjwt_does_or_leaves_it_to_pyjwt(name: str) -> None:
    """decode_token checks the tokens huddle issues with hmac directly once PyJWT has
    accepted one signed with the same secret (PyJWT's decode was most of a connect's
    token check): it must never accept what PyJWT refuses, nor read a token otherwise."""
    from chatserver import auth

    decode_token(token(), SECRET, now())  # PyJWT has accepted this secret
    tok = _variants()[name]
    direct = auth._VERIFIER.payload(tok, SECRET)
    try:
        by_pyjwt: dict[str, Any] | None = auth._pyjwt_payload(tok, SECRET)
    except AuthError:
        by_pyjwt = None
    if direct is not None:
        assert direct == by_pyjwt
    if name in ("issued", "raw"):
        assert direct is not None, "the tokens huddle issues are checked directly"
    if by_pyjwt is None:
        assert direct is None
        with pytest.raises(AuthError):
            decode_token(tok, SECRET, now())


def test_a_secret_pyjwt_has_not_accepted_is_not_checked_directly() -> None:
    from chatserver import auth

    fresh = "c" * 40
    tok = raw_token({"sub": "u1", "name": "A", "rooms": {"r1": "member"}, "exp": now() + 60}, fresh)
    assert auth._VERIFIER.payload(tok, fresh) is None
    assert decode_token(tok, fresh, now()).user_id == "u1"
    assert auth._VERIFIER.payload(tok, fresh) is not None
