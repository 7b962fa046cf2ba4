"""The one settings model: YAML file, then `HYBRID_ROUTER_…` env vars (nested with `__`)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from central_client.settings import CentralClientSettings
from central_service.settings import CentralServiceSettings
from edge_models.batcher import BatchPolicy
from edge_models.registry import EdgeModelsConfig
from edge_models.sessions import SessionOptions
from edge_models.text import LabelPrototype
from router.auth import AccessSettings
from router.cache_backends import CacheSettings
from router.calllog import CallLogSettings
from router.limits import ServerLimits
from router.policy import DEFAULT_ORDER, POLICIES, Costs, RoutingConfig


class ServerSettings(BaseModel):
    """The edge node's HTTP server and request limits."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_inputs: int = Field(64, ge=1)
    max_text_chars: int = Field(100_000, ge=1)
    request_timeout_s: float = Field(60.0, gt=0)
    max_header_line_bytes: int = Field(8190, ge=256)
    max_header_bytes: int = Field(8190, ge=256)
    max_headers: int = Field(100, ge=8)
    header_timeout_s: float = Field(15.0, gt=0)  # slowloris: a full request head within this
    body_timeout_s: float = Field(30.0, gt=0)
    linger_s: float = Field(2.0, ge=0)
    max_json_depth: int = Field(32, ge=2)
    fetch_timeout_s: float = Field(5.0, gt=0)  # image_url fetches (SSRF-guarded)
    shutdown_grace_s: float = Field(30.0, ge=0)  # in-flight requests may finish this long
    drain_delay_s: float = Field(0.0, ge=0)  # /readyz says "draining" this long before closing

    def limits(self) -> ServerLimits:
        """What a client may send, and how slowly."""
        return ServerLimits(
            max_line_bytes=self.max_header_line_bytes,
            max_field_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
            header_timeout_s=self.header_timeout_s,
            body_timeout_s=self.body_timeout_s,
            linger_s=self.linger_s,
            max_json_depth=self.max_json_depth,
        )


class LabelSettings(BaseModel):
    """A label of a configured set, with optional example phrases."""

    label: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)


class ModelsSettings(BaseModel):
    """Edge models: ORT sessions, micro-batching, label sets and input limits."""

    tasks: list[str] = Field(
        default_factory=lambda: ["embed", "classify", "classify_image", "detect_speech"]
    )
    intra_op_threads: int = Field(1, ge=1)
    inter_op_threads: int = Field(1, ge=1)
    graph_optimization: str = "all"
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    inference_threads: int = Field(2, ge=1)
    max_batch_size: int = Field(8, ge=1)  # latency first: 32 gave ~1.3x throughput, 2x the p99
    max_batch_wait_ms: float = Field(2.0, ge=0)
    max_queue: int = Field(256, ge=1)
    max_queue_delay_ms: float = Field(20.0, gt=0)  # admission: shed beyond this much queued work
    workers_per_model: int = Field(1, ge=1)
    classify_scale: float = Field(20.0, gt=0)
    label_sets: dict[str, list[LabelSettings]] = Field(default_factory=dict)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_audio_seconds: float = Field(600.0, gt=0)

    def edge_config(self) -> EdgeModelsConfig:
        """The dataclass the model loader takes."""
        return EdgeModelsConfig(
            session=SessionOptions(
                intra_op_threads=self.intra_op_threads,
                inter_op_threads=self.inter_op_threads,
                graph_optimization=self.graph_optimization,
                providers=tuple(self.providers),
            ),
            label_sets={
                name: tuple(LabelPrototype(x.label, tuple(x.examples)) for x in labels)
                for name, labels in self.label_sets.items()
            },
            classify_scale=self.classify_scale,
            max_image_pixels=self.max_image_pixels,
            max_audio_seconds=self.max_audio_seconds,
            tasks=frozenset(self.tasks),
        )

    def batch_policy(self) -> BatchPolicy:
        """Micro-batching policy shared by every edge model."""
        return BatchPolicy(
            max_batch_size=self.max_batch_size,
            max_wait_s=self.max_batch_wait_ms / 1000,
            max_queue=self.max_queue,
            workers=self.workers_per_model,
            max_queue_delay_s=self.max_queue_delay_ms / 1000,
        )


class CostSettings(BaseModel):
    """Cost of one call on a target."""

    per_call: float = Field(0.0, ge=0)
    per_1k_tokens: float = Field(0.0, ge=0)


class RoutingSettings(BaseModel):
    """The policy chain: order and thresholds (see deploy/routing.example.yaml)."""

    policies: list[str] = Field(default_factory=lambda: list(DEFAULT_ORDER))
    max_edge_text_chars: int = Field(4000, ge=1)
    max_edge_image_pixels: int = Field(16_000_000, ge=1)
    max_edge_audio_seconds: float = Field(300.0, gt=0)
    edge_queue_threshold: int = Field(64, ge=1)
    # Off by default: the embedded SmolLM2-135M classifies worse than the edge (see README).
    cascade_enabled: bool = False
    cascade_threshold: float = Field(0.6, ge=0, le=1)
    privacy_mode: Literal["pin", "redact", "off"] = "redact"
    costs: dict[str, CostSettings] = Field(
        default_factory=lambda: {
            "edge": CostSettings(),
            "central": CostSettings(per_call=0.0005, per_1k_tokens=0.002),
        }
    )
    latency_window: int = Field(256, ge=8)
    warmup_probe: bool = True

    @field_validator("policies")
    @classmethod
    def _known_policies(cls, names: list[str]) -> list[str]:
        """Fail at startup on a misspelt policy, listing the valid names."""
        unknown = [n for n in names if n not in POLICIES]
        if unknown:
            raise ValueError(f"unknown policies {unknown}; valid: {sorted(POLICIES)}")
        return names

    def config(self) -> RoutingConfig:
        """The frozen config the policies read."""
        return RoutingConfig(
            max_edge_text_chars=self.max_edge_text_chars,
            max_edge_image_pixels=self.max_edge_image_pixels,
            max_edge_audio_seconds=self.max_edge_audio_seconds,
            edge_queue_threshold=self.edge_queue_threshold,
            cascade_threshold=self.cascade_threshold,
            cascade_enabled=self.cascade_enabled,
            privacy_mode=self.privacy_mode,
            costs={k: Costs(v.per_call, v.per_1k_tokens) for k, v in self.costs.items()},
        )


class PatternSettings(BaseModel):
    """An extra PII pattern to redact."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    regex: str = Field(min_length=1)


class PrivacySettings(BaseModel):
    """PII detection beyond the built-in kinds."""

    custom_patterns: list[PatternSettings] = Field(default_factory=list)


class Settings(BaseSettings):
    """Everything the edge node and `hybrid-router up` read."""

    model_config = SettingsConfigDict(
        env_prefix="HYBRID_ROUTER_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    server: ServerSettings = ServerSettings()
    models: ModelsSettings = ModelsSettings()
    routing: RoutingSettings = RoutingSettings()
    privacy: PrivacySettings = PrivacySettings()
    cache: CacheSettings = CacheSettings()
    access: AccessSettings = AccessSettings()
    call_log: CallLogSettings = CallLogSettings()
    central: CentralClientSettings = CentralClientSettings()
    central_service: CentralServiceSettings = CentralServiceSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init kwargs, then env vars, then the YAML file (if any), then defaults."""
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from `config_file` (YAML) overlaid by env vars."""
    if config_file is None:
        return Settings()
    if not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    return FileSettings()
