"""Schemathesis with every check (`--checks all`) against the edge's `/openapi.json` (F11).

Every answer, positive and negative, must conform to the document: status code, content
type, headers and body schema (the response models are closed, so an undocumented key
fails too). Three kinds of answer are by design, and excuse only a failed *acceptance*
check (`not_a_server_error`, `positive_data_acceptance`, `negative_data_rejection`), never
a conformance one:
- a 5xx that is the request's own doing: a 504 for a deadline no target can meet, a 501
  for the one capability this setup lacks (images without a provider that takes them);
- a 400 for a schema-valid body whose *content* the server must refuse and no JSON Schema
  can describe (bytes that are not base64 or not an image or WAV, OpenAI extras a v3
  central cannot honour, inputs of mixed tasks, a pinned route that cannot do the task):
  `SEMANTIC_CODES`;
- a 413 for a generated body over `max_body_bytes` (a refusal; schemathesis expects 400/422).
Everything else, including `inputs: []`, `input: ""`, a JSON `0` for `false` and a 405
without `Allow`, fails the test.

Generated generate/chat bodies are capped at a few tokens (the LLM is slow on small
machines) and carry no latency budget (a tiny one rightly ends in 504, which is not what
this test looks for).
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
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup

from router.api_v3 import DEADLINE_HEADER

MAX_EXAMPLES = 30
MAX_TOKENS = 4
EXPECTED_5XX = {
    # Images need a provider this setup lacks: the central has none, or no edge provider fits.
    (501, "provider_not_configured"),
    (501, "provider_capability"),
    (504, "deadline:none-fits"),
    (504, "deadline_exceeded"),
}
ACCEPTANCE_CHECKS = frozenset(
    {"not_a_server_error", "positive_data_acceptance", "negative_data_rejection"}
)
SEMANTIC_CODES = {
    "invalid_base64",
    "empty_image",
    "empty_audio",
    "invalid_image",
    "invalid_audio",
    "image_too_large",
    "audio_too_long",
    "unsupported_parameter",
    "mixed_tasks",
    "missing_text",
    "missing_image",
    "missing_audio",
    "unsupported_task",
    "invalid_image_url",
    "url_not_allowed",
    "image_role",
    "too_many_images",
    "trailing_assistant_messages",
    "provider_rejected",  # the central's own content rules (e.g. generate needs text)
    "central_rejected",
    "unknown_preset",  # a `parameters.preset` this node lacks (presets are configured)
    "unknown_label_set",  # a `parameters.label_set` this node lacks (label sets are configured)
    "missing_labels",  # classify without labels or a label set
    "stream_batch",  # streaming takes one input
    "invalid_data_url",
    "unknown_image_type",
    "pinned:edge-unable",  # `route: edge` for a task only the central does (chat, generate)
    "pinned:central-unable",
}

pytestmark = pytest.mark.slow


def number(value: object) -> float | None:
    """A JSON number as a float (None for anything else, bools included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def valid_tokens(value: object) -> bool:
    """A token count the schemas accept: an integer (4.0 counts, as in JSON Schema) in 1..4096."""
    tokens = number(value)
    return tokens is not None and tokens.is_integer() and 1 <= tokens <= 4096


def valid_budget(value: object) -> bool:
    """A latency budget the schemas accept: a number in (0, 600000]."""
    budget = number(value)
    return budget is not None and 0 < budget <= 600_000


def valid_header_budget(text: str | None) -> bool:
    """A deadline header the schema accepts."""
    try:
        return text is not None and valid_budget(float(text))
    except ValueError:
        return False


def tame(case: Any) -> None:
    """Cap token counts and drop latency budgets in place, touching valid values only."""
    # A negative case stays negative: an invalid count or budget may be what makes it one,
    # so it is left as generated (and refused before anything is generated).
    if case.headers and valid_header_budget(case.headers.get(DEADLINE_HEADER)):
        del case.headers[DEADLINE_HEADER]
    body = case.body
    if not isinstance(body, dict):
        return
    chat = case.operation.path == "/v1/chat/completions"
    if chat:
        target = body
        if valid_tokens(body.get("max_completion_tokens")):
            del body["max_completion_tokens"]
    elif isinstance(body.get("parameters"), dict):
        target = body["parameters"]
    elif "inputs" in body and "parameters" not in body:
        body["parameters"] = target = {}
    else:
        return
    if valid_budget(target.get("latency_budget_ms")):
        del target["latency_budget_ms"]
    tokens = target.get("max_tokens", MAX_TOKENS)
    if valid_tokens(tokens) or (chat and tokens is None):  # chat takes `null`, v3 does not
        target["max_tokens"] = MAX_TOKENS


def error_code(response: Any) -> str | None:
    """`error.code` of a JSON error answer."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def by_design(response: Any) -> bool:
    """An answer this module's docstring lets through."""
    code = error_code(response)
    if response.status_code >= 500:
        return (response.status_code, code) in EXPECTED_5XX
    if response.status_code == 413:
        return True  # a body over max_body_bytes is refused; schemathesis lists only 400/422
    return response.status_code == 400 and code in SEMANTIC_CODES


def excused(exc: AssertionError | FailureGroup, response: Any) -> bool:
    """A by-design answer that failed acceptance checks only."""
    failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
    return by_design(response) and all(
        isinstance(f, Failure) and set(f.checks) <= ACCEPTANCE_CHECKS for f in failures
    )


@dataclass
class Report:
    """What the run saw."""

    calls: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


def run_operation(url: str, operation: Any, mode: GenerationMode, report: Report) -> None:
    """Generated cases of one operation through every check."""
    load_all_checks()
    checks = CHECKS.get_all()

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
        report.calls += 1
        report.operations.add(operation.label)
        response = case.call(base_url=url, timeout=60)
        report.statuses.add(response.status_code)
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as exc:
            if not excused(exc, response) and len(report.failures) < 20:
                report.failures.append(f"{operation.label} [{mode.value}]: {exc}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise


def fuzz(url: str, operations: list[Any]) -> Report:
    """Every operation, positive and negative."""
    report = Report()
    for operation in operations:
        if operation.path == "/metrics":
            continue  # Prometheus text
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(url, operation, mode, report)
    return report


async def test_every_schemathesis_check_passes(edge_url: str, http: aiohttp.ClientSession) -> None:
    assert MAX_TOKENS <= 8  # generated generate calls stay cheap (see `tame`)
    async with http.get(edge_url + "/openapi.json") as response:
        document = await response.json()
    # Loaded on the loop's thread, not the worker's: loading imports most of schemathesis, which
    # pytest rewrites (parses) as it is imported, and CPython 3.11's parser state is shared by
    # threads. Parsed on the worker beside the served edge, it once failed with "AST
    # constructor recursion depth mismatch".
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    report = await asyncio.to_thread(fuzz, edge_url, operations)
    assert not report.failures, "\n\n".join(report.failures)
    assert report.calls > 100
    assert {"POST /v3/models/{model}/generate", "POST /v1/chat/completions"} <= report.operations
    assert {"POST /v1/embeddings", "GET /v1/models", "GET /healthz"} <= report.operations
    assert {200, 400} <= report.statuses
