"""`GET /openapi.json`: the edge's HTTP API as OpenAPI 3.1, rendered from `router.openapi_routes`.

Request and response schemas come from the pydantic models the handlers parse and build
(`pydantic.json_schema.models_json_schema`), so the two cannot drift; what is truly per route
(path, parameters, headers, status codes) is the `OPERATIONS` table.
"""

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from router.catalogue import Catalogue
from router.keys import SETTINGS
from router.openapi_routes import (
    ERROR_STATUSES,
    JSON,
    OPERATIONS,
    TEXT,
    Operation,
    parameters,
)
from router.responses import ErrorResponse

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
ModelKey = tuple[type[BaseModel], JsonSchemaMode]  # a model and the side it is read on


def string_header(description: str, required: bool = False) -> dict[str, Any]:
    """A response header of type string."""
    return {"description": description, "required": required, "schema": {"type": "string"}}


REQUEST_ID = string_header("The request's id (echoed when the caller sent a safe one)", True)
RETRY_AFTER = string_header("Seconds to wait before retrying")
ROUTE_HEADERS = {
    "X-Route": string_header("Where the answer came from: edge, central or cache", True),
    "X-Route-Reason": string_header("The routing policy's reason", True),
}


def schemas(ops: tuple[Operation, ...]) -> tuple[dict[ModelKey, dict[str, Any]], dict[str, Any]]:
    """Refs to the operations' models (bodies validated, answers serialized) and their schemas."""
    keys: list[ModelKey] = [(ErrorResponse, "serialization")]
    keys += [(op.body, "validation") for op in ops if op.body is not None]
    keys += [
        (model, "serialization")
        for op in ops
        for answer in op.answers
        for model in answer.content.values()
        if model is not None
    ]
    refs, top = models_json_schema(list(dict.fromkeys(keys)), ref_template=REF)
    return dict(refs), top.get("$defs", {})


def content(
    media: Mapping[str, type[BaseModel] | None], refs: Mapping[ModelKey, dict[str, Any]]
) -> dict[str, Any]:
    """`content` of a response: each media type's model, or any string / JSON object."""
    return {
        kind: {
            "schema": refs[(model, "serialization")]
            if model is not None
            else {"type": "string" if kind == TEXT else "object"}
        }
        for kind, model in media.items()
    }


def error_answers(statuses: tuple[int, ...], error: dict[str, Any]) -> dict[str, Any]:
    """The JSON error responses an operation can return."""
    answers: dict[str, Any] = {}
    for status in statuses:
        headers = {"X-Request-Id": REQUEST_ID}
        if status in (429, 503):
            headers["Retry-After"] = RETRY_AFTER
        if status == 401:
            headers["WWW-Authenticate"] = string_header("The auth scheme to use")
        answers[str(status)] = {
            "description": ERROR_STATUSES[status],
            "headers": headers,
            "content": {JSON: {"schema": error}},
        }
    return answers


def operation(
    op: Operation, refs: Mapping[ModelKey, dict[str, Any]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """One operation object from its table row."""
    responses = error_answers(op.errors, refs[(ErrorResponse, "serialization")])
    for answer in op.answers:
        headers = {"X-Request-Id": REQUEST_ID}
        if answer.status == 200 and op.routed:
            headers |= ROUTE_HEADERS
        if answer.retry_after:
            headers["Retry-After"] = RETRY_AFTER
        responses[str(answer.status)] = {
            "description": answer.description,
            "headers": headers,
            "content": content(answer.content, refs),
        }
    spec: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.operation_id,
        "responses": dict(sorted(responses.items())),
    }
    if op.parameters:
        spec["parameters"] = [params[name] for name in op.parameters]
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": refs[(op.body, "validation")]}},
        }
    return spec


def build_spec(central_model: str) -> dict[str, Any]:
    """The whole edge API; `central_model` is the central's public model name."""
    refs, components = schemas(OPERATIONS)
    params = parameters(Catalogue(central_model).names())
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = operation(op, refs, params)
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
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document for this node's configuration."""
    return web.json_response(build_spec(request.app[SETTINGS].central.model))


def register(app: web.Application) -> None:
    """Add `GET /openapi.json` to the edge app."""
    app.router.add_get("/openapi.json", openapi_json)
