"""The policy router against the real central service: deadlines, outages, saturation, dry runs."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from common.tokens import TokenMinter
from router.app import create_app
from router.keys import EDGE
from tests.servers import TEST_KEY_ID, TEST_SECRET, edge_settings, free_port, serve

GEN = "/v3/models/auto/generate"


async def generate(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], Any, float]:
    started = time.monotonic()
    async with http.post(url + GEN, json=body) as response:
        payload = await response.json()
        return response.status, payload, response.headers, time.monotonic() - started


@pytest.fixture
async def slow_central(http: aiohttp.ClientSession, central_url: str) -> AsyncIterator[str]:
    """The real central with 1.5 s added to every request (its fault hook)."""
    auth = {
        "Authorization": "Bearer "
        + TokenMinter(TEST_KEY_ID, TEST_SECRET, "hybrid-router-central").token()
    }
    async with http.post(
        central_url + "/admin/faults", json={"delay_ms": 1500}, headers=auth
    ) as response:
        assert response.status == 200
    try:
        yield central_url
    finally:
        async with http.post(central_url + "/admin/faults", json={}, headers=auth) as response:
            assert response.status == 200


async def test_deadline_bound_requests_avoid_a_slow_central(
    http: aiohttp.ClientSession, slow_central: str
) -> None:
    app = create_app(edge_settings(slow_central, routing={"warmup_probe": False}))
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 60)
        budget = 400
        # classify: both can; the edge fits the budget
        status, body, headers, elapsed = await generate(
            http,
            url,
            {
                "inputs": {"text": "It is raining"},
                "parameters": {"labels": ["weather", "sport"], "latency_budget_ms": budget},
            },
        )
        assert status == 200 and headers["X-Route"] == "edge"
        # generate: only the central can; the first try learns it is slow (504 at the budget)
        status, body, _, elapsed = await generate(
            http,
            url,
            {
                "inputs": {"text": "Hi"},
                "parameters": {"max_tokens": 2, "latency_budget_ms": budget},
            },
        )
        assert status == 504
        assert elapsed <= (budget + 200) / 1000
        # ...and the next one fails fast: no target can finish in time
        status, body, _, elapsed = await generate(
            http,
            url,
            {
                "inputs": {"text": "Hi"},
                "parameters": {"max_tokens": 2, "latency_budget_ms": budget},
            },
        )
        assert status == 504
        assert body["error"]["code"] == "deadline:none-fits"
        assert elapsed < budget / 1000


async def test_header_deadline_is_honoured(http: aiohttp.ClientSession, slow_central: str) -> None:
    app = create_app(edge_settings(slow_central, routing={"warmup_probe": False}))
    async with serve(app) as url:
        started = time.monotonic()
        async with http.post(
            url + GEN,
            json={"inputs": {"text": "Hi"}, "parameters": {"max_tokens": 2}},
            headers={"X-Request-Deadline-Ms": "300"},
        ) as response:
            assert response.status == 504
        assert time.monotonic() - started <= 0.5


async def test_central_down_edge_keeps_serving_and_central_tasks_fail_fast(
    http: aiohttp.ClientSession,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_app(
        edge_settings(
            dead,
            routing={"warmup_probe": False},
            central={"breaker": {"failure_threshold": 3}, "retry": {"max_attempts": 1}},
        )
    )
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 60)
        for _ in range(3):
            status, body, _, _ = await generate(http, url, {"inputs": {"text": "Hi"}})
            assert status == 503 and body["error"]["code"] == "central_unreachable"
        status, body, headers, _ = await generate(http, url, {"inputs": {"text": "Hi"}})
        assert status == 503
        assert body["error"]["code"] == "health:central-unavailable"  # decided without I/O
        assert int(headers["Retry-After"]) >= 1
        status, body, headers, _ = await generate(
            http,
            url,
            {
                "inputs": {"text": "It is snowing"},
                "parameters": {"labels": ["weather", "food"]},
            },
        )
        assert status == 200 and headers["X-Route-Reason"] == "health:central-unavailable"
        async with http.get(url + "/readyz") as response:
            assert (await response.json())["central"]["breaker"] == "open"


async def test_saturated_edge_offloads_to_the_central(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    app = create_app(
        edge_settings(
            central_url,
            models={"tasks": ["classify"], "max_batch_size": 1},
            routing={"edge_queue_threshold": 3, "cascade_enabled": False, "warmup_probe": False},
        )
    )
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 60)
        results = await asyncio.gather(
            *(
                generate(
                    http,
                    url,
                    {
                        "inputs": {
                            "text": f"match report number {i}: " + "the team played well " * 40
                        },
                        "parameters": {"labels": ["sports", "finance"], "cache": False},
                    },
                )
                for i in range(12)
            )
        )
    reasons = [r[2].get("X-Route-Reason") for r in results]
    assert all(r[0] == 200 for r in results), [r[1]["error"] for r in results if r[0] != 200][:3]
    assert any(r.startswith("load:edge-saturated") for r in reasons)
    assert any(r[2]["X-Route"] == "edge" for r in results)


async def test_route_dry_run_executes_nothing(http: aiohttp.ClientSession, edge_url: str) -> None:
    async with http.post(
        edge_url + "/v1/route",
        json={
            "model": "auto",
            "inputs": {"text": "Write a haiku"},
        },
    ) as response:
        body = await response.json()
    assert body["decision"] == {
        "target": "central",
        "reason": "capability:central-only",
        "status": None,
        "message": "",
        "cascade": False,
    }
    assert "generate" in body["state"]["central_tasks"]
    async with http.post(
        edge_url + "/v1/route",
        json={
            "inputs": {"text": "my mail is a.b@example.com", "task": "classify"},
            "parameters": {"labels": ["x", "y"]},
        },
    ) as response:
        body = await response.json()
    assert body["job"]["pii_kinds"] == ["email"]


async def test_decisions_are_counted_in_metrics(http: aiohttp.ClientSession, edge_url: str) -> None:
    await generate(
        http, edge_url, {"inputs": {"text": "x", "task": "embed"}, "parameters": {"cache": False}}
    )
    async with http.get(edge_url + "/metrics") as response:
        text = await response.text()
    assert 'edge_route_decisions_total{reason="default:edge-capable",target="edge"}' in text


async def test_cascade_escalates_low_confidence(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    app = create_app(
        edge_settings(
            central_url,
            models={"tasks": ["classify"]},
            routing={"cascade_enabled": True, "cascade_threshold": 0.6, "warmup_probe": False},
        )
    )
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 60)
        status, body, headers, _ = await generate(
            http,
            url,
            {
                "inputs": [{"text": "The striker scored twice"}, {"text": "hmm"}],
                "parameters": {
                    "labels": ["sports", "finance", "cooking", "weather"],
                    "cache": False,
                },
            },
        )
    assert status == 200, body
    answered = [o["answered_by"] for o in body["outputs"]]
    assert answered[0] == "edge"
    assert answered[1] == "central"  # an ambiguous word: low edge confidence
    assert headers["X-Route-Reason"] == "cascade:escalated"
    assert "edge_labels" in body["outputs"][1]


async def test_cascade_is_off_by_default(http: aiohttp.ClientSession, edge_url: str) -> None:
    status, body, headers, _ = await generate(
        http,
        edge_url,
        {
            "inputs": {"text": "hmm"},
            "parameters": {"labels": ["sports", "finance"], "cache": False},
        },
    )
    assert status == 200 and headers["X-Route"] == "edge"
    assert "answered_by" not in body["outputs"][0]
