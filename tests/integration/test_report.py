"""`hybrid-router report` over a call log written by a real edge node and the real central."""

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from router.app import create_app
from router.calllog import CallLogSettings
from router.calllog_app import register
from router.keys import EDGE
from router.report import add_subcommand
from tests.servers import edge_settings, serve

pytestmark = pytest.mark.slow

COSTS = {
    "central": {"per_call": 0.01, "per_1k_prompt_tokens": 0.5, "per_1k_completion_tokens": 2.0},
    "edge": {"per_call": 0.0001},
}
EXPECTED_RATES = {"central": (0.01, 0.5, 2.0), "edge": (0.0001, 0.0, 0.0)}


def expected_cost(route: str, usage: dict[str, int]) -> float:
    if route not in EXPECTED_RATES:
        return 0.0
    per_call, prompt, completion = EXPECTED_RATES[route]
    return (
        per_call
        + prompt * usage.get("prompt_tokens", 0) / 1000
        + completion * usage.get("completion_tokens", 0) / 1000
    )


async def send(
    http: aiohttp.ClientSession, url: str, model: str, body: dict[str, Any], request_id: str
) -> dict[str, Any]:
    started = time.monotonic()
    async with http.post(
        f"{url}/v3/models/{model}/generate", json=body, headers={"X-Request-Id": request_id}
    ) as resp:
        data = await resp.json()
        return {
            "request_id": request_id,
            "status": resp.status,
            "route": data.get("route", "none"),
            "usage": data.get("usage") or {},
            "client_ms": (time.monotonic() - started) * 1000,
        }


def run_report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="hybrid-router")
    add_subcommand(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


async def test_report_matches_the_requests_sent(
    central_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_path = tmp_path / "calls.jsonl"
    settings = edge_settings(central_url, models={"tasks": ["embed"]}, routing={"costs": COSTS})
    app = create_app(settings)
    register(app, CallLogSettings(enabled=True, path=log_path))
    embed_texts = ["alpha"] * 3 + ["beta"] * 2 + [f"unique {i}" for i in range(4)]
    sent: list[dict[str, Any]] = []
    async with serve(app) as url, aiohttp.ClientSession() as http:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        for i, text in enumerate(embed_texts):
            body = {"inputs": {"text": text}, "parameters": {"cache": False}}
            sent.append(await send(http, url, "all-minilm-l6-v2", body, f"embed-{i}"))
        for i in range(2):
            body = {
                "inputs": {"text": "Name one colour.", "task": "generate"},
                "parameters": {"max_tokens": 8, "temperature": 0, "cache": False},
            }
            sent.append(await send(http, url, "auto", body, f"gen-{i}"))
        sent.append(await send(http, url, "no-such-model", {"inputs": {"text": "x"}}, "bad-0"))
    # the app is shut down: the call log is flushed and closed

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert sorted(x["request_id"] for x in lines) == sorted(s["request_id"] for s in sent)
    assert "alpha" not in log_path.read_text() and "colour" not in log_path.read_text()
    by_id = {x["request_id"]: x for x in lines}
    for s in sent:
        line = by_id[s["request_id"]]
        assert line["status"] == s["status"]
        assert line["route"] == s["route"]
        assert line["latency_ms"] <= s["client_ms"]
        assert line["cost"] == pytest.approx(expected_cost(s["route"], s["usage"]))
    assert [s["status"] for s in sent] == [200] * (len(embed_texts) + 2) + [404]
    gen_routes = {s["route"] for s in sent if s["request_id"].startswith("gen-")}
    assert gen_routes <= {"central", "cache"} and "central" in gen_routes
    assert by_id["gen-0"]["completion_tokens"] > 0 and by_id["gen-0"]["task"] == "generate"

    code, out = run_report(["report", "--log", str(log_path), "--json", "--top", "5"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["records"] == len(sent) and report["skipped_lines"] == 0
    total = sum(expected_cost(s["route"], s["usage"]) for s in sent)
    assert report["total_cost"] == pytest.approx(total, abs=1e-6)

    routes = Counter(s["route"] for s in sent)
    by_route = {s["key"]: s for s in report["by"]["route"]}
    assert {k: v["count"] for k, v in by_route.items()} == dict(routes)
    assert by_route["none"]["errors"] == 1 and by_route["edge"]["errors"] == 0
    edge_ms = sorted(by_id[s["request_id"]]["latency_ms"] for s in sent if s["route"] == "edge")
    assert by_route["edge"]["p99_ms"] == edge_ms[-1]  # nearest rank of < 100 samples is the max
    assert by_route["edge"]["p50_ms"] == edge_ms[(len(edge_ms) + 1) // 2 - 1]
    assert by_route["edge"]["p50_ms"] <= by_route["edge"]["p99_ms"]
    assert by_route["edge"]["total_cost"] == pytest.approx(0.0001 * routes["edge"])

    by_task = {s["key"]: s["count"] for s in report["by"]["task"]}
    assert by_task == {"embed": len(embed_texts), "generate": 2, "unknown": 1}
    by_caller = {s["key"]: s["count"] for s in report["by"]["caller"]}
    assert sum(by_caller.values()) == len(sent)

    repeated = report["most_expensive"]
    assert sorted(q["count"] for q in repeated) == [2, 2, 3]  # beta x2, the prompt x2, alpha x3
    alpha = next(q for q in repeated if q["count"] == 3)
    assert alpha["task"] == "embed" and alpha["routes"] == ["edge"]
    assert report["most_expensive"][0]["task"] == "generate"  # the central calls cost most
    assert report["slowest"][0]["task"] == "generate"

    code, text = run_report(["report", "--log", str(log_path)], capsys)
    assert code == 0
    assert f"{len(sent)} calls" in text and "by route:" in text and "by caller:" in text
