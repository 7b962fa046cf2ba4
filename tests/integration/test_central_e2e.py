"""End to end through the real edge node and the real central service with its real LLM."""

import asyncio
import time
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from central_service.service import create_central_app
from common.tokens import TokenMinter
from tests.servers import TEST_KEY_ID, TEST_SECRET, central_settings, serve

AUD = "hybrid-router-central"
GEN = "/v3/models/multimodal-pro/generate"


def token(**overrides: Any) -> str:
    """A token with the test key, claims overridable (None removes a claim)."""
    now = int(time.time())
    claims = {"iss": TEST_KEY_ID, "aud": AUD, "iat": now, "exp": now + 300}
    headers = {"kid": overrides.pop("kid", TEST_KEY_ID)}
    secret = overrides.pop("secret", TEST_SECRET)
    algorithm = overrides.pop("algorithm", "HS256")
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


async def central_post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], bearer: str | None
) -> tuple[int, dict[str, Any], Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    async with http.post(url + GEN, json=body, headers=headers) as response:
        return response.status, await response.json(), response.headers


async def test_edge_generate_answers_from_the_central_llm(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    async with http.post(
        edge_url + GEN,
        json={
            "inputs": {"text": "Name a colour of the sky.", "modality": "text"},
            "parameters": {"max_tokens": 12, "temperature": 0},
        },
    ) as response:
        body = await response.json()
        assert response.status == 200, body
        assert response.headers["X-Route"] == "central"
    output = body["outputs"][0]
    assert output["text"].strip()
    assert 0 < body["usage"]["completion_tokens"] <= 12


async def test_central_batch_is_answered_in_order(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    prompts = ["Say the word apple.", "Say the word banana.", "Say the word cherry."]
    body = {
        "inputs": [{"text": p} for p in prompts],
        "parameters": {"max_tokens": 6, "temperature": 0},
    }
    status, batch, _ = await central_post(http, central_url, body, token())
    assert status == 200, batch
    assert len(batch["outputs"]) == 3
    singles = []
    for prompt in prompts:
        _, one, _ = await central_post(
            http,
            central_url,
            {"inputs": {"text": prompt}, "parameters": {"max_tokens": 6, "temperature": 0}},
            token(),
        )
        singles.append(one["outputs"][0]["text"])
    assert [o["text"] for o in batch["outputs"]] == singles


async def test_central_batch_item_fails_alone(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    body = {"inputs": [{"text": "Hi"}, {"text": "   "}], "parameters": {"max_tokens": 4}}
    status, answer, _ = await central_post(http, central_url, body, token())
    assert status == 200
    assert "text" in answer["outputs"][0]
    assert answer["outputs"][1]["error"]["status"] == 400


def rs256_token() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return jwt.encode(
        {"iss": TEST_KEY_ID, "aud": AUD, "iat": now, "exp": now + 60},
        key,
        algorithm="RS256",
        headers={"kid": TEST_KEY_ID},
    )


def none_token() -> str:
    now = int(time.time())
    return jwt.encode(
        {"iss": TEST_KEY_ID, "aud": AUD, "iat": now, "exp": now + 60},
        None,
        algorithm="none",
        headers={"kid": TEST_KEY_ID},
    )


def tampered_token() -> str:
    head, payload, signature = token().split(".")
    other = token(iss=TEST_KEY_ID, exp=int(time.time()) + 3000).split(".")[1]
    return ".".join([head, other if other != payload else payload[::-1], signature])


@pytest.mark.parametrize(
    "bearer",
    [
        pytest.param(None, id="missing"),
        pytest.param(token(exp=int(time.time()) - 120, iat=int(time.time()) - 400), id="expired"),
        pytest.param(
            token(iat=int(time.time()) + 600, exp=int(time.time()) + 900), id="not-yet-valid"
        ),
        pytest.param(token(aud="someone-else"), id="wrong-aud"),
        pytest.param(token(iss="intruder"), id="wrong-iss"),
        pytest.param(token(exp=None), id="no-exp"),
        pytest.param(none_token(), id="alg-none"),
        pytest.param(rs256_token(), id="rs256-confusion"),
        pytest.param(tampered_token(), id="tampered"),
        pytest.param(token(kid="unknown", iss="unknown"), id="unknown-kid"),
        pytest.param(token(secret="another-secret-that-is-long-enough-0123456789"), id="bad-sig"),
        pytest.param("not.a.jwt", id="garbage"),
    ],
)
async def test_bad_tokens_are_401(
    http: aiohttp.ClientSession, central_url: str, bearer: str | None
) -> None:
    status, body, headers = await central_post(
        http, central_url, {"inputs": {"text": "hi"}, "parameters": {"max_tokens": 1}}, bearer
    )
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert body["error"]["type"] == "authentication_error"


async def test_rotated_key_is_accepted(http: aiohttp.ClientSession) -> None:
    from pydantic import SecretStr

    new_secret = "rotated-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
    settings = central_settings(
        keys={TEST_KEY_ID: SecretStr(TEST_SECRET), "edge-2026": SecretStr(new_secret)}
    )
    async with serve(create_central_app(settings)) as url:
        old = TokenMinter(TEST_KEY_ID, TEST_SECRET, AUD).token()
        new = TokenMinter("edge-2026", new_secret, AUD).token()
        body = {"inputs": {"text": "hi"}, "parameters": {"max_tokens": 1}}
        assert (await central_post(http, url, body, old))[0] == 200
        assert (await central_post(http, url, body, new))[0] == 200


async def test_per_key_quota_gives_429_with_retry_after(http: aiohttp.ClientSession) -> None:
    settings = central_settings(quota={"qps": 0.01, "burst": 2, "max_concurrent": 8})
    async with serve(create_central_app(settings)) as url:
        bearer = TokenMinter(TEST_KEY_ID, TEST_SECRET, AUD).token()
        results = [
            await central_post(
                http,
                url,
                {
                    "inputs": {"text": "hi", "task": "classify"},
                    "parameters": {"labels": ["a", "b"]},
                },
                bearer,
            )
            for _ in range(4)
        ]
    statuses = [r[0] for r in results]
    assert statuses[:2] == [200, 200]
    assert 429 in statuses[2:]
    limited = next(r for r in results if r[0] == 429)
    assert int(limited[2]["Retry-After"]) >= 1
    assert limited[1]["error"]["type"] == "rate_limit_error"


async def test_image_generation_without_provider_says_so(
    http: aiohttp.ClientSession, central_url: str
) -> None:
    status, body, _ = await central_post(
        http, central_url, {"inputs": {"text": "a red bicycle", "modality": "image"}}, token()
    )
    assert status == 501
    assert body["error"]["code"] == "provider_not_configured"
    assert "provider" in body["error"]["message"]


async def test_central_classify_and_embed(http: aiohttp.ClientSession, central_url: str) -> None:
    status, body, _ = await central_post(
        http,
        central_url,
        {
            "inputs": {"text": "I love this, it is wonderful", "task": "classify"},
            "parameters": {"labels": ["positive", "negative"]},
        },
        token(),
    )
    assert status == 200, body
    scores = {x["label"]: x["score"] for x in body["outputs"][0]["labels"]}
    assert set(scores) == {"positive", "negative"}
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
    status, body, _ = await central_post(
        http, central_url, {"inputs": {"text": "vector please", "task": "embed"}}, token()
    )
    assert status == 200 and len(body["outputs"][0]["embedding"]) > 100


async def test_central_streams_sse(http: aiohttp.ClientSession, central_url: str) -> None:
    events = []
    async with http.post(
        central_url + GEN,
        json={
            "inputs": {"text": "Count to five."},
            "parameters": {"max_tokens": 10, "temperature": 0, "stream": True},
        },
        headers={"Authorization": f"Bearer {token()}"},
    ) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for line in response.content:
            if line.startswith(b"data:"):
                events.append(line[5:].strip().decode())
    assert events[-1] == "[DONE]"
    assert len(events) > 3


async def test_concurrent_edge_generates_all_answered(
    http: aiohttp.ClientSession, edge_url: str
) -> None:
    async def one(i: int) -> int:
        async with http.post(
            edge_url + GEN,
            json={
                "inputs": {"text": f"Say {i}."},
                "parameters": {"max_tokens": 4, "temperature": 0},
            },
        ) as response:
            await response.read()
            return response.status

    assert await asyncio.gather(*(one(i) for i in range(8))) == [200] * 8
