"""`/openapi.json` from the handlers' models: routes documented, refs resolve, bodies match."""

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from common.errors import BadRequest, Unavailable, error_body
from router.app import create_app
from router.openapi import build_spec
from router.openapi_routes import OPERATIONS
from router.responses import ErrorResponse, Health, ModelCard, Readiness, dump
from tests.servers import edge_settings

CENTRAL_MODEL = "multimodal-pro"
# Registered routes the document leaves out on purpose, and why.
UNDOCUMENTED = {
    ("POST", "/v1/audio/transcriptions"),  # multipart audio: tests/integration/test_transcribe_*
    ("GET", "/"),  # the status page (HTML)
    ("GET", "/status.json"),  # the status page's data
}


def refs(node: Any) -> list[str]:
    """Every `$ref` anywhere in a JSON document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def matches(model: type[BaseModel], body: dict[str, Any]) -> bool:
    """Whether `body` validates as `model` and says nothing the model does not."""
    return model.model_validate(body).model_dump(exclude_unset=True) == body


def test_every_registered_route_is_documented_or_listed_as_left_out() -> None:
    app = create_app(edge_settings())
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and not route.resource.canonical.startswith("/static")
    }
    documented = {(op.method.upper(), op.path) for op in OPERATIONS}
    assert documented <= routes  # the table names no route the app lacks
    assert routes - documented == UNDOCUMENTED  # a new route is documented or listed here


def test_every_ref_resolves_to_a_component() -> None:
    spec = build_spec(CENTRAL_MODEL)
    components = spec["components"]["schemas"]
    found = refs(spec)
    assert found and all(r.startswith("#/components/schemas/") for r in found)
    assert {r.rsplit("/", 1)[1] for r in found} <= set(components)
    assert {"GenerateRequest", "InputItem", "ChatCompletionRequest", "ErrorResponse"} <= set(
        components
    )


def test_components_are_the_handlers_models() -> None:
    spec = build_spec(CENTRAL_MODEL)
    components = spec["components"]["schemas"]
    readyz = spec["paths"]["/readyz"]["get"]["responses"]
    assert readyz["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Readiness"
    }
    assert set(components["Readiness"]["properties"]) == set(Readiness.model_fields)
    assert set(components["ModelCard"]["properties"]) == set(ModelCard.model_fields)
    # Closed shapes: a key a handler adds without adding it to its model fails schemathesis.
    assert components["ModelCard"]["additionalProperties"] is False
    assert components["ErrorDetail"]["additionalProperties"] is False


def test_routed_answers_carry_route_headers_and_ops_answers_do_not() -> None:
    paths = build_spec(CENTRAL_MODEL)["paths"]
    generate = paths["/v3/models/{model}/generate"]["post"]["responses"]["200"]["headers"]
    assert {"X-Request-Id", "X-Route", "X-Route-Reason"} <= set(generate)
    assert set(paths["/healthz"]["get"]["responses"]["200"]["headers"]) == {"X-Request-Id"}
    model_enum = paths["/v3/models/{model}/generate"]["post"]["parameters"][0]["schema"]["enum"]
    assert CENTRAL_MODEL in model_enum and "auto" in model_enum


@pytest.mark.parametrize(
    "error", [BadRequest("bad", "invalid_input"), Unavailable("down", "central_down", 2)]
)
def test_error_bodies_match_the_documented_error_model(error: Exception) -> None:
    assert isinstance(error, BadRequest | Unavailable)
    assert matches(ErrorResponse, error_body(error, "req-1"))


def test_an_undocumented_key_fails_a_closed_model() -> None:
    body = error_body(BadRequest("bad", "invalid_input"), "req-1")
    body["error"]["hint"] = "not in the model"
    with pytest.raises(ValidationError):
        ErrorResponse.model_validate(body)


def test_ops_bodies_match_their_models() -> None:
    assert matches(Health, dump(Health()))
    ready = Readiness(
        status="not_ready",
        reason="loading",
        edge_models=[],
        edge_queue={},
        edge_runtime={},
    )
    assert matches(Readiness, dump(ready))
