"""The edge's documented routes: per route its path, parameters, models and status codes.

`router.openapi` renders this table; the models named here are the ones the handlers parse
and build, so `/openapi.json` cannot drift from them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from common.schema import EmbeddingsRequest, GenerateRequest
from router.api_v3 import DEADLINE_HEADER, RouteRequest
from router.chat_request import ChatCompletionRequest
from router.responses import (
    ChatCompletion,
    ChatCompletionStream,
    EmbeddingsResponse,
    GenerateResponse,
    Health,
    ModelCard,
    ModelList,
    Readiness,
    RouteDecision,
)

JSON, SSE, TEXT = "application/json", "text/event-stream", "text/plain"
ERROR_STATUSES: dict[int, str] = {
    400: "Invalid input",
    401: "Missing or invalid credentials",
    403: "Denied by an access policy",
    404: "Unknown model or endpoint",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Content-Type is not application/json",
    429: "Quota exhausted (see Retry-After)",
    500: "A bug (still a JSON error)",
    501: "A capability this deployment has not configured (e.g. images without a provider)",
    502: "The central answered garbage",
    503: "The central or a model is unavailable (see Retry-After)",
    504: "The request's deadline passed",
}
ROUTED = (400, 401, 403, 404, 405, 413, 415, 429, 500, 501, 502, 503, 504)
DRY_RUN = (400, 401, 403, 404, 405, 413, 415)
OPS = (401, 403, 404, 405)


@dataclass(frozen=True)
class Answer:
    """A non-error answer: its body per media type (a model, or None for any body)."""

    description: str
    content: Mapping[str, type[BaseModel] | None]
    status: int = 200
    retry_after: bool = False


@dataclass(frozen=True)
class Operation:
    """One documented route: what the table says about it."""

    method: Literal["get", "post"]
    path: str
    operation_id: str
    summary: str
    answers: tuple[Answer, ...]
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = OPS
    routed: bool = False  # a 200 says where it came from (X-Route, X-Route-Reason)
    parameters: tuple[str, ...] = ()  # names in `parameters()`


def ok(description: str, model: type[BaseModel] | None, media: str = JSON) -> tuple[Answer]:
    """The one 200 answer of an operation."""
    return (Answer(description, {media: model}),)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/v3/models/{model}/generate",
        "generate",
        "Route and run one request (or a batch of inputs sharing a task)",
        ok("One output per input", GenerateResponse),
        GenerateRequest,
        ROUTED,
        routed=True,
        parameters=("model", "deadline"),
    ),
    Operation(
        "post",
        "/v1/chat/completions",
        "chatCompletions",
        "OpenAI-compatible chat completion, routed like generate",
        (
            Answer(
                "A completion, or server-sent chunks when stream=true",
                {JSON: ChatCompletion, SSE: ChatCompletionStream},
            ),
        ),
        ChatCompletionRequest,
        ROUTED,
        routed=True,
        parameters=("deadline",),
    ),
    Operation(
        "post",
        "/v1/embeddings",
        "embeddings",
        "OpenAI-compatible embeddings on the edge",
        ok("One vector per input", EmbeddingsResponse),
        EmbeddingsRequest,
        ROUTED,
        routed=True,
    ),
    Operation(
        "get",
        "/v1/models",
        "listModels",
        "Edge and central models",
        ok("Models and where they run", ModelList),
    ),
    Operation(
        "get",
        "/v1/models/{id}",
        "retrieveModel",
        "One model (an alias finds its model)",
        ok("The model", ModelCard),
        parameters=("id",),
    ),
    Operation(
        "post",
        "/v1/route",
        "route",
        "Dry run: the routing decision for a generate body plus `model`; runs nothing",
        ok("The decision and its state", RouteDecision),
        RouteRequest,
        DRY_RUN,
    ),
    Operation("get", "/healthz", "healthz", "Liveness", ok("Alive", Health)),
    Operation(
        "get",
        "/readyz",
        "readyz",
        "Readiness: edge models loaded",
        (
            Answer("Ready, with details", {JSON: Readiness}),
            Answer("Not ready yet (loading, failed or draining)", {JSON: Readiness}, 503, True),
        ),
    ),
    Operation(
        "get", "/metrics", "metrics", "Prometheus text exposition", ok("Metrics", None, TEXT)
    ),
    Operation("get", "/openapi.json", "openapi", "This document", ok("OpenAPI 3.1", None)),
)


def parameters(models: list[str]) -> dict[str, dict[str, Any]]:
    """The parameters operations name; `models` are the names a path may carry."""
    return {
        "model": {
            "name": "model",
            "in": "path",
            "required": True,
            "description": "`auto`, the central model, or an edge model (pins to the edge)",
            "schema": {"type": "string", "enum": models},
        },
        "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        "deadline": {
            "name": DEADLINE_HEADER,
            "in": "header",
            "required": False,
            "description": "A latency budget in ms for this request (the tighter of this and "
            "parameters.latency_budget_ms wins)",
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 600_000},
        },
    }
