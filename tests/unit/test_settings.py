"""Settings: YAML file, env overrides, validation errors that name the problem."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from common.settings_base import ConfigError
from router.settings import Settings, load_settings

EXAMPLE = Path(__file__).parent.parent.parent / "deploy" / "routing.example.yaml"


def test_example_config_loads() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.routing.policies[0] == "pinning"
    assert settings.privacy.custom_patterns[0].name == "employee_id"


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: 9000\ncentral:\n  url: http://a:1\n")
    monkeypatch.setenv("HYBRID_ROUTER_CENTRAL__URL", "http://b:2")
    monkeypatch.setenv("HYBRID_ROUTER_ROUTING__CASCADE_THRESHOLD", "0.8")
    settings = load_settings(config)
    assert settings.server.port == 9000
    assert settings.central.url == "http://b:2"
    assert settings.routing.cascade_threshold == 0.8


def test_secret_from_env_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_ROUTER_CENTRAL__SECRET", "s" * 40)
    settings = Settings()
    assert settings.central.secret_value() == "s" * 40
    assert "s" * 40 not in repr(settings) and "s" * 40 not in str(settings.model_dump())


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("f" * 40 + "\n")
    assert Settings(central={"secret_file": secret}).central.secret_value() == "f" * 40


@pytest.mark.parametrize(
    "bad",
    [
        {"routing": {"policies": ["pinning", "telepathy"]}},
        {"server": {"port": 70000}},
        {"nonsense": 1},
    ],
)
def test_invalid_settings_fail_clearly(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(Path("/nonexistent.yaml"))
