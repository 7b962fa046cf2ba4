"""`GET /openapi.json`: the edge's HTTP API as OpenAPI 3.1, from the pydantic request and
response models the handlers use."""

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from common.schema import EmbeddingsRequest, GenerateRequest
from router.api_v3 import DEADLINE_HEADER, RouteRequest
from router.catalogue import Catalogue
from router.chat_request import ChatCompletionRequest
from router.keys import SETTINGS
from router.responses import RESPONSE_MODELS

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
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
OPS = (401, 403, 404, 405)


def string_header(description: str, required: bool = False) -> dict[str, Any]:
    """A response header of type string."""
    return {"description": description, "required": required, "schema": {"type": "string"}}


REQUEST_ID = string_header("The request's id (echoed when the caller sent a safe one)", True)
ROUTE_HEADERS = {
    "X-Request-Id": REQUEST_ID,
    "X-Route": string_header("Where the answer came from: edge, central or cache", True),
    "X-Route-Reason": string_header("The routing policy's reason", True),
}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": REF.format(model=name)}


def model_schemas(models: tuple[type[BaseModel], ...]) -> dict[str, dict[str, Any]]:
    """Component schemas of pydantic models, their `$defs` hoisted into components."""
    schemas: dict[str, dict[str, Any]] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """`content` for a JSON body."""
    return {"application/json": {"schema": schema}}


def errors(statuses: tuple[int, ...]) -> dict[str, Any]:
    """The JSON error responses a path can return."""
    responses: dict[str, Any] = {}
    for status in statuses:
        headers: dict[str, Any] = {"X-Request-Id": REQUEST_ID}
        if status in (429, 503):
            headers["Retry-After"] = string_header("Seconds to wait before retrying")
        if status == 401:
            headers["WWW-Authenticate"] = string_header("The auth scheme to use")
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            "headers": headers,
            "content": json_content(ref("ErrorResponse")),
        }
    return responses


def json_body(name: str) -> dict[str, Any]:
    """A required JSON request body of a component schema."""
    return {"required": True, "content": json_content(ref(name))}


def ok(schema: dict[str, Any], description: str, headers: dict[str, Any]) -> dict[str, Any]:
    """A 200 JSON response."""
    return {"description": description, "headers": headers, "content": json_content(schema)}


def operation(
    summary: str, responses: dict[str, Any], body: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One operation with a summary, responses and an optional JSON body."""
    op: dict[str, Any] = {"summary": summary, "responses": responses, **extra}
    if body is not None:
        op["requestBody"] = json_body(body)
    return op


def build_spec(central_model: str) -> dict[str, Any]:
    """The whole edge API; `central_model` is the central's public model name."""
    id_only = {"X-Request-Id": REQUEST_ID}
    deadline = {
        "name": DEADLINE_HEADER,
        "in": "header",
        "required": False,
        "description": "A latency budget in ms for this request (the tighter of this and "
        "parameters.latency_budget_ms wins)",
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 600_000},
    }
    models = Catalogue(central_model).names()
    paths: dict[str, Any] = {
        "/v3/models/{model}/generate": {
            "post": operation(
                "Route and run one request (or a batch of inputs sharing a task)",
                {
                    "200": ok(ref("GenerateResponse"), "One output per input", ROUTE_HEADERS),
                    **errors(ROUTED),
                },
                "GenerateRequest",
                operationId="generate",
                parameters=[
                    {
                        "name": "model",
                        "in": "path",
                        "required": True,
                        "description": "`auto`, the central model, or an edge model (pins to "
                        "the edge)",
                        "schema": {"type": "string", "enum": models},
                    },
                    deadline,
                ],
            )
        },
        "/v1/chat/completions": {
            "post": operation(
                "OpenAI-compatible chat completion, routed like generate",
                {
                    "200": {
                        "description": "A completion, or server-sent chunks when stream=true",
                        "headers": ROUTE_HEADERS,
                        "content": {
                            **json_content(ref("ChatCompletion")),
                            "text/event-stream": {"schema": ref("ChatCompletionStream")},
                        },
                    },
                    **errors(ROUTED),
                },
                "ChatCompletionRequest",
                operationId="chatCompletions",
                parameters=[deadline],
            )
        },
        "/v1/embeddings": {
            "post": operation(
                "OpenAI-compatible embeddings on the edge",
                {
                    "200": ok(ref("EmbeddingsResponse"), "One vector per input", ROUTE_HEADERS),
                    **errors(ROUTED),
                },
                "EmbeddingsRequest",
                operationId="embeddings",
            )
        },
        "/v1/models": {
            "get": operation(
                "Edge and central models",
                {"200": ok(ref("ModelList"), "Models and where they run", id_only), **errors(OPS)},
                operationId="listModels",
            )
        },
        "/v1/models/{id}": {
            "get": operation(
                "One model (an alias finds its model)",
                {"200": ok(ref("ModelCard"), "The model", id_only), **errors(OPS)},
                operationId="retrieveModel",
                parameters=[
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/v1/route": {
            "post": operation(
                "Dry run: the routing decision for a generate body plus `model`; runs nothing",
                {
                    "200": ok(ref("RouteDecision"), "The decision and its state", id_only),
                    **errors((400, 401, 403, 404, 405, 413, 415)),
                },
                "RouteRequest",
                operationId="route",
            )
        },
        "/healthz": {
            "get": operation(
                "Liveness",
                {"200": ok(ref("Health"), "Alive", id_only), **errors(OPS)},
                operationId="healthz",
            )
        },
        "/readyz": {
            "get": operation(
                "Readiness: edge models loaded",
                {
                    "200": ok(ref("Health"), "Ready, with details", id_only),
                    "503": {
                        "description": "Not ready yet",
                        "headers": {
                            "X-Request-Id": REQUEST_ID,
                            "Retry-After": string_header("Seconds to wait"),
                        },
                        "content": json_content(ref("Health")),
                    },
                    **errors(OPS),
                },
                operationId="readyz",
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus text exposition",
                {
                    "200": {
                        "description": "Metrics",
                        "headers": id_only,
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **errors(OPS),
                },
                operationId="metrics",
            )
        },
        "/openapi.json": {
            "get": operation(
                "This document",
                {"200": ok({"type": "object"}, "OpenAPI 3.1", id_only), **errors(OPS)},
                operationId="openapi",
            )
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "hybrid-router edge node",
            "version": "0.1.0",
            "description": "Small ONNX models on the edge; heavy multimodal work routed to a "
            "central model service by policy.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                **model_schemas(
                    (GenerateRequest, RouteRequest, EmbeddingsRequest, ChatCompletionRequest)
                ),
                **model_schemas(RESPONSE_MODELS),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document for this node's configuration."""
    return web.json_response(build_spec(request.app[SETTINGS].central.model))


def register(app: web.Application) -> None:
    """Add `GET /openapi.json` to the edge app."""
    app.router.add_get("/openapi.json", openapi_json)
