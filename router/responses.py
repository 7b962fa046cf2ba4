"""The edge's HTTP response bodies as pydantic models: handlers build them, the spec shows them.

One model serves both, so the two cannot drift; closed shapes (`CLOSED`) also make
schemathesis fail an answer with a key its model lacks.
"""

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Route = Literal["edge", "central", "cache"]
# A closed shape, every field always sent (`dump` writes them all): a key the handler adds
# without adding it here, or one it leaves out, fails schemathesis' schema check.
CLOSED = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """A response model as plain data, for `json_response`.

    Handlers build models unvalidated (`model_construct`); this walks only nested models, so
    a 64 x 384 embedding answer is not copied float by float (pydantic's `model_dump` is).
    """
    data = {name: _plain(getattr(model, name)) for name in type(model).model_fields}
    data.update(model.__pydantic_extra__ or {})
    return data


def shape(model: type[BaseModel], /, **values: Any) -> dict[str, Any]:
    """`dump(model.model_construct(**values))` without building the model (the hot paths).

    Fields in the model's order, defaults where a value is not given; nested values must
    already be plain (another `shape`). Only for closed models, whose extras are dropped.
    """
    fields = _FIELDS.get(model)
    if fields is None:
        if model.model_config.get("extra") != "forbid":
            raise TypeError(f"{model.__name__} is not a closed model")
        fields = _FIELDS[model] = [
            (name, None if info.is_required() else info.get_default(call_default_factory=True))
            for name, info in model.model_fields.items()
        ]
    data: dict[str, Any] = {}
    for name, default in fields:
        if name in values:
            data[name] = _plain(values[name])
        elif default is None and model.model_fields[name].is_required():
            raise TypeError(f"{model.__name__}.{name} is required")
        else:
            data[name] = copy.copy(default) if isinstance(default, list | dict) else default
    return data


_FIELDS: dict[type[BaseModel], list[tuple[str, Any]]] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return dump(value)
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return [_plain(v) for v in value]
    return value


class ErrorDetail(BaseModel):
    """What went wrong, machine-readable."""

    model_config = CLOSED

    type: str
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Every error: `{"error": {...}}` (rendered by `common.errors`)."""

    model_config = CLOSED

    error: ErrorDetail


class Label(BaseModel):
    """A scored label."""

    label: str
    score: float


class Segment(BaseModel):
    """A span of speech."""

    start_s: float
    end_s: float


class Output(BaseModel):
    """One output per input; which fields appear depends on the task."""

    model_config = ConfigDict(extra="allow")

    embedding: list[float] | None = None
    labels: list[Label] | None = None
    segments: list[Segment] | None = None
    text: str | None = None
    finish_reason: str | None = None
    image_url: str | None = None
    image_base64: str | None = None


class GenerateResponse(BaseModel):
    """`POST /v3/models/{model}/generate`."""

    model_config = CLOSED

    id: str
    model: str
    route: Route
    route_reason: str
    outputs: list[Output]
    usage: dict[str, int]


class AssistantMessage(BaseModel):
    """The assistant's reply (text, or the tool calls of a provider that honoured `tools`)."""

    model_config = CLOSED

    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(BaseModel):
    """The one choice of a completion."""

    model_config = CLOSED

    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class ChatUsage(BaseModel):
    """Token counts of a completion."""

    model_config = CLOSED

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """`POST /v1/chat/completions` without streaming."""

    model_config = CLOSED

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage


class ChatCompletionStream(BaseModel):
    """One server-sent event: chunks, a chunk with finish_reason, then `[DONE]`; an upstream
    failure after the first chunk is an in-band `{"error": ...}` event before `[DONE]`."""

    data: str = Field(description='A `chat.completion.chunk` as JSON, `{"error": ...}`, or [DONE]')


class EmbeddingItem(BaseModel):
    """One vector."""

    model_config = CLOSED

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 little-endian float32")


class EmbeddingsResponse(BaseModel):
    """`POST /v1/embeddings`."""

    model_config = CLOSED

    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: dict[str, int]


class ModelCard(BaseModel):
    """A model a request may name, and where it runs."""

    model_config = CLOSED

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    route: str
    task: str | None = None
    tasks: list[str] | None = None
    description: str | None = None
    dims: int | None = None
    weights: str | None = None
    aliases: list[str] | None = None


class ModelList(BaseModel):
    """`GET /v1/models`."""

    model_config = CLOSED

    object: Literal["list"] = "list"
    data: list[ModelCard]


class DecisionOut(BaseModel):
    """A routing decision."""

    model_config = CLOSED

    target: Literal["edge", "central", "reject"]
    reason: str
    status: int | None
    message: str
    cascade: bool


class JobSummary(BaseModel):
    """What the router understood of the request."""

    model_config = CLOSED

    task: str
    inputs: int
    pii_kinds: list[str]


class RouteDecision(BaseModel):
    """`POST /v1/route`: the decision, the job as seen and the state it was made on."""

    model_config = CLOSED

    decision: DecisionOut
    job: JobSummary
    state: dict[str, Any]


class Health(BaseModel):
    """`/healthz`: alive."""

    model_config = CLOSED

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """`/readyz`: 200 once the edge models are loaded and warm, else 503 with the reason."""

    model_config = CLOSED

    status: Literal["ready", "not_ready"]
    reason: str | None = Field(None, description="Why not ready: loading, failed: ..., draining")
    edge_models: list[str]
    edge_queue: dict[str, int] = Field(description="Items waiting or running, per edge model")
    edge_runtime: dict[str, Any] = Field(description="Model files and admission state")
    central: dict[str, Any] | None = Field(None, description="The central client's state")
