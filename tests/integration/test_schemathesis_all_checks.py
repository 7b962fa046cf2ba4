"""Schemathesis with every check (`--checks all`) against the edge's `/openapi.json` (F11).

Two kinds of answer are by design, and are the only ones let through:
- a 5xx that is the request's own doing: a 504 for a deadline no target can meet (the
  generated `X-Request-Deadline-Ms: 1`), a 501 for a capability this setup lacks;
- a 400 for a schema-valid body whose *content* the server must refuse and no JSON Schema
  can describe (bytes that are not base64 or not an image or WAV, OpenAI extras a v3
  central cannot honour, inputs of mixed tasks): `SEMANTIC_CODES`;
- a 413 for a generated body over `max_body_bytes` (a refusal; schemathesis expects 400/422).
Everything else, including `inputs: []`, `input: ""`, a JSON `0` for `false` and a 405
without `Allow`, fails the test.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from tests.integration.test_openapi_schemathesis import MAX_TOKENS, tame

MAX_EXAMPLES = 25
EXPECTED_5XX = {(504, "deadline:none-fits"), (504, "deadline_exceeded")}
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
}

pytestmark = pytest.mark.slow


def error_code(response: Any) -> str | None:
    """`error.code` of a JSON error answer."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def by_design(response: Any) -> bool:
    """An answer this module's docstring lets through."""
    code = error_code(response)
    if response.status_code == 501:
        return True  # NotSupported: a capability this deployment has not configured
    if response.status_code >= 500:
        return (response.status_code, code) in EXPECTED_5XX
    if response.status_code == 413:
        return True  # a body over max_body_bytes is refused; schemathesis lists only 400/422
    return response.status_code == 400 and code in SEMANTIC_CODES


@dataclass
class Report:
    """What the run saw."""

    calls: int = 0
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
        response = case.call(base_url=url, timeout=60)
        report.statuses.add(response.status_code)
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as exc:
            if not by_design(response) and len(report.failures) < 20:
                report.failures.append(f"{operation.label} [{mode.value}]: {exc}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise


def fuzz(url: str) -> Report:
    """Every operation, positive and negative."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    report = Report()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/metrics":
            continue  # Prometheus text
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(url, operation, mode, report)
    return report


async def test_every_schemathesis_check_passes(edge_url: str) -> None:
    assert MAX_TOKENS <= 8  # generated generate calls stay cheap (see `tame`)
    report = await asyncio.to_thread(fuzz, edge_url)
    assert not report.failures, "\n\n".join(report.failures)
    assert report.calls > 100
    assert {200, 400} <= report.statuses
