"""Settings of the edge's central client (`central.*`)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from common.secrets import read_secret


class RetrySettings(BaseModel):
    """Capped exponential backoff with full jitter."""

    max_attempts: int = Field(3, ge=1, le=10)
    base_s: float = Field(0.1, gt=0)
    cap_s: float = Field(10.0, gt=0)
    budget_ratio: float = Field(0.2, ge=0, le=1)
    budget_min_per_s: float = Field(2.0, ge=0)


class BreakerSettings(BaseModel):
    """When the circuit opens and how it probes."""

    failure_threshold: int = Field(5, ge=1)
    failure_rate_threshold: float = Field(0.5, gt=0, le=1)
    window_size: int = Field(20, ge=1)
    min_calls: int = Field(10, ge=1)
    recovery_timeout_s: float = Field(10.0, gt=0)
    half_open_max_calls: int = Field(1, ge=1)


class QuotaSettings(BaseModel):
    """Client-side quota matching the central's: QPS and concurrency."""

    qps: float = Field(20.0, gt=0)
    burst: int = Field(40, ge=1)
    max_concurrent: int = Field(16, ge=1)
    max_queue_wait_s: float = Field(0.25, ge=0)
    shared: bool = True  # use Redis when `redis_url` is set


class BatchSettings(BaseModel):
    """Coalescing concurrent calls into one batch request."""

    enabled: bool = True
    max_batch_size: int = Field(8, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)


class CentralClientSettings(BaseModel):
    """How the edge reaches the central model service (`central.*`)."""

    url: str = "http://127.0.0.1:8090"
    key_id: str = "edge-dev"
    secret: SecretStr | None = None
    secret_file: Path | None = None
    audience: str = "hybrid-router-central"
    token_ttl_s: int = Field(900, ge=60, le=3600)
    model: str = "multimodal-pro"
    protocol: Literal["v3", "openai"] = "v3"  # the project's /v3 API, or any OpenAI-compatible
    ca_file: Path | None = None
    connect_timeout_s: float = Field(2.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    total_timeout_s: float = Field(120.0, gt=0)
    pool_size: int = Field(32, ge=1)
    max_response_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    redis_url: str | None = None
    account: str = "default"
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    quota: QuotaSettings = QuotaSettings()
    batch: BatchSettings = BatchSettings()

    def secret_value(self) -> str | None:
        """The signing secret, from env or file."""
        return read_secret(self.secret, self.secret_file)
