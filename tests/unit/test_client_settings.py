"""`central.providers` settings: the legacy single URL, env and file credentials, validation."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from central_client.config import client_config
from central_client.settings import CentralClientSettings
from router.settings import Settings


def test_a_single_url_is_a_one_entry_list() -> None:
    settings = CentralClientSettings(url="http://c:1", secret="s" * 40, model="multimodal-pro")
    (only,) = client_config(settings).providers
    assert (only.name, only.protocol, only.base_url, only.model) == (
        "central",
        "v3",
        "http://c:1",
        "multimodal-pro",
    )
    assert only.secret == "s" * 40 and only.usable()


def test_providers_from_env_with_keys_from_env_and_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "azure.key"
    key_file.write_text("azure-key-from-file\n")
    providers = [
        {"name": "openai", "url": "https://api.example/", "model": "gpt-x", "api_key": "sk-env"},
        {
            "name": "azure",
            "protocol": "azure-openai",
            "url": "https://r.openai.azure.example",
            "model": "deploy-1",
            "api_key_file": str(key_file),
            "headers": {"x-tenant": "t-secret"},
        },
    ]
    monkeypatch.setenv("HYBRID_ROUTER_CENTRAL__PROVIDERS", json.dumps(providers))
    config = client_config(Settings().central)
    first, second = config.providers
    assert first.base_url == "https://api.example" and first.api_key == "sk-env"
    assert second.api_key == "azure-key-from-file" and second.headers == (("x-tenant", "t-secret"),)
    shown = repr(config) + json.dumps([p.describe() for p in config.providers])
    for secret in ("sk-env", "azure-key-from-file", "t-secret"):
        assert secret not in shown


def test_bad_provider_lists_fail_at_startup() -> None:
    entry = {"name": "a", "url": "http://x", "model": "m"}
    with pytest.raises(ValidationError, match="unique"):
        CentralClientSettings(providers=[entry, entry])
    with pytest.raises(ValidationError, match="protocol v3"):
        CentralClientSettings(providers=[{**entry, "secret": "s" * 40}])
    with pytest.raises(ValidationError):
        CentralClientSettings(providers=[{**entry, "protocol": "grpc"}])


def test_a_keyless_openai_provider_is_usable_but_v3_needs_a_secret() -> None:
    keyless = CentralClientSettings(providers=[{"name": "llama", "url": "http://x", "model": "m"}])
    assert client_config(keyless).providers[0].usable()
    v3 = CentralClientSettings(
        providers=[{"name": "c", "protocol": "v3", "url": "http://x", "model": "m"}]
    )
    assert not client_config(v3).providers[0].usable()
