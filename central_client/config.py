"""The client's one frozen configuration (providers + shared limits) and its injectable runtime."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from central_client.breaker import BreakerConfig, BreakerState
from central_client.retry import RetryPolicy
from central_client.settings import (
    CentralClientSettings,
    HedgeConfig,
    ProviderSettings,
    QuotaConfig,
)
from central_client.transport import Timeouts


@dataclass(frozen=True)
class ProviderConfig:
    """One provider; secrets are kept out of `repr` and `describe`."""

    name: str
    protocol: str
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    api_version: str = "2024-10-21"
    embedding_model: str | None = None
    transcription_model: str | None = None
    image_model: str | None = None
    image_input: bool = True
    tasks: frozenset[str] | None = None
    key_id: str = "edge-dev"
    secret: str | None = field(default=None, repr=False)
    audience: str = "hybrid-router-central"
    token_ttl_s: int = 900
    quota: QuotaConfig = field(default_factory=QuotaConfig)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, so error messages can scrub them."""
        values = [self.api_key or "", self.secret or "", *(v for _, v in self.headers)]
        return tuple(v for v in values if len(v) >= 4)

    def usable(self) -> bool:
        """v3 needs a signing secret; the OpenAI kinds may run keyless (self-hosted)."""
        return self.protocol != "v3" or bool(self.secret)

    def public_url(self) -> str:
        """The base URL without user info, query or fragment."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def describe(self) -> dict[str, Any]:
        """Settings safe to show on `/readyz`: credentials only as set/unset."""
        credentials = "jwt" if self.protocol == "v3" else ("api_key" if self.api_key else "none")
        return {
            "name": self.name,
            "protocol": self.protocol,
            "url": self.public_url(),
            "model": self.model,
            "credentials": credentials,
            "extra_headers": sorted(name for name, _ in self.headers),
        }


@dataclass(frozen=True)
class ClientConfig:
    """Everything the client layers read, in one frozen object."""

    providers: tuple[ProviderConfig, ...]
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    retry_base_s: float = 0.1
    budget_ratio: float = 0.2
    budget_min_per_s: float = 2.0
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    batch_size: int = 8
    batch_wait_s: float = 0.005
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    max_response_bytes: int = 16 * 1024 * 1024
    max_stream_line_bytes: int = 512 * 1024
    account: str = "default"


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Runtime:
    """Clock, sleep and observers, injectable so tests run without waiting."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = _sleep
    on_attempt: Callable[[str, str], None] = lambda provider, outcome: None
    on_breaker_change: Callable[[str, BreakerState, BreakerState], None] = (
        lambda provider, old, new: None
    )
    on_answer: Callable[[str, str], None] = lambda provider, task: None


DEFAULT_RUNTIME = Runtime()


def provider_config(entry: ProviderSettings, default_quota: QuotaConfig) -> ProviderConfig:
    """A provider's frozen config, secrets read from env or files now."""
    return ProviderConfig(
        name=entry.name,
        protocol=entry.protocol,
        base_url=entry.url.rstrip("/"),
        model=entry.model,
        api_key=entry.api_key_value(),
        headers=tuple((k, v.get_secret_value()) for k, v in entry.headers.items()),
        api_version=entry.api_version,
        embedding_model=entry.embedding_model,
        transcription_model=entry.transcription_model,
        image_model=entry.image_model,
        image_input=entry.image_input,
        tasks=frozenset(entry.tasks) if entry.tasks is not None else None,
        key_id=entry.key_id,
        secret=entry.secret_value(),
        audience=entry.audience,
        token_ttl_s=entry.token_ttl_s,
        quota=entry.quota or default_quota,
    )


def client_config(settings: CentralClientSettings) -> ClientConfig:
    """The frozen config from settings."""
    return ClientConfig(
        providers=tuple(provider_config(p, settings.quota) for p in settings.provider_list()),
        timeouts=Timeouts(
            settings.connect_timeout_s, settings.read_timeout_s, settings.total_timeout_s
        ),
        retry=RetryPolicy(max_attempts=settings.retry.max_attempts, cap_s=settings.retry.cap_s),
        retry_base_s=settings.retry.base_s,
        budget_ratio=settings.retry.budget_ratio,
        budget_min_per_s=settings.retry.budget_min_per_s,
        breaker=settings.breaker,
        batch_size=settings.batch.max_batch_size if settings.batch.enabled else 1,
        batch_wait_s=settings.batch.max_wait_ms / 1000,
        hedge=settings.hedge,
        max_response_bytes=settings.max_response_bytes,
        max_stream_line_bytes=settings.max_stream_line_bytes,
        account=settings.account,
    )
