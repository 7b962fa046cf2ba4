"""Response bodies of the edge's HTTP API as pydantic models: the handlers build them and
`/openapi.json` documents them, so the two cannot drift."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Route = Literal["edge", "central", "cache"]


def dump(model: BaseModel) -> dict[str, Any]:
    """A response model as plain data, for `json_response`.

    Handlers build models unvalidated (`model_construct`); this walks only nested models, so
    a 64 x 384 embedding answer is not copied float by float (pydantic's `model_dump` is).
    """
    data = {name: _plain(getattr(model, name)) for name in type(model).model_fields}
    data.update(model.__pydantic_extra__ or {})
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return dump(value)
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return [_plain(v) for v in value]
    return value


class ErrorDetail(BaseModel):
    """What went wrong, machine-readable."""

    type: str
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Every error: `{"error": {...}}` (rendered by `common.errors`)."""

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

    id: str
    model: str
    route: Route
    route_reason: str
    outputs: list[Output]
    usage: dict[str, int]


class AssistantMessage(BaseModel):
    """The assistant's reply (text, or the tool calls of a provider that honoured `tools`)."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(BaseModel):
    """The one choice of a completion."""

    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class ChatUsage(BaseModel):
    """Token counts of a completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """`POST /v1/chat/completions` without streaming."""

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

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 little-endian float32")


class EmbeddingsResponse(BaseModel):
    """`POST /v1/embeddings`."""

    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: dict[str, int]


class ModelCard(BaseModel):
    """A model a request may name, and where it runs."""

    model_config = ConfigDict(extra="allow")

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

    object: Literal["list"] = "list"
    data: list[ModelCard]


class DecisionOut(BaseModel):
    """A routing decision."""

    target: Literal["edge", "central", "reject"]
    reason: str
    status: int | None
    message: str
    cascade: bool


class JobSummary(BaseModel):
    """What the router understood of the request."""

    task: str
    inputs: int
    pii_kinds: list[str]


class RouteDecision(BaseModel):
    """`POST /v1/route`: the decision, the job as seen and the state it was made on."""

    decision: DecisionOut
    job: JobSummary
    state: dict[str, Any]


class Health(BaseModel):
    """`/healthz` and `/readyz`."""

    model_config = ConfigDict(extra="allow")

    status: str


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ErrorResponse,
    GenerateResponse,
    ChatCompletion,
    ChatCompletionStream,
    EmbeddingsResponse,
    ModelCard,
    ModelList,
    RouteDecision,
    Health,
)
