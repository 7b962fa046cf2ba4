"""Builds a `CentralClient` from settings: TLS, pool, token minter, quota, breaker, retries."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
from redis.asyncio import Redis

from central_client.breaker import BreakerState, CircuitBreaker
from central_client.client import CentralClient, Timeouts, tls_context
from central_client.retry import RetryBudget, RetryPolicy, wait_exponential_full_jitter
from central_client.settings import CentralClientSettings
from common.quota import (
    AsyncBucket,
    ClientQuota,
    ConcurrencyLimiter,
    FallbackBucket,
    LocalAsyncBucket,
    RedisTokenBucket,
    TokenBucket,
)
from common.tokens import TokenMinter

log = logging.getLogger(__name__)


@asynccontextmanager
async def central_client(
    settings: CentralClientSettings,
    on_breaker_change: Callable[[BreakerState, BreakerState], None] | None = None,
    on_attempt: Callable[[str], None] | None = None,
    on_quota_degraded: Callable[[bool], None] | None = None,
) -> AsyncIterator[CentralClient | None]:
    """A warmed client for the app's lifetime, or None when no secret is configured."""
    secret = settings.secret_value()
    if secret is None:
        log.warning(
            "no central secret configured (HYBRID_ROUTER_CENTRAL__SECRET); "
            "central tasks will answer 503"
        )
        yield None
        return
    https = settings.url.startswith("https://")
    connector = aiohttp.TCPConnector(
        limit=settings.pool_size,
        ssl=tls_context(str(settings.ca_file) if settings.ca_file else None) if https else False,
    )
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    async with aiohttp.ClientSession(connector=connector) as session:
        client = CentralClient(
            session=session,
            base_url=settings.url,
            model=settings.model,
            minter=TokenMinter(
                settings.key_id, secret, settings.audience, ttl_s=settings.token_ttl_s
            ),
            quota=ClientQuota(
                _bucket(settings, redis, on_quota_degraded),
                ConcurrencyLimiter(settings.quota.max_concurrent),
                max_queue_wait_s=settings.quota.max_queue_wait_s,
            ),
            breaker=CircuitBreaker(
                failure_threshold=settings.breaker.failure_threshold,
                failure_rate_threshold=settings.breaker.failure_rate_threshold,
                window_size=settings.breaker.window_size,
                min_calls=settings.breaker.min_calls,
                recovery_timeout_s=settings.breaker.recovery_timeout_s,
                half_open_max_calls=settings.breaker.half_open_max_calls,
                on_change=on_breaker_change,
            ),
            retry=RetryPolicy(max_attempts=settings.retry.max_attempts, cap_s=settings.retry.cap_s),
            budget=RetryBudget(
                ratio=settings.retry.budget_ratio, min_retries_per_s=settings.retry.budget_min_per_s
            ),
            wait=wait_exponential_full_jitter(settings.retry.base_s, settings.retry.cap_s),
            timeouts=Timeouts(
                settings.connect_timeout_s, settings.read_timeout_s, settings.total_timeout_s
            ),
            batch_size=settings.batch.max_batch_size if settings.batch.enabled else 1,
            batch_wait_s=settings.batch.max_wait_ms / 1000,
            max_response_bytes=settings.max_response_bytes,
            adapter=settings.protocol,
            on_attempt=on_attempt,
        )
        await client.warm_up()
        try:
            yield client
        finally:
            await client.close()
            if redis is not None:
                await redis.aclose()


def _bucket(
    settings: CentralClientSettings,
    redis: Redis | None,
    on_degraded: Callable[[bool], None] | None,
) -> AsyncBucket:
    """The shared Redis bucket with a local fallback, or a local bucket alone."""
    local = TokenBucket(settings.quota.qps, settings.quota.burst)
    if redis is None or not settings.quota.shared:
        return LocalAsyncBucket(local)
    shared = RedisTokenBucket(
        redis, f"hybrid-router:quota:{settings.account}", settings.quota.qps, settings.quota.burst
    )
    return FallbackBucket(shared, local, on_degraded or (lambda degraded: None))
