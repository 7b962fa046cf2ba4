"""Builds the central client from settings: per provider an adapter, quota and breaker; one pool."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
from redis.asyncio import Redis

from central_client.adapter_openai import AzureOpenAIAdapter, OpenAIAdapter, OpenAIModels
from central_client.adapter_v3 import V3Adapter
from central_client.adapters import Adapter, Capabilities
from central_client.client import CentralClient
from central_client.config import (
    DEFAULT_RUNTIME,
    ClientConfig,
    ProviderConfig,
    Runtime,
    client_config,
)
from central_client.provider import ProviderClient
from central_client.settings import CentralClientSettings
from central_client.transport import AiohttpTransport, Transport, tls_context
from common.quota import (
    AsyncBucket,
    FallbackBucket,
    LocalAsyncBucket,
    RedisTokenBucket,
    TokenBucket,
)
from common.quota_gate import ClientQuota, ConcurrencyLimiter
from common.tokens import TokenMinter

log = logging.getLogger(__name__)


class Unlimited:
    """A bucket that never makes a call wait (no QPS limit configured)."""

    async def try_acquire(self, n: int = 1) -> float:
        """Always a token."""
        return 0.0


def build_adapter(provider: ProviderConfig) -> Adapter:
    """The adapter for a provider's protocol, holding its credentials."""
    headers = dict(provider.headers)
    if provider.protocol == "v3":
        if not provider.secret:
            raise ValueError(f"provider {provider.name}: protocol v3 needs a signing secret")
        minter = TokenMinter(
            provider.key_id, provider.secret, provider.audience, ttl_s=provider.token_ttl_s
        )
        return V3Adapter(provider.model, minter, headers)
    models = OpenAIModels(
        chat=provider.model,
        embedding=provider.embedding_model or provider.model,
        transcription=provider.transcription_model or "whisper-1",
        image=provider.image_model or provider.model,
    )
    caps = Capabilities(
        tasks=provider.tasks or frozenset({"generate", "embed", "transcribe"}),
        image_input=provider.image_input,
        image_output=provider.image_model is not None,
        audio_tasks=frozenset({"transcribe"}),
    )
    if provider.protocol == "azure-openai":
        return AzureOpenAIAdapter(models, provider.api_key, provider.api_version, headers, caps)
    return OpenAIAdapter(models, provider.api_key, headers, caps)


def build_quota(
    provider: ProviderConfig,
    account: str,
    redis: Redis | None,
    on_degraded: Callable[[bool], None],
) -> ClientQuota:
    """A provider's quota: its QPS bucket (shared through Redis when set) and concurrency."""
    quota = provider.quota
    bucket: AsyncBucket
    if quota.qps is None:
        bucket = Unlimited()
    else:
        local = LocalAsyncBucket(TokenBucket(quota.qps, quota.burst))
        bucket = local
        if redis is not None and quota.shared:
            shared = RedisTokenBucket(
                redis, f"hybrid-router:quota:{account}:{provider.name}", quota.qps, quota.burst
            )
            bucket = FallbackBucket(shared, local.bucket, on_degraded)
    return ClientQuota(
        bucket, ConcurrencyLimiter(quota.max_concurrent), max_queue_wait_s=quota.max_queue_wait_s
    )


def build_client(
    config: ClientConfig,
    transport: Transport,
    runtime: Runtime = DEFAULT_RUNTIME,
    redis: Redis | None = None,
    on_quota_degraded: Callable[[bool], None] = lambda degraded: None,
) -> CentralClient:
    """The client over a transport (tests pass a MockTransport); usable providers only."""
    providers = [
        ProviderClient(
            p,
            config,
            build_adapter(p),
            transport,
            build_quota(p, config.account, redis, on_quota_degraded),
            runtime,
        )
        for p in config.providers
        if p.usable()
    ]
    return CentralClient(providers, config, runtime)


@asynccontextmanager
async def central_client(
    settings: CentralClientSettings,
    runtime: Runtime = DEFAULT_RUNTIME,
    on_quota_degraded: Callable[[bool], None] = lambda degraded: None,
) -> AsyncIterator[CentralClient | None]:
    """A warmed client for the app's lifetime, or None when no provider is usable."""
    config = client_config(settings)
    if not any(p.usable() for p in config.providers):
        log.warning(
            "no usable central provider (set HYBRID_ROUTER_CENTRAL__SECRET or "
            "central.providers); central tasks will answer 503"
        )
        yield None
        return
    ca_file = str(settings.ca_file) if settings.ca_file else None
    connector = aiohttp.TCPConnector(limit=settings.pool_size, ssl=tls_context(ca_file))
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    # No cookie jar: one edge calls for many callers, so a provider's cookie must not pass
    # from one caller's call to the next (and an empty jar still costs every request).
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=True, cookie_jar=jar
    ) as session:
        client = build_client(config, AiohttpTransport(session), runtime, redis, on_quota_degraded)
        await client.warm_up()
        try:
            yield client
        finally:
            await client.close()
            if redis is not None:
                await redis.aclose()
