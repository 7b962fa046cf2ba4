"""The call log: costs, JSONL records, rotation, query hashes, the middleware, the report."""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from common.errors import TooManyRequests, make_error_middleware
from common.http import request_id_of
from router.auth import PRINCIPAL
from router.calllog import (
    CallLog,
    CallLogSettings,
    CallRecord,
    log_files,
    query_hash,
)
from router.calllog_app import register
from router.costs import Price, call_cost
from router.jobs import Job, JobInput, JobParams
from router.keys import RECORDER, SETTINGS
from router.latency import LatencyEstimator
from router.metrics import EdgeMetrics
from router.recorder import Recorder, make_record_middleware, trace_of
from router.report import add_subcommand
from router.settings import Settings, load_settings
from tests.servers import serve

COSTS = {"central": Price(0.01, 0.5, 2.0), "edge": Price(0.0001)}


def record(request_id: str = "r1", **changes: object) -> CallRecord:
    base = CallRecord(
        ts="2025-01-01T00:00:00.000+00:00",
        request_id=request_id,
        method="POST",
        path="/v3/models/{model}/generate",
        route="central",
        reason="default",
        task="generate",
        model="multimodal-pro",
        caller="tenant-a",
        prompt_tokens=100,
        completion_tokens=50,
        latency_ms=12.5,
        status=200,
        query_hash="ab" * 32,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cost_is_per_call_plus_per_1k_tokens() -> None:
    assert call_cost(COSTS, "central", 1000, 500) == pytest.approx(0.01 + 0.5 + 1.0)
    assert call_cost(COSTS, "edge", 1000, 0) == pytest.approx(0.0001)
    assert call_cost(COSTS, "cache", 1000, 500) == 0.0


def test_the_price_list_is_configured_once_under_routing(tmp_path: Path) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(
        "routing:\n  costs:\n    central: {per_call: 0.02, per_1k_completion_tokens: 1.5}\n"
    )
    prices = load_settings(config).routing.costs
    assert call_cost(prices, "central", 10, 2000) == pytest.approx(0.02 + 3.0)
    config.write_text("call_log:\n  costs: {}\n")
    with pytest.raises(ValueError, match=r"unknown config key 'call_log\.costs'"):
        load_settings(config)


def test_report_shows_central_cost_with_the_default_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "calls.jsonl"
    call_log = CallLog(path, 1_000_000, 2, Settings().routing.costs)
    call_log.record(record("r1", prompt_tokens=20, completion_tokens=100))
    call_log.record(record("r2", route="edge", task="embed", completion_tokens=0))
    call_log.close()
    parser = argparse.ArgumentParser(prog="hybrid-router")
    add_subcommand(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "--log", str(path), "--json"])
    assert args.func(args) == 0
    by_route = {s["key"]: s for s in json.loads(capsys.readouterr().out)["by"]["route"]}
    assert by_route["central"]["total_cost"] > 0
    assert by_route["edge"]["total_cost"] == 0.0  # the edge is free by default


def test_records_are_json_lines_with_cost(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    call_log = CallLog(path, 1_000_000, 2, COSTS)
    call_log.record(record("r1"))
    call_log.record(record("r2", status=503))
    call_log.close()
    lines = read_lines(path)
    assert [x["request_id"] for x in lines] == ["r1", "r2"]
    assert lines[0]["cost"] == pytest.approx(0.01 + 0.05 + 0.1)
    assert lines[1]["cost"] == 0.0
    assert lines[0]["task"] == "generate" and lines[0]["caller"] == "tenant-a"
    assert lines[0]["latency_ms"] == 12.5 and lines[0]["status"] == 200


def test_rotation_keeps_n_backups_under_the_size_limit(tmp_path: Path) -> None:
    probe = tmp_path / "probe.jsonl"
    probe_log = CallLog(probe, 1_000_000, 0, COSTS)
    probe_log.record(record("r000"))
    probe_log.close()
    line_bytes = probe.stat().st_size
    path = tmp_path / "calls.jsonl"
    call_log = CallLog(path, max_bytes=line_bytes * 10, backups=2, prices=COSTS)
    for index in range(100):
        call_log.record(record(f"r{index:03d}"))
    call_log.close()
    files = log_files(path)
    assert files == [tmp_path / "calls.jsonl.2", tmp_path / "calls.jsonl.1", path]
    assert not (tmp_path / "calls.jsonl.3").exists()
    ids = [x["request_id"] for f in files for x in read_lines(f)]
    assert ids == sorted(ids)
    assert ids[-1] == "r099"
    assert len(ids) < 100
    for f in files:
        assert f.stat().st_size <= line_bytes * 10


def test_rotation_with_small_batches_respects_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    limit = 2000
    for index in range(40):
        call_log = CallLog(path, max_bytes=limit, backups=3, prices=COSTS)
        call_log.record(record(f"r{index:03d}"))
        call_log.close()
    files = log_files(path)
    assert len(files) == 4
    assert all(f.stat().st_size <= limit for f in files)
    ids = [x["request_id"] for f in files for x in read_lines(f)]
    assert ids == sorted(ids) and ids[-1] == "r039"


def test_zero_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    for index in range(30):
        call_log = CallLog(path, max_bytes=1500, backups=0, prices=COSTS)
        call_log.record(record(f"r{index:03d}"))
        call_log.close()
    assert log_files(path) == [path]
    assert read_lines(path)[-1]["request_id"] == "r029"


def job(text: str, task: str = "embed", tenant: str = "t") -> Job:
    return Job("id", "auto", task, (JobInput(text=text),), JobParams(), tenant=tenant)


def test_query_hash_identifies_the_query_not_the_caller() -> None:
    assert query_hash(job("hello")) == query_hash(job("hello", tenant="other"))
    assert query_hash(job("hello")) != query_hash(job("hello!"))
    assert query_hash(job("hello")) != query_hash(job("hello", task="classify"))
    digest = query_hash(job("my secret text"))
    assert len(digest) == 64 and "secret" not in digest
    image = Job("id", "auto", "classify_image", (JobInput(image=b"\x89PNG1"),), JobParams())
    other = Job("id", "auto", "classify_image", (JobInput(image=b"\x89PNG2"),), JobParams())
    assert query_hash(image) != query_hash(other)


async def test_recorder_logs_results_and_errors_with_the_caller(tmp_path: Path) -> None:
    async def ok(request: web.Request) -> web.Response:
        trace = trace_of(request)
        trace.job = job("what is the capital of France", task="generate", tenant="acme")
        trace.task, trace.model = "generate", "multimodal-pro"
        trace.route, trace.reason = "central", "default"
        trace.usage = {"prompt_tokens": 2000, "completion_tokens": 1000}
        return web.json_response({}, headers={"X-Route": "central"})

    async def limited(request: web.Request) -> web.Response:
        trace_of(request).task = "generate"
        raise TooManyRequests("slow down", "central_quota", retry_after_s=1)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @web.middleware
    async def fake_auth(request: web.Request, handler):  # type: ignore[no-untyped-def]
        request[PRINCIPAL] = request.headers.get("X-Caller", "anonymous")
        return await handler(request)

    path = tmp_path / "calls.jsonl"
    metrics = EdgeMetrics.create()
    app = web.Application(
        middlewares=[
            make_record_middleware(lambda request: request.app[RECORDER]),
            make_error_middleware(request_id_of),
            fake_auth,
        ]
    )
    app[RECORDER] = Recorder(metrics, LatencyEstimator())
    app.router.add_post("/v3/models/{model}/generate", ok)
    app.router.add_post("/limited", limited)
    app.router.add_get("/healthz", healthz)
    prices = {"central": {"per_call": 0.5, "per_1k_completion_tokens": 1.0}}
    app[SETTINGS] = Settings(routing={"costs": prices})
    register(app, CallLogSettings(enabled=True, path=path))
    async with serve(app) as url, aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/v3/models/auto/generate", json={}, headers={"X-Request-Id": "req-1"}
        ) as resp:
            assert resp.status == 200
        async with http.post(f"{url}/limited", json={}, headers={"X-Caller": "bob"}) as resp:
            assert resp.status == 429
            limited_id = resp.headers["X-Request-Id"]
        async with http.get(f"{url}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{url}/nowhere") as resp:
            assert resp.status == 404
    first, second, third = read_lines(path)
    assert first["request_id"] == "req-1"
    assert first["route"] == "central" and first["reason"] == "default"
    assert first["task"] == "generate" and first["caller"] == "anonymous"
    assert first["model"] == "multimodal-pro"
    assert first["path"] == "/v3/models/{model}/generate"
    assert (first["prompt_tokens"], first["completion_tokens"]) == (2000, 1000)
    assert first["cost"] == pytest.approx(1.5)
    assert first["query_hash"] == query_hash(job("what is the capital of France", "generate"))
    assert "capital" not in path.read_text()
    assert first["latency_ms"] > 0
    assert second["request_id"] == limited_id
    assert second["status"] == 429 and second["reason"] == "central_quota"
    assert second["caller"] == "bob" and second["task"] == "generate"
    assert second["route"] == "none" and second["cost"] == 0.0
    assert second["query_hash"] is None
    assert third["status"] == 404 and third["task"] == "unknown"
    counted = {
        (s.labels["route"], s.labels["task"], s.labels["status"]): s.value
        for family in metrics.registry.collect()
        if family.name == "edge_requests"
        for s in family.samples
        if s.name == "edge_requests_total"
    }
    assert counted == {
        ("central", "generate", "200"): 1.0,
        ("none", "generate", "429"): 1.0,
        ("none", "unknown", "404"): 1.0,
    }


def test_disabled_settings_register_nothing() -> None:
    app = web.Application()
    register(app, CallLogSettings(enabled=False))
    assert len(app.cleanup_ctx) == 0
