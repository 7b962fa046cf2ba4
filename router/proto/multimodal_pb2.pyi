from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateRequest(_message.Message):
    __slots__ = (
        "latency_budget_ms",
        "max_tokens",
        "modality",
        "model",
        "response_format",
        "route",
        "temperature",
        "text",
        "top_p",
    )
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    text: str
    modality: str
    temperature: float
    top_p: float
    max_tokens: int
    model: str
    route: str
    response_format: str
    latency_budget_ms: float
    def __init__(
        self,
        text: str | None = ...,
        modality: str | None = ...,
        temperature: float | None = ...,
        top_p: float | None = ...,
        max_tokens: int | None = ...,
        model: str | None = ...,
        route: str | None = ...,
        response_format: str | None = ...,
        latency_budget_ms: float | None = ...,
    ) -> None: ...

class Usage(_message.Message):
    __slots__ = ("completion_tokens", "prompt_tokens", "total_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    def __init__(
        self,
        prompt_tokens: int | None = ...,
        completion_tokens: int | None = ...,
        total_tokens: int | None = ...,
    ) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = (
        "finish_reason",
        "image_base64",
        "image_url",
        "model",
        "request_id",
        "route",
        "route_reason",
        "text",
        "usage",
    )
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_BASE64_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    route: str
    route_reason: str
    model: str
    usage: Usage
    finish_reason: str
    image_url: str
    image_base64: str
    request_id: str
    def __init__(
        self,
        text: str | None = ...,
        route: str | None = ...,
        route_reason: str | None = ...,
        model: str | None = ...,
        usage: Usage | _Mapping | None = ...,
        finish_reason: str | None = ...,
        image_url: str | None = ...,
        image_base64: str | None = ...,
        request_id: str | None = ...,
    ) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("model", "texts")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    model: str
    def __init__(self, texts: _Iterable[str] | None = ..., model: str | None = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Iterable[float] | None = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("embeddings", "model", "request_id", "route", "route_reason")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    route: str
    route_reason: str
    model: str
    request_id: str
    def __init__(
        self,
        embeddings: _Iterable[Embedding | _Mapping] | None = ...,
        route: str | None = ...,
        route_reason: str | None = ...,
        model: str | None = ...,
        request_id: str | None = ...,
    ) -> None: ...

class GenerateChunk(_message.Message):
    __slots__ = ("finish_reason", "route", "route_reason", "text", "usage")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    text: str
    finish_reason: str
    usage: Usage
    route: str
    route_reason: str
    def __init__(
        self,
        text: str | None = ...,
        finish_reason: str | None = ...,
        usage: Usage | _Mapping | None = ...,
        route: str | None = ...,
        route_reason: str | None = ...,
    ) -> None: ...
