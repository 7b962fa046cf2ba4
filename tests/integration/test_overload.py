"""Admission control: a burst beyond the edge's queue bound is shed with 429, nothing is lost."""

import asyncio

import aiohttp


async def test_burst_is_shed_with_retry_after_and_the_edge_recovers(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    async def one(i: int) -> tuple[int, str | None, dict]:
        async with http.post(
            edge_url + "/v3/models/all-minilm-l6-v2/generate",
            json={
                "inputs": {"text": f"burst request {i} " + "with some words " * 30},
                "parameters": {"cache": False},
            },
        ) as response:
            return response.status, response.headers.get("Retry-After"), await response.json()

    results = await asyncio.gather(*(one(i) for i in range(400)))
    statuses = [status for status, _, _ in results]
    assert len(results) == 400
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) > 0
    shed = [(retry, body) for status, retry, body in results if status == 429]
    assert shed, "a 400-request burst should exceed the default 20 ms admission bound"
    for retry_after, body in shed:
        assert retry_after is not None and int(retry_after) >= 1
        assert body["error"]["code"] == "edge_overloaded"
    # recovery: once the burst has drained, requests are admitted again
    status, _, body = await one(10_000)
    assert status == 200, body
