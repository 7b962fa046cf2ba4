"""Who may call the central service, and how often: JWT verification plus per-key quota."""

import contextlib
from collections.abc import AsyncIterator

from central_service.settings import CentralQuotaSettings
from common.errors import TooManyRequests, Unauthorized
from common.quota import TokenBucket
from common.quota_gate import ConcurrencyLimiter
from common.tokens import Claims, InvalidToken, TokenVerifier


class CentralAuth:
    """Verifies Bearer tokens and admits each key within its QPS and concurrency."""

    def __init__(
        self, keys: dict[str, str], audience: str, leeway_s: float, quota: CentralQuotaSettings
    ) -> None:
        self._verifier = TokenVerifier(keys, audience, leeway_s=leeway_s)
        self._quota = quota
        self._buckets: dict[str, TokenBucket] = {}
        self._limiters: dict[str, ConcurrencyLimiter] = {}

    def authenticate(self, header: str | None) -> Claims:
        """Claims of a valid `Authorization: Bearer` token, else 401."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing Bearer token", "missing_token")
        try:
            return self._verifier.verify(token.strip())
        except InvalidToken as exc:
            raise Unauthorized(f"invalid token: {exc.reason}", "invalid_token") from None

    @contextlib.asynccontextmanager
    async def admit(self, key_id: str) -> AsyncIterator[None]:
        """Hold one of the key's concurrency slots and one QPS token, else 429."""
        bucket = self._buckets.setdefault(key_id, TokenBucket(self._quota.qps, self._quota.burst))
        limiter = self._limiters.setdefault(key_id, ConcurrencyLimiter(self._quota.max_concurrent))
        wait = bucket.try_acquire()
        if wait > 0:
            raise TooManyRequests(
                "QPS quota exceeded for this key", "qps_quota", retry_after_s=wait
            )
        if not limiter.try_acquire():
            raise TooManyRequests(
                "concurrency quota exceeded for this key", "concurrency_quota", retry_after_s=1
            )
        try:
            yield
        finally:
            limiter.release()
