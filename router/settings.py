"""The one settings model: YAML file, then `HYBRID_ROUTER_…` env vars (nested with `__`)."""

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass as config_dataclass
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from central_client.settings import CentralClientSettings
from central_service.settings import CentralServiceSettings
from common.event_loop import EventLoopKind
from common.settings_base import STRICT, ConfigError, StrictModel, explain, unknown_env_keys
from edge_models.registry import EdgeModelsConfig
from router.auth import AccessSettings
from router.cache_backends import CacheSettings
from router.calllog import CallLogSettings
from router.limits import InputLimits, ServerLimits
from router.policy import PolicyChain
from router.route_state import RoutingConfig


@config_dataclass(frozen=True, config=STRICT)
class ServerSettings(ServerLimits):
    """The `server` section: where the edge listens, request limits (`ServerLimits` and more)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    max_inputs: Annotated[int, Field(ge=1)] = InputLimits.max_inputs
    max_text_chars: Annotated[int, Field(ge=1)] = InputLimits.max_text_chars
    request_timeout_s: Annotated[float, Field(gt=0)] = 30.0  # deadline of a request naming none
    fetch_timeout_s: Annotated[float, Field(gt=0)] = 5.0  # image_url fetches (SSRF-guarded)
    shutdown_grace_s: Annotated[float, Field(ge=0)] = 30.0  # in-flight requests may finish
    # /readyz says "draining" this long before the listener closes: at least the readiness
    # probe period of deploy/k8s (5 s), so a load balancer sees it before connections fail
    drain_delay_s: Annotated[float, Field(ge=0)] = 5.0
    event_loop: EventLoopKind = "auto"  # uvloop where installed; "asyncio" forces the standard one


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
    models: EdgeModelsConfig = EdgeModelsConfig()
    routing: RoutingConfig = RoutingConfig()
    privacy: PrivacySettings = PrivacySettings()
    cache: CacheSettings = CacheSettings()
    access: AccessSettings = AccessSettings()
    call_log: CallLogSettings = CallLogSettings()
    central: CentralClientSettings = CentralClientSettings()
    central_service: CentralServiceSettings = CentralServiceSettings()

    @field_validator("routing")
    @classmethod
    def _known_policies(cls, routing: RoutingConfig) -> RoutingConfig:
        """Fail at startup on a misspelt policy, listing the valid names."""
        PolicyChain.from_names(routing.policies)  # UnknownPolicy is a ValueError
        return routing

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
