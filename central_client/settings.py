"""Settings of the edge's central client (`central.*`): the providers, in order, and shared limits.

A deployment lists its providers under `central.providers`; each names its protocol and its own
credentials. Without that list, the legacy single-central fields (`url`, `secret`, `protocol`)
describe a one-entry list, so existing configs keep working.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from central_client.breaker import BreakerConfig
from common.secrets import read_secret
from common.settings_base import STRICT, StrictModel

Protocol = Literal["v3", "openai", "azure-openai"]


class RetrySettings(StrictModel):
    """Capped exponential backoff with full jitter."""

    max_attempts: int = Field(3, ge=1, le=10)
    base_s: float = Field(0.1, gt=0)
    cap_s: float = Field(10.0, gt=0)
    budget_ratio: float = Field(0.2, ge=0, le=1)
    budget_min_per_s: float = Field(2.0, ge=0)


@dataclass(frozen=True)
class QuotaConfig:
    """Client-side quota toward one provider: QPS (None = no rate limit) and concurrency."""

    __pydantic_config__ = STRICT

    qps: Annotated[float | None, Field(gt=0)] = None
    burst: Annotated[int, Field(ge=1)] = 40
    max_concurrent: Annotated[int, Field(ge=1)] = 32
    max_queue_wait_s: Annotated[float, Field(ge=0)] = 10.0  # never past the request's deadline
    shared: bool = True  # use Redis when `redis_url` is set


class BatchSettings(StrictModel):
    """Coalescing concurrent calls into one batch request, where the protocol carries one."""

    enabled: bool = True
    max_batch_size: int = Field(8, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)


@dataclass(frozen=True)
class HedgeConfig:
    """When a second provider may be asked for an idempotent call: after the first's recent p95."""

    __pydantic_config__ = STRICT

    enabled: bool = True
    budget_ratio: Annotated[float, Field(ge=0, le=1)] = 0.05  # at most this share extra calls
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.95
    min_samples: Annotated[int, Field(ge=1)] = 20
    min_delay_ms: Annotated[float, Field(ge=0)] = 5.0

    @property
    def min_delay_s(self) -> float:
        """The shortest hedge delay in seconds."""
        return self.min_delay_ms / 1000


class ProviderSettings(StrictModel):
    """One provider: protocol, where it is, which model, and its own credentials."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    protocol: Protocol = "openai"
    url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    api_version: str = "2024-10-21"  # azure-openai only; the deployment is `model`
    embedding_model: str | None = None  # openai: model for /v1/embeddings (default `model`)
    transcription_model: str | None = None  # openai: /v1/audio/transcriptions
    image_model: str | None = None  # openai: /v1/images/generations
    image_input: bool = True  # the chat model takes image parts
    tasks: list[str] | None = None  # override what the protocol advertises
    key_id: str = "edge-dev"  # v3 only: JWT issuer
    secret: SecretStr | None = None  # v3 only: JWT signing secret
    secret_file: Path | None = None
    audience: str = "hybrid-router-central"
    token_ttl_s: int = Field(900, ge=60, le=3600)
    quota: QuotaConfig | None = None  # default: `central.quota`

    @model_validator(mode="after")
    def _credentials_fit_protocol(self) -> "ProviderSettings":
        """JWT secrets belong to v3; API keys to the OpenAI kinds."""
        if self.protocol != "v3" and (self.secret or self.secret_file):
            raise ValueError(f"provider {self.name}: `secret` is for protocol v3; use `api_key`")
        return self

    def api_key_value(self) -> str | None:
        """The API key, from env or file."""
        return read_secret(self.api_key, self.api_key_file)

    def secret_value(self) -> str | None:
        """The v3 JWT signing secret, from env or file."""
        return read_secret(self.secret, self.secret_file)


class CentralClientSettings(StrictModel):
    """How the edge reaches its central model providers (`central.*`)."""

    providers: list[ProviderSettings] = Field(default_factory=list)
    # The legacy single central, used when `providers` is empty.
    url: str = "http://127.0.0.1:8090"
    key_id: str = "edge-dev"
    secret: SecretStr | None = None
    secret_file: Path | None = None
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    audience: str = "hybrid-router-central"
    token_ttl_s: int = Field(900, ge=60, le=3600)
    model: str = "multimodal-pro"  # the name apps call the central by
    protocol: Protocol = "v3"
    # Shared by every provider.
    ca_file: Path | None = None
    connect_timeout_s: float = Field(2.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    total_timeout_s: float = Field(120.0, gt=0)
    pool_size: int = Field(64, ge=1)
    max_response_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_stream_line_bytes: int = Field(512 * 1024, ge=1024)
    redis_url: str | None = None
    account: str = "default"
    retry: RetrySettings = RetrySettings()
    breaker: BreakerConfig = BreakerConfig()
    quota: QuotaConfig = QuotaConfig()
    batch: BatchSettings = BatchSettings()
    hedge: HedgeConfig = HedgeConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> "CentralClientSettings":
        """Provider names label metrics and headers, so they must differ."""
        names = [p.name for p in self.providers]
        if len(names) != len(set(names)):
            raise ValueError(f"central.providers names must be unique, got {names}")
        return self

    def secret_value(self) -> str | None:
        """The legacy central's signing secret, from env or file."""
        return read_secret(self.secret, self.secret_file)

    def provider_list(self) -> list[ProviderSettings]:
        """The providers in order; the legacy fields as one entry when none are listed."""
        if self.providers:
            return list(self.providers)
        return [
            ProviderSettings(
                name="central",
                protocol=self.protocol,
                url=self.url,
                model=self.model,
                api_key=self.api_key,
                api_key_file=self.api_key_file,
                key_id=self.key_id,
                secret=self.secret if self.protocol == "v3" else None,
                secret_file=self.secret_file if self.protocol == "v3" else None,
                audience=self.audience,
                token_ttl_s=self.token_ttl_s,
            )
        ]
