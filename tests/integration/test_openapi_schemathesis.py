"""Schemathesis against the running edge's `/openapi.json`: no 5xx, answers match the schema.

Schemathesis calls the edge synchronously, so it runs in a worker thread while this test's
event loop keeps serving the edge. Generated generate/chat bodies are capped at a few tokens
(the LLM is slow on small machines) and carry no latency budget (a tiny one rightly ends in
504, which is not what this test looks for).
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from router.api_v3 import DEADLINE_HEADER

MAX_EXAMPLES = 30
MAX_TOKENS = 4
ALLOWED_5XX = {(501, "provider_not_configured")}  # images need a provider this setup lacks

pytestmark = pytest.mark.slow


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except a 501 for a capability that is not configured here."""
    if response.status_code < 500:
        return None
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        code, message = None, response.text[:200]
    if (response.status_code, code) in ALLOWED_5XX:
        return None
    raise AssertionError(
        f"{case.operation.label} answered {response.status_code} {code}: {message}"
    )


CONFORMANCE = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NEGATIVE = [no_server_error, status_code_conformance, content_type_conformance]


def tame(case: Any) -> None:
    """Cap generated token counts and drop latency budgets (in place)."""
    if case.headers:
        case.headers.pop(DEADLINE_HEADER, None)
    body = case.body
    if not isinstance(body, dict):
        return
    if case.operation.path == "/v1/chat/completions":
        body.pop("latency_budget_ms", None)
        body.pop("max_completion_tokens", None)
        body["max_tokens"] = MAX_TOKENS
    elif isinstance(body.get("parameters"), dict):
        body["parameters"].pop("latency_budget_ms", None)
        body["parameters"]["max_tokens"] = MAX_TOKENS
    elif "inputs" in body and "parameters" not in body:
        body["parameters"] = {"max_tokens": MAX_TOKENS}


@dataclass
class Report:
    """What the run saw."""

    calls: dict[str, int] = field(default_factory=dict)
    statuses: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


def fuzz_operation(
    url: str, operation: Any, mode: GenerationMode, checks: list[Any], report: Report
) -> None:
    """Up to MAX_EXAMPLES generated cases of one operation; failures go to the report."""
    label = f"{operation.label} [{mode.value}]"

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        tame(case)
        report.calls[label] = report.calls.get(label, 0) + 1
        try:
            response = case.call(base_url=url, timeout=60)
            report.statuses.add(response.status_code)
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as exc:
            if len(report.failures) < 20:
                report.failures.append(f"{label}: {exc}\n{case.as_curl_command()}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # only an operation without inputs has no negative cases


def fuzz(url: str) -> Report:
    """Run every operation in both generation modes; collect failures instead of stopping."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    report = Report()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/metrics":
            continue  # Prometheus text; covered by its own tests
        fuzz_operation(url, operation, GenerationMode.POSITIVE, CONFORMANCE, report)
        fuzz_operation(url, operation, GenerationMode.NEGATIVE, NEGATIVE, report)
    return report


async def test_edge_conforms_to_its_openapi_document(edge_url: str) -> None:
    report = await asyncio.to_thread(fuzz, edge_url)
    assert not report.failures, "\n\n".join(report.failures)
    operations = {label.split(" [")[0] for label in report.calls}
    assert {"POST /v3/models/{model}/generate", "POST /v1/chat/completions"} <= operations
    assert {"POST /v1/embeddings", "GET /v1/models", "GET /healthz"} <= operations
    assert 200 in report.statuses and 400 in report.statuses


async def test_openapi_document_lists_every_edge_path(edge_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(edge_url + "/openapi.json") as response:
        assert response.status == 200
        spec = await response.json()
    assert spec["openapi"].startswith("3.1")
    assert {
        "/v3/models/{model}/generate",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/route",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(spec["paths"])
    generate = spec["paths"]["/v3/models/{model}/generate"]["post"]
    assert {"200", "400", "404", "413", "415", "429", "502", "503", "504"} <= set(
        generate["responses"]
    )
    assert generate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateRequest"
    }
    assert "InputItem" in spec["components"]["schemas"]
    assert "ChatCompletionRequest" in spec["components"]["schemas"]
