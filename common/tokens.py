"""JWTs between edge and central: the edge mints HS256 tokens, central verifies them.

Errors: `InvalidToken(reason)` for every rejected token (PyJWT errors are translated in
one place); `ValueError` for bad construction (short secret, ttl over an hour, non-HMAC
algorithm). Wall-clock time is injectable as `now`, since iat/exp are wall-clock by nature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

MIN_SECRET_BYTES = 32
MAX_TTL_S = 3600
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud")


class InvalidToken(Exception):
    """A token central must not accept; `reason` says why, safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its caller."""

    key_id: str
    issuer: str
    subject: str
    audience: str
    iat: int
    exp: int


def _check_secret(key_id: str, secret: str) -> bytes:
    raw = secret.encode()
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"secret for key {key_id!r} must be at least {MIN_SECRET_BYTES} bytes")
    return raw


class TokenMinter:
    """Mints and caches the edge's HS256 token; re-mints within `refresh_margin_s` of expiry."""

    def __init__(
        self,
        key_id: str,
        secret: str,
        audience: str,
        ttl_s: int = 900,
        refresh_margin_s: int = 60,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not key_id:
            raise ValueError("key_id must not be empty")
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S}], got {ttl_s}")
        if not 0 <= refresh_margin_s < ttl_s:
            raise ValueError(f"refresh_margin_s must be in [0, ttl_s), got {refresh_margin_s}")
        self._key_id = key_id
        self._secret = _check_secret(key_id, secret)
        self._audience = audience
        self._ttl_s = ttl_s
        self._margin_s = refresh_margin_s
        self._now = now
        self._cached: tuple[str, int] | None = None

    def token(self) -> str:
        """Return a token with at least `refresh_margin_s` of life left."""
        now = self._now()
        if self._cached is not None and now < self._cached[1] - self._margin_s:
            return self._cached[0]
        iat = int(now)
        exp = iat + self._ttl_s
        payload = {"iss": self._key_id, "aud": self._audience, "iat": iat, "exp": exp}
        encoded = jwt.encode(
            payload, self._secret, algorithm="HS256", headers={"kid": self._key_id}
        )
        self._cached = (encoded, exp)
        return encoded

    def invalidate(self) -> None:
        """Drop the cached token so the next `token()` mints a fresh one (after a 401)."""
        self._cached = None


def _number(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"claim {claim} must be a number")
    return float(value)


class TokenVerifier:
    """Verifies edge tokens against a kid -> secret map (two kids during a key rotation)."""

    def __init__(
        self,
        keys: Mapping[str, str],
        audience: str,
        leeway_s: float = 5,
        algorithms: Iterable[str] = ("HS256",),
        max_ttl_s: float = MAX_TTL_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        allowed = tuple(algorithms)
        if not allowed or not set(allowed) <= HMAC_ALGORITHMS:
            raise ValueError(f"algorithms must be HMAC ({sorted(HMAC_ALGORITHMS)}), got {allowed}")
        self._keys = {kid: _check_secret(kid, secret) for kid, secret in keys.items()}
        self._audience = audience
        self._leeway_s = leeway_s
        self._algorithms = allowed
        self._max_ttl_s = max_ttl_s
        self._now = now

    def verify(self, token: str) -> Claims:
        """Return the token's claims, or raise InvalidToken with the reason."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise InvalidToken(f"algorithm not allowed: {alg!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise InvalidToken("unknown key id")
        payload = self._decode(token, kid)
        iat, exp = _number(payload, "iat"), _number(payload, "exp")
        now = self._now()
        if now >= exp + self._leeway_s:
            raise InvalidToken("token expired")
        if iat > now + self._leeway_s:
            raise InvalidToken("token not yet valid")
        if "nbf" in payload and _number(payload, "nbf") > now + self._leeway_s:
            raise InvalidToken("token not yet valid")
        if exp - iat > self._max_ttl_s:
            raise InvalidToken("token lifetime too long")
        subject = payload.get("sub", kid)
        if not isinstance(subject, str):
            raise InvalidToken("claim sub must be a string")
        return Claims(
            key_id=kid,
            issuer=kid,
            subject=subject,
            audience=self._audience,
            iat=int(iat),
            exp=int(exp),
        )

    def _decode(self, token: str, kid: str) -> dict[str, Any]:
        """Check signature, aud, iss and required claims; times are checked by the caller."""
        try:
            return jwt.decode(
                token,
                self._keys[kid],
                algorithms=list(self._algorithms),
                audience=self._audience,
                issuer=kid,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"missing claim: {exc.claim}") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("wrong issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("bad signature") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise InvalidToken("algorithm not allowed") from exc
        except jwt.DecodeError as exc:
            raise InvalidToken("malformed token") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
