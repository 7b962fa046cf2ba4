"""The `/v3/models/{model}/generate` request (edge and central), and OpenAI request bodies."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Task = Literal["embed", "classify", "classify_image", "detect_speech", "generate", "transcribe"]
Modality = Literal["text", "image", "audio"]


class ChatMessage(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=1_000_000)


class InputItem(BaseModel):
    """One input: text (or chat messages), an image (base64 or URL) or audio (base64 WAV)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=256)
    image: str | None = None
    image_url: str | None = Field(None, max_length=4096)
    audio: str | None = None
    modality: Modality | None = None
    task: Task | None = None


class Parameters(BaseModel):
    """Generation and routing parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_tokens: int = Field(128, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    labels: list[str] | None = Field(None, min_length=2, max_length=64)
    label_set: str | None = Field(None, min_length=1, max_length=128)
    top_k: int = Field(5, ge=1, le=100)
    latency_budget_ms: float | None = Field(None, gt=0, le=600_000)
    route: Literal["auto", "edge", "central"] = "auto"
    response_format: Literal["url", "base64"] = "url"
    cache: bool | None = None
    semantic_cache: bool = False
    stream: bool = False

    @field_validator("labels")
    @classmethod
    def _labels_non_blank(cls, labels: list[str] | None) -> list[str] | None:
        """Labels must be non-blank and reasonably short."""
        if labels is not None and any(not x.strip() or len(x) > 200 for x in labels):
            raise ValueError("labels must be non-empty strings of at most 200 characters")
        return labels


def infer_task(item: InputItem, params: Parameters) -> str:
    """The task an input implies when none is named."""
    if item.task is not None:
        return item.task
    if item.audio is not None or item.modality == "audio":
        return "detect_speech"
    if (item.image is not None or item.image_url is not None) and not item.text:
        return "classify_image"
    if params.labels or params.label_set:
        return "classify"
    return "generate"


class GenerateRequest(BaseModel):
    """The seed API's request body."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    inputs: InputItem | list[InputItem]
    parameters: Parameters = Parameters()

    def input_list(self) -> list[InputItem]:
        """Inputs as a list, whether one was sent or many."""
        return self.inputs if isinstance(self.inputs, list) else [self.inputs]


class EmbeddingsRequest(BaseModel):
    """OpenAI `/v1/embeddings`."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    input: str | list[str]
    model: str = "all-minilm-l6-v2"
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
