"""Tests for common.tokens: minting, caching, and every way a token must be rejected."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from common.tokens import Claims, InvalidToken, TokenMinter, TokenVerifier

SECRET = "s" * 40
OTHER_SECRET = "o" * 40
AUD = "central"
NOW = 1_700_000_000.0


class WallClock:
    """A settable stand-in for time.time."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verifier(clock: WallClock | None = None, **keys: str) -> TokenVerifier:
    return TokenVerifier(keys or {"edge-1": SECRET}, AUD, leeway_s=5, now=clock or WallClock())


def forge(
    payload: dict[str, Any],
    headers: dict[str, Any] | None = None,
    secret: str = SECRET,
    algorithm: str = "HS256",
) -> str:
    return jwt.encode(
        payload, secret, algorithm=algorithm, headers={"kid": "edge-1", **(headers or {})}
    )


def good_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": "edge-1", "aud": AUD, "iat": int(NOW), "exp": int(NOW) + 900}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def reason(verifier_: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        verifier_.verify(token)
    return info.value.reason


def test_minted_token_round_trips() -> None:
    clock = WallClock()
    minter = TokenMinter("edge-1", SECRET, AUD, ttl_s=600, now=clock)
    token = minter.token()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "edge-1", "typ": "JWT"}
    claims = verifier(clock).verify(token)
    assert claims == Claims(
        key_id="edge-1",
        issuer="edge-1",
        subject="edge-1",
        audience=AUD,
        iat=int(NOW),
        exp=int(NOW) + 600,
    )


def test_minter_caches_then_refreshes_within_margin() -> None:
    clock = WallClock()
    minter = TokenMinter("edge-1", SECRET, AUD, ttl_s=900, refresh_margin_s=60, now=clock)
    first = minter.token()
    clock.now += 839
    assert minter.token() == first
    clock.now += 1  # 60 s before exp: refresh
    second = minter.token()
    assert second != first
    assert jwt.decode(second, options={"verify_signature": False})["exp"] == int(NOW) + 840 + 900


def test_minter_invalidate_forces_new_token() -> None:
    clock = WallClock()
    minter = TokenMinter("edge-1", SECRET, AUD, now=clock)
    first = minter.token()
    clock.now += 1
    assert minter.token() == first
    minter.invalidate()
    assert minter.token() != first


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": "short"},
        {"ttl_s": 3601},
        {"ttl_s": 0},
        {"refresh_margin_s": 900},
    ],
)
def test_minter_rejects_bad_config(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"key_id": "edge-1", "secret": SECRET, "audience": AUD, **kwargs}
    with pytest.raises(ValueError):
        TokenMinter(**args)


def test_verifier_rejects_short_secret_and_non_hmac_algorithms() -> None:
    with pytest.raises(ValueError):
        TokenVerifier({"edge-1": "short"}, AUD)
    with pytest.raises(ValueError):
        TokenVerifier({"edge-1": SECRET}, AUD, algorithms=("HS256", "RS256"))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud"])
def test_missing_required_claim(claim: str) -> None:
    assert reason(verifier(), forge(good_claims(**{claim: None}))) == f"missing claim: {claim}"


def test_expired_token_beyond_leeway() -> None:
    clock = WallClock()
    token = forge(good_claims(exp=int(NOW) + 10))
    clock.now = NOW + 14
    assert verifier(clock).verify(token).exp == int(NOW) + 10  # within 5 s leeway
    clock.now = NOW + 15
    assert reason(verifier(clock), token) == "token expired"


def test_not_yet_valid_token() -> None:
    clock = WallClock()
    assert verifier(clock).verify(forge(good_claims(iat=int(NOW) + 5)))
    assert reason(verifier(clock), forge(good_claims(iat=int(NOW) + 6))) == "token not yet valid"
    assert reason(verifier(clock), forge(good_claims(nbf=int(NOW) + 60))) == "token not yet valid"


def test_overlong_lifetime_is_rejected() -> None:
    token = forge(good_claims(exp=int(NOW) + 7200))
    assert reason(verifier(), token) == "token lifetime too long"


def test_wrong_audience() -> None:
    assert reason(verifier(), forge(good_claims(aud="someone-else"))) == "wrong audience"


def test_issuer_must_match_key_id() -> None:
    assert reason(verifier(), forge(good_claims(iss="edge-2"))) == "wrong issuer"


def test_non_numeric_times_are_rejected() -> None:
    assert reason(verifier(), forge(good_claims(exp="tomorrow"))) != ""


def test_alg_none_is_rejected() -> None:
    header = b64({"alg": "none", "typ": "JWT", "kid": "edge-1"})
    token = f"{header}.{b64(good_claims())}."
    assert reason(verifier(), token) == "algorithm not allowed: 'none'"


def test_rs256_token_is_rejected() -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(good_claims(), private_key, algorithm="RS256", headers={"kid": "edge-1"})
    assert reason(verifier(), token) == "algorithm not allowed: 'RS256'"


def test_header_claiming_rs256_over_hmac_signature_is_rejected() -> None:
    genuine = forge(good_claims())
    _, payload, signature = genuine.split(".")
    header = b64({"alg": "RS256", "typ": "JWT", "kid": "edge-1"})
    assert reason(verifier(), f"{header}.{payload}.{signature}") == "algorithm not allowed: 'RS256'"


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = forge(good_claims()).split(".")
    payload = b64(good_claims(exp=int(NOW) + 3000))
    assert reason(verifier(), f"{header}.{payload}.{signature}") == "bad signature"


def test_wrong_secret_is_rejected() -> None:
    assert reason(verifier(), forge(good_claims(), secret=OTHER_SECRET)) == "bad signature"


def test_unknown_or_missing_kid_is_rejected() -> None:
    assert reason(verifier(), forge(good_claims(iss="edge-9"), {"kid": "edge-9"})) == (
        "unknown key id"
    )
    no_kid = jwt.encode(good_claims(), SECRET, algorithm="HS256")
    assert reason(verifier(), no_kid) == "unknown key id"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x.y"])
def test_malformed_token_is_rejected(token: str) -> None:
    assert reason(verifier(), token) == "malformed token"


def test_rotated_keys_both_verify() -> None:
    clock = WallClock()
    both = TokenVerifier({"k-old": SECRET, "k-new": OTHER_SECRET}, AUD, now=clock)
    old = TokenMinter("k-old", SECRET, AUD, now=clock).token()
    new = TokenMinter("k-new", OTHER_SECRET, AUD, now=clock).token()
    assert both.verify(old).key_id == "k-old"
    assert both.verify(new).key_id == "k-new"
    # A token claiming the new kid but signed with the old secret must fail.
    forged = jwt.encode(
        good_claims(iss="k-new"), SECRET, algorithm="HS256", headers={"kid": "k-new"}
    )
    assert reason(both, forged) == "bad signature"
