"""The `/v3/models/{model}/generate` request (edge and central), and OpenAI request bodies.

Strict: a JSON `0` is not `false`, `"1.5"` is not a number (the schema says what is accepted).
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Task = Literal["embed", "classify", "classify_image", "detect_speech", "generate", "transcribe"]
Modality = Literal["text", "image", "audio"]
# Text a model can embed: not empty, not only whitespace (the server refuses both with 400).
NonBlank = Annotated[str, Field(min_length=1, pattern=r"\S")]
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
MAX_LABELS = 512  # request label sets (Banking77 has 77 intents, CLINC150 150)


class JsonBody(BaseModel):
    """A request body model: integers as JSON Schema means them, 57 and 57.0 (never "57")."""

    @field_validator("*", mode="before")
    @classmethod
    def _integral_floats(cls, value: object) -> object:
        """An integral float becomes its int; strict validation does the rest."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class ChatMessage(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=1_000_000)


class InputItem(BaseModel):
    """One input: text (or chat messages), an image (base64 or URL) or audio (base64 WAV)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    text: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=256)
    image: str | None = None
    image_url: str | None = Field(None, max_length=4096)
    audio: str | None = None
    modality: Modality | None = None
    task: Task | None = None


class Parameters(JsonBody):
    """Generation and routing parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    max_tokens: int = Field(128, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    # A named temperature ("factual", "creative", configurable); an explicit temperature wins.
    preset: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    labels: list[Label] | None = Field(None, min_length=2, max_length=MAX_LABELS)
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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    inputs: InputItem | Annotated[list[InputItem], Field(min_length=1)]
    # a factory: a model instance as the default would be deep-copied on every request
    parameters: Parameters = Field(default_factory=Parameters)

    def input_list(self) -> list[InputItem]:
        """Inputs as a list, whether one was sent or many."""
        return self.inputs if isinstance(self.inputs, list) else [self.inputs]


class EmbeddingsRequest(JsonBody):
    """OpenAI `/v1/embeddings`."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    input: NonBlank | Annotated[list[NonBlank], Field(min_length=1)]
    model: str = "all-minilm-l6-v2"
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=4096)
    user: str | None = None
    route: Literal["auto", "edge", "central"] = "auto"  # router extension, as on chat
