"""The access log: a line per request, the request id on every line written while serving it,
and no secrets or PII anywhere in the log output of a run that sends both."""

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web

from benchmarks.data.pii_corpus import pii_corpus
from router.app import create_app
from router.keys import EDGE
from router.logging_setup import REQUEST_ID, configure
from tests.servers import TEST_KEY_ID, TEST_SECRET, edge_settings, serve

API_KEY = "sk-edge-0123456789abcdefghijklmnopqrstuv"
WRONG_KEY = "sk-wrong-9876543210zyxwvutsrqponmlkjihg"
PII = [
    "jane.doe@example.com",
    "+1 415 555 0134",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "078-05-1120",
]
TEXTS = [
    f"Please email {PII[0]} or call {PII[1]} about card {PII[2]}",
    f"Refund to IBAN {PII[3]}, SSN {PII[4]}",
]
CORPUS = pii_corpus(seed=15, per_kind=2, mixed=6)  # every built-in kind, several languages
CORPUS_VALUES = sorted({value for sample in CORPUS for _, value in sample.values})


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of the process, as JSON, into a buffer."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure(logging.DEBUG, "json", buffer)
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def keyed_edge(central_url: str, captured: io.StringIO) -> AsyncIterator[str]:
    """An edge with an API key (text models only, for speed) and one route that logs."""
    settings = edge_settings(
        central_url,
        access={"api_keys": {"app-one": API_KEY}},
        models={"tasks": ["embed", "classify"]},
    )
    app = create_app(settings)

    async def logs_something(request: web.Request) -> web.Response:
        logging.getLogger("tests.handler").warning("inside the handler")
        await asyncio.sleep(0)
        logging.getLogger("tests.handler").info("still inside")
        return web.json_response({"ok": True})

    app.router.add_get("/test/log", logs_something)
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        yield url


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_access_log_request_ids_and_no_secrets_or_pii(
    keyed_edge: str, captured: io.StringIO
) -> None:
    good = {"Authorization": f"Bearer {API_KEY}"}
    sent: list[tuple[str, str, int]] = []  # (request id, path, status)
    async with aiohttp.ClientSession() as http:
        calls = [
            ("POST", "/v3/models/auto/generate", good, {"inputs": [{"text": t} for t in TEXTS]}),
            (
                "POST",
                "/v3/models/auto/generate",
                good,
                {"inputs": {"text": TEXTS[0]}, "parameters": {"labels": ["card", "refund"]}},
            ),
            ("POST", "/v1/embeddings", good, {"model": "all-minilm-l6-v2", "input": TEXTS}),
            (
                "POST",
                "/v1/chat/completions",
                good,
                {
                    "model": "auto",
                    "max_tokens": 4,
                    "messages": [{"role": "user", "content": TEXTS[1]}],
                },
            ),
            ("POST", "/v1/route", good, {"inputs": {"text": TEXTS[1]}}),
            (
                "POST",
                "/v3/models/all-minilm-l6-v2/generate",
                good,
                {"inputs": [{"text": sample.text} for sample in CORPUS[:60]]},
            ),
            (
                "POST",
                "/v3/models/auto/generate",
                good,
                {
                    "inputs": [{"text": sample.text} for sample in CORPUS[-8:]],
                    "parameters": {"labels": ["billing", "support"]},
                },
            ),
            ("POST", "/v3/models/auto/generate", {"X-API-Key": WRONG_KEY}, {"inputs": "x"}),
            ("GET", f"/v3/nowhere?email={PII[0]}&key={API_KEY}", good, None),
            ("GET", "/test/log", good, None),
            ("GET", "/healthz", {}, None),
        ]
        for method, path, headers, body in calls:
            async with http.request(method, keyed_edge + path, headers=headers, json=body) as r:
                await r.read()
                sent.append((r.headers["X-Request-Id"], path.split("?")[0], r.status))
    await asyncio.sleep(0.05)
    text = captured.getvalue()
    records = lines(captured)

    access = [r for r in records if r["logger"] == "hybrid_router.access"]
    by_id = {r["request_id"]: r for r in access}
    for request_id, path, status in sent:
        entry = by_id[request_id]  # exactly the requests we sent, each logged
        assert (entry["path"], entry["status"], entry["method"]) == (
            path,
            status,
            entry["method"],
        )
        for field in ("caller", "route", "reason", "latency_ms"):
            assert field in entry
    assert {s for _, _, s in sent} >= {200, 401, 404}
    routed = [by_id[rid] for rid, path, _ in sent if path.startswith("/v3/models")]
    assert all(r["route"] in ("edge", "central", "cache") and r["reason"] for r in routed[:2])
    assert {r["route"] for r in routed} >= {"edge", "central", "none"}  # none: the 401
    assert by_id[sent[0][0]]["caller"] == "app-one"
    assert any(r["caller"] == TEST_KEY_ID for r in access), "the central logs its requests too"

    handler_lines = [r for r in records if r["logger"] == "tests.handler"]
    log_id = next(rid for rid, path, _ in sent if path == "/test/log")
    assert len(handler_lines) == 2 and {r["request_id"] for r in handler_lines} == {log_id}

    for secret in (API_KEY, WRONG_KEY, TEST_SECRET, *PII, *CORPUS_VALUES):
        assert secret not in text, f"{secret!r} leaked into the log"
    compact = text.replace(" ", "")
    assert all(p.replace(" ", "") not in compact for p in PII)


def test_both_formats_carry_the_request_id() -> None:
    for fmt in ("text", "json"):
        buffer = io.StringIO()
        root = logging.getLogger()
        saved, level = list(root.handlers), root.level
        configure(logging.INFO, fmt, buffer)  # type: ignore[arg-type]
        token = REQUEST_ID.set("req-123")
        try:
            logging.getLogger("tests.format").info("inside")
        finally:
            REQUEST_ID.reset(token)
            logging.getLogger("tests.format").info("outside")
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in saved:
                root.addHandler(handler)
            root.setLevel(level)
        inside, outside = buffer.getvalue().splitlines()
        if fmt == "json":
            assert json.loads(inside)["request_id"] == "req-123"
            assert json.loads(outside)["request_id"] == "-"
        else:
            assert "[req-123]" in inside and "[-]" in outside
