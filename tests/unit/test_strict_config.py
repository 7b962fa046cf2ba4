"""Config that names its mistakes: unknown keys (YAML and env) with the nearest spelling,
bare IAM statements, the edge without a central, and the deadline prior without samples."""

import dataclasses
from pathlib import Path

import pytest

from common.settings_base import ConfigError, unknown_env_keys
from router.access_policy import parse_policy
from router.policy import CapabilityPolicy, DeadlinePolicy
from router.settings import Settings, load_settings
from tests.unit.test_policy import job, state


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("yaml_text", "key", "nearest"),
    [
        ("server:\n  prot: 9000\n", "server.prot", "server.port"),
        ("models:\n  max_batch_sise: 4\n", "models.max_batch_sise", "models.max_batch_size"),
        ("central:\n  retry:\n    max_atempts: 2\n", "central.retry.max_atempts", "max_attempts"),
        ("cache:\n  ttl: 5\n", "cache.ttl", "cache.ttl_s"),
        ("access:\n  jwt:\n    secrett: x\n", "access.jwt.secrett", "access.jwt.secret"),
        ("central_service:\n  provider:\n    urll: x\n", "provider.urll", "provider.url"),
        ("call_log:\n  enabeld: true\n", "call_log.enabeld", "call_log.enabled"),
        (
            "routing:\n  costs:\n    central: {per_1k_tokens: 1}\n",
            "routing.costs.central.per_1k_tokens",
            "routing.costs.central.per_1k_prompt_tokens",
        ),
        (
            "models:\n  label_sets:\n    s:\n      - {label: a, exampels: [x]}\n",
            "models.label_sets.s[0].exampels",
            "models.label_sets.s[0].examples",
        ),
        ("models:\n  label_sets:\n    s: {path: a.csv, sha: x}\n", "s.sha", "s.sha256"),
        ("servr:\n  port: 1\n", "servr", "server"),
    ],
)
def test_unknown_yaml_keys_name_the_nearest_spelling(
    tmp_path: Path, yaml_text: str, key: str, nearest: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, yaml_text))
    message = str(info.value)
    assert key in message and nearest in message and "\n" not in message


def test_unknown_env_keys_are_caught_at_every_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_ROUTER_SERVER__PROT", "9000")
    with pytest.raises(ConfigError, match="HYBRID_ROUTER_SERVER__PORT"):
        load_settings()
    monkeypatch.delenv("HYBRID_ROUTER_SERVER__PROT")
    monkeypatch.setenv("HYBRID_ROUTER_SERVR__PORT", "9000")  # pydantic-settings ignores this
    with pytest.raises(ConfigError, match="did you mean HYBRID_ROUTER_SERVER__PORT"):
        load_settings()


def test_valid_env_keys_and_free_form_maps_pass() -> None:
    env = {
        "HYBRID_ROUTER_SERVER__PORT": "1",
        "HYBRID_ROUTER_CENTRAL__RETRY__MAX_ATTEMPTS": "2",
        "HYBRID_ROUTER_ACCESS__API_KEYS__APP_ONE": "k" * 32,  # a principal name, not a key
        "HYBRID_ROUTER_CENTRAL_SERVICE__KEYS": "{}",
        "OTHER_VAR": "x",
    }
    assert unknown_env_keys(Settings, "HYBRID_ROUTER_", environ=env) == []


def test_bad_yaml_and_missing_file_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad YAML .* \(line \d+, column \d+\)"):
        load_settings(write(tmp_path, "server:\n  port: [1\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.yaml")


def test_a_valid_file_still_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "server:\n  port: 9001\n"))
    assert settings.server.port == 9001


def test_bare_iam_statement_is_accepted() -> None:
    policy = parse_policy({"Effect": "Deny", "Action": "multimodal:Generate", "Resource": "*"})
    assert [s.effect for s in policy.statements] == ["Deny"]


def test_a_broken_policy_shows_the_wrapper() -> None:
    with pytest.raises(ValueError, match='"Version": "2024-01-01", "Statement"'):
        parse_policy({"Statement": []})


def test_no_central_configured_is_503_for_central_only_tasks() -> None:
    no_central = state(central_tasks=frozenset(), central_available=False)
    decision = CapabilityPolicy().decide(job("generate"), no_central)
    assert decision is not None and decision.status == 503
    assert decision.reason == "capability:central-unconfigured"
    # a task the edge serves is unaffected; one nobody serves with a central is still 400
    assert CapabilityPolicy().decide(job("embed"), no_central) is None
    decision = CapabilityPolicy().decide(job("transcribe"), state())
    assert decision is not None and decision.status == 400


def test_deadline_without_samples_uses_a_conservative_prior() -> None:
    one_ms = dataclasses.replace(job("embed"), deadline=100.001)
    decision = DeadlinePolicy().decide(one_ms, state())
    assert decision is not None and decision.status == 504
    assert "no recent samples" in decision.message
    generous = dataclasses.replace(job("embed"), deadline=100.5)
    decision = DeadlinePolicy().decide(generous, state(central_tasks=frozenset()))
    assert decision is not None and decision.reason == "deadline:edge-fits"


def test_every_settings_section_forbids_unknown_keys() -> None:
    """Walks the whole settings tree, so a new section cannot slip in lenient."""
    from pydantic import BaseModel

    from common.settings_base import fields_of, sections_in

    seen: set[type] = set()
    todo: list[type] = [Settings]
    while todo:
        section = todo.pop()
        if section in seen:
            continue
        seen.add(section)
        if issubclass(section, BaseModel):
            config = section.model_config
        else:  # a dataclass: its own `__pydantic_config__`, not one it inherits
            config = vars(section).get("__pydantic_config__", {})
        assert config.get("extra") == "forbid", section.__name__
        for annotation in fields_of(section).values():
            todo.extend(sections_in(annotation))
    assert len(seen) > 10


def test_runtime_configs_are_the_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No hand-written mirrors: the objects the edge runs with are the validated sections."""
    from edge_models.batcher import BatchPolicy
    from edge_models.registry import EdgeModelsConfig
    from edge_models.sessions import SessionOptions
    from router.limits import ServerLimits
    from router.route_state import RoutingConfig

    monkeypatch.setenv("HYBRID_ROUTER_MODELS__TASKS", '["embed"]')
    monkeypatch.setenv("HYBRID_ROUTER_ROUTING__COSTS", '{"central": {"per_call": 0.5}}')
    settings = load_settings(write(tmp_path, "models:\n  max_batch_size: 3\n"))
    models = settings.models
    assert isinstance(models, EdgeModelsConfig)
    assert isinstance(models, BatchPolicy) and isinstance(models, SessionOptions)
    assert models.max_batch_size == 3 and models.tasks == frozenset({"embed"})
    assert isinstance(settings.routing, RoutingConfig)
    assert settings.routing.costs["central"].per_call == 0.5
    assert isinstance(settings.server, ServerLimits)
