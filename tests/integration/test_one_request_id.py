"""One id per request: the response body's id is the request's X-Request-Id."""

import aiohttp


async def test_the_body_id_is_the_request_id(http: aiohttp.ClientSession, edge_url: str) -> None:
    body = {"inputs": {"text": "one id"}, "parameters": {"cache": False}}
    url = edge_url + "/v3/models/all-minilm-l6-v2/generate"
    async with http.post(url, json=body, headers={"X-Request-Id": "req-42"}) as response:
        answer = await response.json()
    assert response.status == 200
    assert response.headers["X-Request-Id"] == "req-42" and answer["id"] == "gen-req-42"
    async with http.post(url, json=body) as response:
        answer = await response.json()
    assert answer["id"] == "gen-" + response.headers["X-Request-Id"]
