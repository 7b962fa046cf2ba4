"""The one settings model: YAML file, then `HYBRID_ROUTER_…` env vars (nested with `__`)."""

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from central_client.settings import CentralClientSettings
from central_service.settings import CentralServiceSettings
from common.settings_base import ConfigError, StrictModel, explain, unknown_env_keys
from edge_models.batcher import BatchPolicy
from edge_models.label_sets import LabelSetFile
from edge_models.labels import LabelPrototype
from edge_models.registry import EdgeModelsConfig
from edge_models.sessions import SessionOptions
from edge_models.text import ZERO_SHOT_SCALE
from router.auth import AccessSettings
from router.cache_backends import CacheSettings
from router.calllog import CallLogSettings
from router.jobs import DEFAULT_PRESETS
from router.limits import ServerLimits
from router.policy import DEFAULT_ORDER, POLICIES, Costs, RoutingConfig


class ServerSettings(StrictModel):
    """The edge node's HTTP server and request limits."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_inputs: int = Field(64, ge=1)
    max_text_chars: int = Field(100_000, ge=1)
    request_timeout_s: float = Field(30.0, gt=0)  # deadline of a request that names none
    max_header_line_bytes: int = Field(8190, ge=256)
    max_header_bytes: int = Field(8190, ge=256)
    max_headers: int = Field(100, ge=8)
    header_timeout_s: float = Field(15.0, gt=0)  # slowloris: a full request head within this
    body_timeout_s: float = Field(30.0, gt=0)
    linger_s: float = Field(2.0, ge=0)
    max_json_depth: int = Field(32, ge=2)
    fetch_timeout_s: float = Field(5.0, gt=0)  # image_url fetches (SSRF-guarded)
    shutdown_grace_s: float = Field(30.0, ge=0)  # in-flight requests may finish this long
    # /readyz says "draining" this long before the listener closes: at least the readiness
    # probe period of deploy/k8s (5 s), so a load balancer sees it before connections fail
    drain_delay_s: float = Field(5.0, ge=0)

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


class LabelSettings(StrictModel):
    """A label of a configured set, with an optional description and example phrases."""

    label: str = Field(min_length=1)
    description: str | None = Field(None, min_length=1)
    examples: list[str] = Field(default_factory=list)


class LabelSetFileSettings(StrictModel):
    """A label set from a file: `text,label` examples (.csv/.yaml) or a fitted head (.npz)."""

    path: Path
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    def source(self) -> LabelSetFile:
        """The dataclass the loader resolves."""
        return LabelSetFile(self.path, self.sha256)


class ModelsSettings(StrictModel):
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
    latency_target_factor: float = Field(2.0, gt=1)  # admission: admitted p99 <= this x unloaded
    text_precision: Literal["auto", "int8", "fp32"] = "auto"  # auto: the MiniLM build's choice
    max_queue: int = Field(256, ge=1)
    max_queue_delay_ms: float = Field(20.0, gt=0)  # ceiling of the adaptive queue-delay budget
    workers_per_model: int = Field(1, ge=1)
    classify_scale: float = Field(ZERO_SHOT_SCALE, gt=0)  # zero-shot softmax scale
    # name → labels (zero-shot), or a file: examples fitted at startup, or a head (.npz)
    label_sets: dict[str, list[LabelSettings] | LabelSetFileSettings] = Field(default_factory=dict)
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
                name: labels.source()
                if isinstance(labels, LabelSetFileSettings)
                else tuple(
                    LabelPrototype(x.label, tuple(x.examples), x.description) for x in labels
                )
                for name, labels in self.label_sets.items()
            },
            classify_scale=self.classify_scale,
            max_image_pixels=self.max_image_pixels,
            max_audio_seconds=self.max_audio_seconds,
            tasks=frozenset(self.tasks),
            text_precision=self.text_precision,
        )

    def batch_policy(self) -> BatchPolicy:
        """Micro-batching policy shared by every edge model."""
        return BatchPolicy(
            max_batch_size=self.max_batch_size,
            max_queue=self.max_queue,
            workers=self.workers_per_model,
            max_queue_delay_s=self.max_queue_delay_ms / 1000,
            target_factor=self.latency_target_factor,
        )


class CostSettings(StrictModel):
    """Cost of one call on a target."""

    per_call: float = Field(0.0, ge=0)
    per_1k_tokens: float = Field(0.0, ge=0)


class RoutingSettings(StrictModel):
    """The policy chain: order and thresholds (see deploy/routing.example.yaml)."""

    policies: list[str] = Field(default_factory=lambda: list(DEFAULT_ORDER))
    max_edge_text_chars: int = Field(4000, ge=1)
    max_edge_image_pixels: int = Field(16_000_000, ge=1)
    max_edge_audio_seconds: float = Field(300.0, gt=0)
    edge_queue_threshold: int = Field(64, ge=1)
    # Off by default: the embedded SmolLM2-135M classifies worse than the edge (see README).
    cascade_enabled: bool = False
    cascade_threshold: float = Field(0.6, ge=0, le=1)
    privacy_mode: Literal["pin", "redact", "off"] = RoutingConfig.privacy_mode
    costs: dict[str, CostSettings] = Field(
        default_factory=lambda: {
            "edge": CostSettings(),
            "central": CostSettings(per_call=0.0005, per_1k_tokens=0.002),
        }
    )
    latency_window: int = Field(256, ge=8)
    warmup_probe: bool = True
    # Oversized classify/embed stay on the edge (chunked, flagged) unless listed here as tasks
    # the configured central does better.
    central_better_tasks: list[Literal["classify", "embed"]] = Field(default_factory=list)
    # `parameters.preset` → temperature; an explicit `temperature` wins.
    presets: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PRESETS))

    @field_validator("presets")
    @classmethod
    def _preset_temperatures(cls, presets: dict[str, float]) -> dict[str, float]:
        """Preset temperatures lie in the API's range, 0 to 2."""
        bad = {k: v for k, v in presets.items() if not 0.0 <= v <= 2.0}
        if bad:
            raise ValueError(f"preset temperatures must be within 0..2; got {bad}")
        return presets

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
            central_better_tasks=frozenset(self.central_better_tasks),
        )


class PatternSettings(StrictModel):
    """An extra PII pattern to redact."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    regex: str = Field(min_length=1)


class PrivacySettings(StrictModel):
    """PII detection: strictness, phone regions and extra patterns beyond the built-in kinds."""

    custom_patterns: list[PatternSettings] = Field(default_factory=list)
    # strict: a value whose checksum fails but whose shape holds (Chinese ID, IBAN) is still
    # redacted, at a lower confidence; false drops it.
    strict: bool = True
    # Regions tried for phone numbers written without a country code (after a phone keyword).
    phone_regions: list[str] = Field(
        default_factory=lambda: ["US", "GB", "DE", "FR", "CN", "IN", "JP", "ES", "IT", "BR"]
    )


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


ENV_PREFIX = "HYBRID_ROUTER_"


def _read_yaml(config_file: Path) -> None:
    """Fail with one line on a missing, unreadable or malformed YAML file."""
    if not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}")
    try:
        data = yaml.safe_load(config_file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"bad YAML in {config_file}{where}: {problem}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{config_file} must hold a mapping of sections, not {type(data).__name__}"
        )


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from `config_file` (YAML) overlaid by env vars; ConfigError names each problem."""
    problems = unknown_env_keys(Settings, ENV_PREFIX)
    if problems:
        raise ConfigError("; ".join(problems))
    if config_file is None:
        settings_cls: type[Settings] = Settings
        source = "env"
    else:
        _read_yaml(config_file)

        class FileSettings(Settings):
            model_config = SettingsConfigDict(yaml_file=config_file)

        settings_cls = FileSettings
        source = "config"
    try:
        return settings_cls()
    except ValidationError as exc:
        where = f" in {config_file}" if config_file is not None else ""
        raise ConfigError(f"invalid settings{where}: {explain(exc, Settings, source)}") from exc
